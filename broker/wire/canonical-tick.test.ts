import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeTick, type Tick } from '../../protocol/tick.js';
import { CanonicalTickReader } from './canonical-tick.js';
import { readFeedTick } from './tick-intake.js';
import { publishFrame, readPublish } from './mqtt-frame.js';

/** The general path: JSON.parse, the schema, then encodeTick; the fast reader must agree with it. */
function general(topic: string, payload: string) {
  const r = readFeedTick(readPublish(publishFrame(topic, payload, false))!);
  return r.ok ? { time: r.tick.time_msc, encoded: encodeTick(r.tick) } : null;
}

const reader = new CanonicalTickReader();
const fast = (symbol: string, payload: string) => (reader.read(Buffer.from(payload), symbol) ? reader.timeMsc : null);

/** Prices as feeds send them: a few decimals, sometimes integers, sometimes extreme. */
const number = fc.oneof(
  fc.integer({ min: 0, max: 10_000_000 }).map((n) => n / 10 ** (n % 8)),
  fc.double({ min: 0, max: 1e22, noNaN: true }),
  fc.constantFrom(0, 1e-6, 1e-7, 0.000001234, 123456789012345, 1234567890123456, 0.1 + 0.2, 1e21, 5e-324),
);
const tick: fc.Arbitrary<Tick> = fc.record({
  symbol: fc.stringMatching(/^[A-Za-z0-9._-]{1,33}$/),
  time_msc: fc.oneof(fc.nat(), fc.constantFrom(1763769600123, 2 ** 53, 999999999999999, 1e15)),
  bid: number,
  ask: number,
  last: number,
  volume: number,
  flags: fc.oneof(fc.nat(64), fc.constant(2.5)),
});
/** Canonical text, then maybe one character changed, inserted or removed. */
const mutated = fc.tuple(tick, fc.nat(), fc.constantFrom('', '0', '.', ' ', '-', '1', 'e', '"', '}', ',', 'x')).map(([t, at, c]) => {
  const text = encodeTick(t);
  const i = at % (text.length + 1);
  return { symbol: t.symbol, payload: at % 3 === 0 ? text : text.slice(0, i) + c + text.slice(i + (at % 3 === 1 ? 1 : 0)) };
});

describe('CanonicalTickReader', () => {
  it('accepts only what the general path accepts and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(mutated, fc.boolean(), ({ symbol, payload }, sameTopic) => {
        const topicSymbol = sameTopic ? symbol : `${symbol}X`;
        const time = fast(topicSymbol, payload);
        if (time === null) return;
        const ref = general(`ticks/${topicSymbol}`, payload);
        expect(ref, payload).not.toBeNull();
        expect(ref!.encoded).toBe(payload);
        expect(time).toBe(ref!.time);
      }),
      { numRuns: 50_000 },
    );
  });

  it('takes every valid tick encodeTick writes with up to 15 significant digits', () => {
    const plain = fc.integer({ min: 1, max: 99_999_999 }).map((n) => n / 10 ** (n % 6));
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._-]{1,32}$/), fc.nat(), plain, plain, fc.nat(64), (symbol, time, a, b, flags) => {
        const payload = encodeTick({ symbol, time_msc: time, bid: Math.min(a, b), ask: Math.max(a, b), last: a, volume: 0, flags });
        expect(fast(symbol, payload), payload).toBe(time);
      }),
      { numRuns: 10_000 },
    );
  });

  it('leaves everything else to the general path', () => {
    const ok = '{"symbol":"EURUSD","time_msc":1763769600123,"bid":1.08312,"ask":1.08325,"last":0,"volume":0,"flags":6}';
    expect(fast('EURUSD', ok)).toBe(1763769600123);
    for (const payload of [
      ok.replace('"last":0', '"last":0.0'),
      ok.replace('1.08325', '1.083250'),
      ok.replace(',"flags":6', ''),
      ok.replace('{', '{ '),
      ok.replace('"bid":1.08312', '"bid":01.08312'),
      ok.replace('"bid":1.08312', '"bid":1.09312'),
      ok.replace('"volume":0', '"volume":1e3'),
      ok.replace('"last":0', '"last":0.0000001'),
      `${ok} `,
    ]) {
      expect(fast('EURUSD', payload), payload).toBeNull();
    }
    expect(fast('GBPUSD', ok)).toBeNull();
  });
});
