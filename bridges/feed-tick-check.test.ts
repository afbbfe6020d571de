import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkFeedTick, feedTickSchema } from './tick-body.js';

/** Values a JSON feed can send for a field, valid and not (marked NaN strings included). */
const anyValue = fc.oneof(
  fc.double(),
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(0, -0, 2 ** 53, 1.5, Infinity, NaN, 1735776000351, 1735776000.25),
  fc.constantFrom('EURUSD', '', '\u0000non-finite:NaN', '1.2'),
  fc.constantFrom(null, true, [], {}, undefined),
);
const field = (valid: fc.Arbitrary<unknown>) => fc.option(fc.oneof(valid, valid, anyValue), { nil: undefined });
const amount = fc.double({ min: 0, max: 1e6, noNaN: true });
const item = fc.record(
  {
    symbol: field(fc.string()),
    time_msc: field(fc.double({ min: 0, max: 4e12, noNaN: true })),
    time: field(fc.double({ min: 0, max: 4e9, noNaN: true })),
    bid: field(amount),
    ask: field(amount),
    last: field(amount),
    volume: field(amount),
    volume_real: field(amount),
    flags: field(fc.nat(64)),
    extra: field(anyValue),
  },
  { requiredKeys: [] },
);

describe('checkFeedTick', () => {
  it('accepts exactly what feedTickSchema accepts, with the same fields', () => {
    const fields = ['symbol', 'time_msc', 'time', 'bid', 'ask', 'last', 'volume', 'volume_real', 'flags'] as const;
    fc.assert(
      fc.property(item, (body) => {
        const zod = feedTickSchema.safeParse(body);
        const hand = checkFeedTick(body);
        expect(hand !== undefined, JSON.stringify(body)).toBe(zod.success);
        if (zod.success) for (const f of fields) expect(hand![f]).toEqual(zod.data[f]);
      }),
      { numRuns: 20_000 },
    );
  });
});
