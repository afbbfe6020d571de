import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Tick } from '../protocol/tick.js';
import { aggregate, type CandleMode, type SeriesBar } from './aggregate.js';
import { absorbLater, type Bar } from './bar.js';
import { referenceBars, seriesKey, type ReferenceBar } from './testing/reference.js';
import { modeArb, tickArb } from './testing/ticks.js';

function bySeries(bars: readonly SeriesBar[]): Map<string, ReferenceBar[]> {
  const out = new Map<string, ReferenceBar[]>();
  for (const { symbol, resolution, bar } of bars) {
    const k = seriesKey(symbol, resolution);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(plain(bar));
  }
  for (const list of out.values()) list.sort((a, b) => a.time - b.time);
  return out;
}

const plain = ({ time, open, high, low, close, volume }: Bar): ReferenceBar => ({ time, open, high, low, close, volume });

/** Batches applied one after another, merged per bucket the way the store does. */
function aggregateInBatches(batches: readonly Tick[][], mode: CandleMode): SeriesBar[] {
  const merged = new Map<string, SeriesBar>();
  for (const batch of batches) {
    for (const sb of aggregate(batch, mode).bars) {
      const k = `${seriesKey(sb.symbol, sb.resolution)}|${sb.bar.time}`;
      const prior = merged.get(k);
      if (prior) absorbLater(prior.bar, sb.bar);
      else merged.set(k, { ...sb, bar: { ...sb.bar } });
    }
  }
  return [...merged.values()];
}

const ticksArb = fc.array(tickArb(), { minLength: 1, maxLength: 300 });

describe('aggregate', () => {
  it('builds the reference bars at every resolution from ticks in any arrival order', () => {
    fc.assert(
      fc.property(ticksArb, modeArb, (ticks, mode) => {
        expect(bySeries(aggregate(ticks, mode).bars)).toEqual(referenceBars(ticks, mode));
      }),
      { numRuns: 300 },
    );
  });

  it('builds the reference bars from ticks in time order, and after a late tick breaks the order', () => {
    fc.assert(
      fc.property(ticksArb, fc.nat(), modeArb, (raw, pick, mode) => {
        const ordered = [...raw].sort((a, b) => a.time_msc - b.time_msc);
        expect(bySeries(aggregate(ordered, mode).bars)).toEqual(referenceBars(ordered, mode));
        const late = [...ordered, ordered[pick % ordered.length], ...ordered];
        expect(bySeries(aggregate(late, mode).bars)).toEqual(referenceBars(late, mode));
      }),
      { numRuns: 200 },
    );
  });

  it('gives the same bars when the ticks arrive in batches merged one after another', () => {
    fc.assert(
      fc.property(
        ticksArb.chain((ticks) => fc.tuple(fc.constant(ticks), fc.uniqueArray(fc.integer({ min: 0, max: ticks.length }), { maxLength: 8 }))),
        modeArb,
        ([ticks, cuts], mode) => {
          const edges = [0, ...[...cuts].sort((a, b) => a - b), ticks.length];
          const batches = edges.slice(1).map((end, i) => ticks.slice(edges[i], end));
          expect(bySeries(aggregateInBatches(batches, mode))).toEqual(referenceBars(ticks, mode));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('breaks ties on equal times by arrival: first arrival opens, last arrival closes', () => {
    const t = Date.UTC(2025, 0, 6);
    const tick = (bid: number): Tick => ({ symbol: 'EURUSD', time_msc: t, bid, ask: bid, last: 0, volume: 0, flags: 6 });
    const mode: CandleMode = { price: 'bid', volume: 'ticks' };
    const [first, second] = aggregateInBatches([[tick(1.1), tick(1.3)], [tick(1.2)]], mode).filter((b) => b.resolution === '1M');
    expect(second).toBeUndefined();
    expect(plain(first.bar)).toEqual({ time: Date.UTC(2025, 0, 1), open: 1.1, high: 1.3, low: 1.1, close: 1.2, volume: 3 });
  });

  it('skips ticks without a price in the chosen mode instead of drawing a zero', () => {
    const tick: Tick = { symbol: 'EURUSD', time_msc: 1000, bid: 1.1, ask: 1.2, last: 0, volume: 0, flags: 6 };
    expect(aggregate([tick], { price: 'last', volume: 'ticks' })).toEqual({ bars: [], skipped: 1 });
    const real = aggregate(
      [
        { ...tick, volume: 7 },
        { ...tick, volume: 7, volume_real: 2.5 },
      ],
      { price: 'mid', volume: 'real' },
    );
    expect(real.bars.find((b) => b.resolution === '1S')?.bar).toMatchObject({ open: 1.15, volume: 9.5 });
  });
});
