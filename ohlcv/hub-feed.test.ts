import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { TickHub } from '../platform/tick-hub.js';
import type { Tick } from '../protocol/tick.js';
import { HubFeed } from './hub-feed.js';

const tick = (time_msc: number): Tick => ({ symbol: 'EURUSD', time_msc, bid: 1, ask: 1, last: 0, volume: 0, flags: 6 });

describe('HubFeed', () => {
  it('retries a failed batch ahead of newer ticks, so nothing is lost and arrival order holds', async () => {
    const hub = new TickHub();
    const applied: number[] = [];
    let failuresLeft = 2;
    const feed = new HubFeed({
      hub,
      log: pino({ level: 'silent' }),
      flushIntervalMs: 60_000,
      apply: async (ticks) => {
        if (failuresLeft-- > 0) throw new Error('store down');
        applied.push(...ticks.map((t) => t.time_msc));
      },
    });
    feed.start();
    hub.publish([tick(1), tick(2)]);
    await feed.flush();
    hub.publish([tick(3)]);
    await feed.flush();
    hub.publish([tick(4)]);
    await feed.stop();
    expect(applied).toEqual([1, 2, 3, 4]);
  });

  it('bounds what it holds while the store is down, dropping the oldest', async () => {
    const hub = new TickHub();
    const applied: number[] = [];
    const feed = new HubFeed({
      hub,
      log: pino({ level: 'silent' }),
      flushIntervalMs: 60_000,
      maxBuffered: 3,
      apply: async (ticks) => void applied.push(...ticks.map((t) => t.time_msc)),
    });
    feed.start();
    hub.publish([1, 2, 3, 4, 5].map(tick));
    await feed.stop();
    expect(applied).toEqual([3, 4, 5]);
  });
});
