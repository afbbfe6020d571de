import { describe, expect, it } from 'vitest';
import type { Resolution } from '../protocol/names.js';
import type { Bar } from './bar.js';
import { LiveBars } from './live-bars.js';

const bar = (time: number, close: number): Bar => ({
  time,
  open: 1,
  high: Math.max(1, close),
  low: Math.min(1, close),
  close,
  volume: 1,
  openTime: time,
  closeTime: time,
});

function recorder() {
  const sent: { topic: string; payload: unknown }[] = [];
  const live = new LiveBars((topic, payload) => sent.push({ topic, payload: JSON.parse(payload) }), { recentBars: 10 });
  const update = (res: Resolution, b: Bar) => live.update([{ symbol: 'EURUSD', resolution: res, bar: b }]);
  return { sent, live, update };
}

describe('LiveBars', () => {
  it('conflates updates of the forming bar into one retained publish per flush, time in seconds', () => {
    const { sent, live, update } = recorder();
    update('1', bar(60_000, 1.1));
    update('1', bar(60_000, 1.2));
    expect(live.flush()).toBe(1);
    expect(sent).toEqual([{ topic: 'candles/EURUSD/1', payload: { time: 60, open: 1, high: 1.2, low: 1, close: 1.2, volume: 1 } }]);
    expect(live.flush()).toBe(0);
  });

  it('re-publishes a recent bar a late tick changed, then the forming bar so it stays retained', () => {
    const { sent, live, update } = recorder();
    live.seed([{ symbol: 'EURUSD', resolution: '1', bar: bar(600_000, 1.5) }]);
    update('1', bar(300_000, 1.3));
    update('1', bar(0, 1.4)); // 10 bars back: still recent
    live.flush();
    expect(sent.map((s) => (s.payload as { time: number }).time)).toEqual([0, 300, 600]);
  });

  it('keeps corrections of old bars to history only', () => {
    const { sent, live, update } = recorder();
    live.seed([{ symbol: 'EURUSD', resolution: '1', bar: bar(660_000, 1.5) }]);
    update('1', bar(0, 1.4)); // 11 bars back
    expect(live.flush()).toBe(0);
    expect(sent).toEqual([]);
  });

  it('publishes the final state of a bar superseded before its last change went out', () => {
    const { sent, live, update } = recorder();
    update('1', bar(0, 1.1));
    update('1', bar(60_000, 1.2));
    live.flush();
    expect(sent.map((s) => s.payload)).toEqual([
      { time: 0, open: 1, high: 1.1, low: 1, close: 1.1, volume: 1 },
      { time: 60, open: 1, high: 1.2, low: 1, close: 1.2, volume: 1 },
    ]);
  });
});
