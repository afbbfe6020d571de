import { describe, expect, it } from 'vitest';
import { classifyLiveBar, mergeBars, resolutionSeconds, type Bar } from './bars.js';

const bar = (time: number, close = 1): Bar => ({ time, open: 1, high: close, low: 1, close, volume: 1 });

describe('bars', () => {
  it('mergeBars keeps one bar per time, ascending, the incoming one winning', () => {
    const merged = mergeBars([bar(60), bar(120, 2), bar(180)], [bar(0), bar(120, 5)]);
    expect(merged.map((b) => b.time)).toEqual([0, 60, 120, 180]);
    expect(merged[2].close).toBe(5);
  });

  it('classifyLiveBar tells appends, updates of the last bar and corrections of older bars apart', () => {
    expect(classifyLiveBar(undefined, bar(60))).toBe('append');
    expect(classifyLiveBar(60, bar(120))).toBe('append');
    expect(classifyLiveBar(120, bar(120))).toBe('update');
    expect(classifyLiveBar(120, bar(60))).toBe('correction');
  });

  it('resolutionSeconds follows the contract resolutions', () => {
    expect(['1S', '1', '60', '1D'].map((r) => resolutionSeconds(r as '1S'))).toEqual([1, 60, 3600, 86_400]);
  });
});
