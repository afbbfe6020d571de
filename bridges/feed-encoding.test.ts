import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tick } from '../protocol/tick.js';
import { encodeFeedMessage } from './feed-encoding.js';
import { parseTickMessage } from './tick-body.js';
import { wallClockToUtc, zoneOffsetMs } from './feed-time.js';

const inRepeatedHour = (utc: number, zone: string) => wallClockToUtc(utc + zoneOffsetMs(utc, zone), zone) !== utc;

const tickArb = fc.record({
  symbol: fc.stringMatching(/^[A-Za-z0-9._-]{1,32}$/),
  time_msc: fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2090, 0, 1) }),
  bid: fc.double({ min: 1e-6, max: 1e6, noNaN: true }),
  spread: fc.double({ min: 0, max: 100, noNaN: true }),
  last: fc.double({ min: 0, max: 1e6, noNaN: true }),
  volume: fc.integer({ min: 0, max: 1e9 }),
  flags: fc.integer({ min: 0, max: 127 }),
  volume_real: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true }), { nil: undefined }),
});

describe('encodeFeedMessage', () => {
  it('JSON round-trips through the bridge parser exactly, in any feed zone (property)', () => {
    fc.assert(
      fc.property(tickArb, fc.constantFrom('UTC', 'Europe/Athens', 'EET', 'America/New_York'), (t, timeZone) => {
        const tick: Tick = {
          symbol: t.symbol,
          time_msc: t.time_msc,
          bid: t.bid,
          ask: t.bid + t.spread,
          last: t.last,
          volume: t.volume,
          flags: t.flags,
        };
        if (t.volume_real !== undefined) tick.volume_real = t.volume_real;
        // The hour repeated when DST ends is ambiguous in any wall-clock feed; it is read as the
        // earlier instant (tested below), so the round trip holds everywhere else.
        fc.pre(!inRepeatedHour(t.time_msc, timeZone));
        const msg = encodeFeedMessage(tick, { feed: 'sim', format: 'json', timeZone });
        expect(msg.routingKey).toBe(`sim.${t.symbol}`);
        const parsed = parseTickMessage(msg.body, { contentType: msg.contentType, routingKey: msg.routingKey, receivedAt: 1 }, { timeZone });
        expect(parsed).toEqual({ ticks: [tick], rejects: [] });
      }),
    );
  });

  it('a tick in the repeated hour comes back an hour early: wall-clock feeds cannot say which hour they mean', () => {
    const secondPass = Date.UTC(2025, 9, 26, 1, 30); // 03:30 EET, after 03:30 EEST an hour before
    const tick: Tick = { symbol: 'EURUSD', time_msc: secondPass, bid: 1, ask: 1, last: 0, volume: 0, flags: 0 };
    const msg = encodeFeedMessage(tick, { feed: 'sim', format: 'json', timeZone: 'Europe/Athens' });
    const parsed = parseTickMessage(msg.body, { ...msg, receivedAt: 1 }, { timeZone: 'Europe/Athens' });
    expect(parsed.ticks[0].time_msc).toBe(secondPass - 3_600_000);
  });

  it('writes the DWX form, which the bridge stamps on receipt', () => {
    const msg = encodeFeedMessage(
      { symbol: 'EURUSD', time_msc: 5, bid: 1.08312, ask: 1.08325, last: 0, volume: 0, flags: 6 },
      { feed: 'dwx', format: 'dwx', timeZone: 'UTC' },
    );
    expect(msg).toEqual({ routingKey: 'dwx.EURUSD', contentType: 'text/plain', body: Buffer.from('EURUSD:|:1.08312;1.08325') });
    expect(parseTickMessage(msg.body, { ...msg, receivedAt: 99 }, { timeZone: 'UTC' }).ticks[0]).toMatchObject({ time_msc: 99, bid: 1.08312 });
  });
});
