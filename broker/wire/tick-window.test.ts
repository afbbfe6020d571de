import { describe, expect, it } from 'vitest';
import { TickWindow } from './tick-window.js';

describe('TickWindow', () => {
  it('stays at the base window while flushes are cheap and on time', () => {
    const w = new TickWindow(5, 50);
    for (let i = 0; i < 10; i++) w.update(0.5, 0.2);
    expect(w.ms).toBe(5);
  });

  it('stretches at once when flushing ticks would take over half the loop or the loop runs late, never past the maximum', () => {
    const w = new TickWindow(5, 50);
    expect(w.update(10, 0)).toBe(20);
    expect(w.update(10, 15)).toBe(35);
    expect(w.update(40, 30)).toBe(50);
  });

  it('shrinks back toward the base gradually once the load passes', () => {
    const w = new TickWindow(5, 50);
    w.update(40, 0);
    const seen: number[] = [];
    for (let i = 0; i < 30; i++) seen.push(w.update(0.1, 0));
    expect(seen[0]).toBeLessThan(50);
    expect(seen[0]).toBeGreaterThan(5);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeLessThanOrEqual(seen[i - 1]);
    expect(seen[seen.length - 1]).toBeLessThan(5.1);
  });
});
