import { describe, expect, it } from 'vitest';
import { ConnectRate } from './connect-rate.js';
import { drainGradually } from './drain.js';

describe('ConnectRate', () => {
  it('admits N per address per second, then resets', () => {
    let now = 1000;
    const rate = new ConnectRate(2, () => now);
    expect([rate.admit('a'), rate.admit('a'), rate.admit('a'), rate.admit('b')]).toEqual([true, true, false, true]);
    now = 2000;
    expect(rate.admit('a')).toBe(true);
  });
});

describe('drainGradually', () => {
  it('closes every client in evenly spread slices', async () => {
    const closedAt: number[] = [];
    let clock = 0;
    const clients = Array.from({ length: 25 }, () => ({ close: () => closedAt.push(clock) }));
    await drainGradually(clients, 1000, async (ms) => {
      clock += ms;
    });
    expect(closedAt).toHaveLength(25);
    expect(closedAt[0]).toBe(0);
    expect(Math.max(...closedAt)).toBeLessThanOrEqual(1000);
    const perInstant = new Map<number, number>();
    for (const t of closedAt) perInstant.set(t, (perInstant.get(t) ?? 0) + 1);
    expect(Math.max(...perInstant.values())).toBeLessThanOrEqual(3);
  });
});
