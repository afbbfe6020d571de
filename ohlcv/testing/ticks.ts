import fc from 'fast-check';
import type { Tick } from '../../protocol/tick.js';

/**
 * Tick sets for property tests: times cluster around the boundaries that matter (second, minute,
 * 4 h, day, Sunday->Monday, month end, leap day, year end) and repeat often, so equal times and
 * bars straddling calendar edges are common rather than lucky.
 */
export const BOUNDARIES = [
  Date.UTC(2024, 11, 31, 23, 59, 59, 500), // year end, a Tuesday
  Date.UTC(2024, 1, 29, 23, 59, 59, 900), // leap day, month end
  Date.UTC(2025, 5, 1, 23, 59, 59, 999), // Sunday before a Monday, June 1st
  Date.UTC(2025, 0, 5, 23, 59, 58, 0), // Sunday -> Monday 2025-01-06
  Date.UTC(2025, 2, 31, 19, 59, 59, 0), // 4 h boundary at month end
  Date.UTC(1970, 0, 5, 0, 0, 0, 0), // first Monday after the epoch
];

const price = fc.integer({ min: 1, max: 2000 }).map((n) => n / 1000);

export function tickArb(symbols: readonly string[] = ['EURUSD', 'XAUUSD']): fc.Arbitrary<Tick> {
  return fc
    .record({
      symbol: fc.constantFrom(...symbols),
      base: fc.constantFrom(...BOUNDARIES),
      // Small offsets repeat (equal times); large ones reach neighbouring days, weeks and months.
      offset: fc.oneof(
        fc.integer({ min: -3, max: 3 }).map((n) => n * 250),
        fc.integer({ min: -40 * 86_400_000, max: 40 * 86_400_000 }),
      ),
      bid: price,
      spread: fc.integer({ min: 0, max: 30 }).map((n) => n / 1000),
      last: fc.oneof(fc.constant(0), price),
      volume: fc.integer({ min: 0, max: 50 }),
      real: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
    })
    .map(({ symbol, base, offset, bid, spread, last, volume, real }) => ({
      symbol,
      // Feeds cannot send time 0 (the parser refuses it), so the earliest tick is 1 ms after the epoch.
      time_msc: Math.max(1, base + offset),
      bid,
      ask: bid + spread,
      last,
      volume,
      flags: 6,
      ...(real === undefined ? {} : { volume_real: real }),
    }));
}

export const modeArb = fc.record({
  price: fc.constantFrom('bid' as const, 'mid' as const, 'last' as const),
  volume: fc.constantFrom('ticks' as const, 'real' as const),
});

/** Deterministic tick sets for integration tests (no fast-check runner there). */
export function sampleTicks(count: number, seed: number, symbols: readonly string[]): Tick[] {
  return fc.sample(tickArb(symbols), { numRuns: count, seed });
}

/** A Fisher-Yates shuffle with a seeded generator, so a failing integration run can be replayed. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
