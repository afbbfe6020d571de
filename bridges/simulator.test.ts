import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TickHub } from '../platform/tick-hub.js';
import type { Tick } from '../protocol/tick.js';
import { Simulator } from './simulator.js';

describe('Simulator', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2025, 0, 2, 12) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const run = async (opts: { symbols: string[]; ratePerSymbol?: number; seed?: number }, ms: number) => {
    const hub = new TickHub();
    const batches: Tick[][] = [];
    hub.subscribe((ticks) => batches.push([...ticks]));
    const sim = new Simulator(opts);
    await sim.start(hub);
    await vi.advanceTimersByTimeAsync(ms);
    return { sim, batches, ticks: batches.flat() };
  };

  it('emits about rate x symbols ticks per second, stamped no later than now, in time order', async () => {
    const started = Date.now();
    const { sim, ticks, batches } = await run({ symbols: ['EURUSD', 'USDJPY', 'XAUUSD'], ratePerSymbol: 10, seed: 11 }, 10_000);
    await sim.stop();
    expect(ticks.length).toBeGreaterThan(240);
    expect(ticks.length).toBeLessThan(360);
    expect(new Set(ticks.map((t) => t.symbol))).toEqual(new Set(['EURUSD', 'USDJPY', 'XAUUSD']));
    for (const batch of batches) {
      for (let i = 1; i < batch.length; i++) expect(batch[i].time_msc).toBeGreaterThanOrEqual(batch[i - 1].time_msc);
    }
    expect(ticks.every((t) => t.time_msc > started && t.time_msc <= Date.now())).toBe(true);
  });

  it("spaces one symbol's ticks irregularly", async () => {
    const { sim, ticks } = await run({ symbols: ['EURUSD'], ratePerSymbol: 10, seed: 5 }, 5_000);
    await sim.stop();
    const gaps = ticks.slice(1).map((t, i) => t.time_msc - ticks[i].time_msc);
    expect(new Set(gaps).size).toBeGreaterThan(10);
  });

  it('batches high rates into few wake-ups', async () => {
    const { sim, ticks, batches } = await run({ symbols: ['EURUSD', 'GBPUSD'], ratePerSymbol: 2000, seed: 9 }, 1_000);
    await sim.stop();
    expect(ticks.length).toBeGreaterThan(3000);
    expect(batches.length).toBeLessThanOrEqual(101);
  });

  it('stops emitting after stop()', async () => {
    const { sim, batches } = await run({ symbols: ['EURUSD'], seed: 1 }, 1_000);
    await sim.stop();
    const count = batches.length;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(batches.length).toBe(count);
  });

  it('refuses nonsense options', () => {
    expect(() => new Simulator({ symbols: [] })).toThrow(/at least one symbol/);
    expect(() => new Simulator({ symbols: ['EURUSD'], ratePerSymbol: 0 })).toThrow(/rate must be positive/);
  });
});
