import { describe, expect, it } from 'vitest';
import { readFeedTick } from './tick-intake.js';
import { publishFrame, readPublish } from './mqtt-frame.js';

const good = { symbol: 'EURUSD', time_msc: 1763769600123, bid: 1.1, ask: 1.2 };

describe('readFeedTick', () => {
  it('accepts a valid tick and fills the defaults', () => {
    const r = readFeedTick(readPublish(publishFrame('ticks/EURUSD', JSON.stringify(good), false))!);
    expect(r).toEqual({ ok: true, tick: { ...good, last: 0, volume: 0, flags: 0 } });
  });

  it.each([
    ['json', 'ticks/EURUSD', '{nope'],
    ['schema', 'ticks/EURUSD', JSON.stringify({ ...good, ask: 1.0 })],
    ['schema', 'ticks/EURUSD', JSON.stringify({ ...good, bid: -1 })],
    ['symbol-mismatch', 'ticks/GBPUSD', JSON.stringify(good)],
  ])('refuses %s problems', (reason, topic, payload) => {
    const r = readFeedTick(readPublish(publishFrame(topic, payload, false))!);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });
});
