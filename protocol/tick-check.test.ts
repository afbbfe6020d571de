import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkTickPayload } from './tick-check.js';
import { encodeTick, tickPayloadSchema, type Tick } from './tick.js';

/** Values a JSON feed can send for a field, valid and not, edge cases included. */
const anyValue = fc.oneof(
  fc.double(),
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom(0, -0, 1e-7, 2 ** 53, 2 ** 53 - 1, 1.5, Infinity, -Infinity, NaN, 1763769600123),
  fc.constantFrom('EURUSD', 'EUR/USD', '', 'a'.repeat(33), 'x.Y-1_2', '1.2'),
  fc.constantFrom(null, true, [], {}, undefined),
);
const field = (valid: fc.Arbitrary<unknown>) => fc.option(fc.oneof(valid, valid, anyValue), { nil: undefined });
const price = fc.double({ min: 0, max: 1e6, noNaN: true });
const payload = fc.oneof(
  fc.record(
    {
      symbol: field(fc.stringMatching(/^[A-Za-z0-9._-]{1,34}$/)),
      time_msc: field(fc.nat()),
      bid: field(price),
      ask: field(price),
      last: field(price),
      volume: field(price),
      flags: field(fc.nat(64)),
      extra: field(anyValue),
    },
    { requiredKeys: [] },
  ),
  anyValue,
);

describe('checkTickPayload', () => {
  it('accepts exactly what tickPayloadSchema accepts, with the same result', () => {
    fc.assert(
      fc.property(payload, (body) => {
        const zod = tickPayloadSchema.safeParse(body);
        const hand = checkTickPayload(body);
        expect(hand !== undefined, JSON.stringify(body)).toBe(zod.success);
        if (zod.success) expect(hand).toEqual(zod.data);
      }),
      { numRuns: 20_000 },
    );
  });

  it('fills the defaults and keeps -0 as zod does', () => {
    const tick = { symbol: 'EURUSD', time_msc: 0, bid: 1.1, ask: 1.1 };
    expect(checkTickPayload(tick)).toEqual({ ...tick, last: 0, volume: 0, flags: 0 });
    expect(checkTickPayload({ ...tick, last: -0 })).toEqual(tickPayloadSchema.parse({ ...tick, last: -0 }));
    expect(checkTickPayload({ ...tick, flags: 2 ** 53 })).toBeUndefined();
  });
});

describe('encodeTick', () => {
  it('writes what JSON.stringify writes for every valid tick, -0 included', () => {
    const reference = (t: Tick) =>
      JSON.stringify({ symbol: t.symbol, time_msc: t.time_msc, bid: t.bid, ask: t.ask, last: t.last, volume: t.volume, flags: t.flags });
    const amount = fc.oneof(fc.double({ min: 0, max: 1e300, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(-0, 0, 5e-324, 1e21));
    const tick = fc.record({
      symbol: fc.stringMatching(/^[A-Za-z0-9._-]{1,32}$/),
      time_msc: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
      bid: amount,
      ask: amount,
      last: amount,
      volume: amount,
      flags: fc.nat(),
    });
    fc.assert(
      fc.property(tick, (t) => {
        expect(encodeTick(t)).toBe(reference(t));
      }),
      { numRuns: 20_000 },
    );
  });
});
