import { describe, expect, it } from 'vitest';
import { TickWindow } from './tick-window.js';

describe('TickWindow', () => {
  it('stays at the base window while flushes are cheap and the loop has time to spare', () => {
    const w = new TickWindow(5, 50);
    for (let i = 0; i < 10; i++) w.update(0.5, 0.3);
    expect(w.ms).toBe(5);
  });

  it('stretches at once so flushing ticks takes at most half of the loop, never past the maximum', () => {
    const w = new TickWindow(5, 50);
    expect(w.update(10, 0.5)).toBe(20);
    for (let i = 0; i < 20; i++) w.update(40, 0.5);
    expect(w.ms).toBe(50);
  });

  it('doubles the window while the loop is saturated, up to the maximum', () => {
    const w = new TickWindow(5, 50);
    expect(w.update(1, 0.95)).toBe(10);
    expect(w.update(1, 0.95)).toBe(20);
    expect(w.update(1, 0.95)).toBe(40);
    expect(w.update(1, 0.95)).toBe(50);
  });

  it('is not stretched far by one slow flush (smoothed cost)', () => {
    const w = new TickWindow(5, 50);
    for (let i = 0; i < 10; i++) w.update(0.5, 0.3);
    expect(w.update(30, 0.3)).toBeLessThan(15);
  });

  it('shrinks back toward the base gradually once the load passes', () => {
    const w = new TickWindow(5, 50);
    for (let i = 0; i < 20; i++) w.update(40, 0.5);
    const seen: number[] = [];
    for (let i = 0; i < 60; i++) seen.push(w.update(0.1, 0.2));
    expect(seen[10]).toBeLessThan(50);
    expect(seen[10]).toBeGreaterThan(5);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeLessThanOrEqual(seen[i - 1]);
    expect(seen[seen.length - 1]).toBeLessThan(5.1);
  });
});
