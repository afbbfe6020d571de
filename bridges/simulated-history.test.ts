import { describe, expect, it } from 'vitest';
import { symbolProfile } from './tick-generator.js';
import { RESOLUTIONS, type Resolution } from '../protocol/names.js';
import type { CandleMode } from '../ohlcv/aggregate.js';
import type { Bar } from '../ohlcv/bar.js';
import { bucketStart, DAY_MS } from '../ohlcv/bucket.js';
import { simulatorHistoryPlan } from './simulator-history.js';
import { simulatedHistory, type SimulatedHistoryOptions } from './simulated-history.js';

const END = Date.UTC(2026, 2, 15, 13, 37, 21, 480);
const MODE: CandleMode = { price: 'bid', volume: 'ticks' };
const noPause = async () => {};

const generate = (opts: Partial<SimulatedHistoryOptions> = {}) =>
  simulatedHistory({ symbol: 'EURUSD', end: END, days: 90, ratePerSymbol: 10, mode: MODE, ...opts }, noPause);

function byResolution(bars: { resolution: Resolution; bar: Bar }[]): Map<Resolution, Bar[]> {
  const out = new Map<Resolution, Bar[]>(RESOLUTIONS.map((r) => [r, []]));
  for (const { resolution, bar } of bars) out.get(resolution)!.push(bar);
  return out;
}

describe('simulated history', () => {
  it('is the same for the same symbol and end, different for another symbol', async () => {
    const [a, b, other] = await Promise.all([generate({ days: 5 }), generate({ days: 5 }), generate({ days: 5, symbol: 'GBPUSD' })]);
    expect(a).toEqual(b);
    expect(other.bars.find((x) => x.resolution === '1D')!.bar.close).not.toBe(a.bars.find((x) => x.resolution === '1D')!.bar.close);
  }, 120_000);

  it('covers 90 days in 1-minute bars, the last hour in 1S, and ends where the live walk starts', async () => {
    const history = await generate();
    const bars = byResolution(history.bars);
    const minutes = bars.get('1')!;
    expect(minutes[0].time).toBe(bucketStart(END, '1D') - 90 * DAY_MS);
    expect(minutes.length).toBeGreaterThanOrEqual(90 * 1440);
    expect(bars.get('1S')!.length).toBeGreaterThan(3500);
    expect(bars.get('1D')!.length).toBe(91);
    for (const [res, list] of bars) {
      for (let i = 1; i < list.length; i++) expect(list[i].time, res).toBeGreaterThan(list[i - 1].time);
      expect(list.at(-1)!.closeTime, res).toBeLessThan(END);
    }
    // The simulator's walk starts at the profile's price: the history's newest quote is that price.
    const profile = symbolProfile('EURUSD');
    expect(history.last).toMatchObject({ symbol: 'EURUSD', digits: 5, bid: profile.start });
    expect(bars.get('1S')!.at(-1)!.close).toBe(profile.start);
    expect(history.last.ask).toBeGreaterThan(history.last.bid);
  }, 120_000);

  it('rolls up exactly: every coarser bar is the merge of the 1-minute bars in its bucket', async () => {
    const bars = byResolution((await generate({ symbol: 'BTCUSD', mode: { price: 'last', volume: 'real' } })).bars);
    const minutes = bars.get('1')!;
    for (const res of ['5', '60', '1D', '1W', '1M'] as const) {
      const buckets = new Map<number, Bar[]>();
      for (const m of minutes) {
        const start = bucketStart(m.time, res);
        if (!buckets.has(start)) buckets.set(start, []);
        buckets.get(start)!.push(m);
      }
      expect(bars.get(res)!.map((b) => b.time)).toEqual([...buckets.keys()]);
      for (const bar of bars.get(res)!) {
        const inside = buckets.get(bar.time)!;
        expect(bar.open).toBe(inside[0].open);
        expect(bar.close).toBe(inside.at(-1)!.close);
        expect(bar.high).toBe(Math.max(...inside.map((m) => m.high)));
        expect(bar.low).toBe(Math.min(...inside.map((m) => m.low)));
        expect(bar.volume).toBeCloseTo(
          inside.reduce((s, m) => s + m.volume, 0),
          6,
        );
      }
    }
    // Prices carry the symbol's digits; trades make volume in `real` mode.
    expect(minutes.every((m) => Number.isInteger(Math.round(m.close * 100)) && m.volume > 0 && m.low <= m.open && m.high >= m.close)).toBe(true);
  }, 180_000);

  it('is a market, not a flat line: a month moves the price, a minute moves it a little', async () => {
    const bars = byResolution((await generate()).bars);
    const days = bars.get('1D')!;
    const closes = days.map((d) => d.close);
    expect(Math.max(...closes) / Math.min(...closes)).toBeGreaterThan(1.005);
    const minutes = bars.get('1')!;
    const largestJump = minutes.slice(1).reduce((max, m, i) => Math.max(max, Math.abs(m.open / minutes[i].close - 1)), 0);
    expect(largestJump).toBeLessThan(0.002);
  }, 120_000);

  it('gives tick volume at the live rate, and no bars where the mode has no price (last on forex)', async () => {
    const minutes = byResolution((await generate({ ratePerSymbol: 10 })).bars).get('1')!;
    expect(minutes[0].volume).toBe(600);
    expect((await generate({ days: 1, mode: { price: 'last', volume: 'ticks' } })).bars).toEqual([]);
  }, 120_000);
});

describe('when history is generated', () => {
  const all = ['broker', 'bridge', 'ohlcv', 'web'];

  it('only for the built-in simulator feeding candles in this process', () => {
    expect(simulatorHistoryPlan('simulator', 90, all)).toEqual({ resume: true, generateDays: 90 });
    expect(simulatorHistoryPlan('simulator', 0, all)).toEqual({ resume: true, generateDays: 0 });
    // A real feed (AMQP_URL) or none: never, not even resuming a walk.
    expect(simulatorHistoryPlan('rabbitmq', 90, all)).toEqual({ resume: false, generateDays: 0 });
    expect(simulatorHistoryPlan('none', 90, all)).toEqual({ resume: false, generateDays: 0 });
    // The simulator without the candle store here (its ticks make no candles in another process).
    expect(simulatorHistoryPlan('simulator', 90, ['broker', 'bridge'])).toEqual({ resume: false, generateDays: 0 });
    expect(simulatorHistoryPlan('simulator', 90, ['ohlcv', 'web'])).toEqual({ resume: false, generateDays: 0 });
  });
});
