import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CachedSeries, HistoryCache } from './history-cache.js';
import type { Bar } from './bar.js';
import type { BarRange, BarsText } from './store.js';

interface PlainBar {
  time: number;
  value: number;
}

/** The text a database read of the newest `window` bars gives (every column the same values here). */
function textOf(all: readonly PlainBar[], window: number): BarsText {
  const newest = all.slice(Math.max(0, all.length - window));
  const list = (f: (b: PlainBar) => number) => newest.map(f).join(',');
  return {
    revision: 1,
    count: newest.length,
    t: list((b) => b.time / 1000),
    o: list((b) => b.value),
    h: list((b) => b.value + 1),
    l: list((b) => b.value - 1),
    c: list((b) => b.value * 2),
    v: list(() => 1.5),
  };
}

/** The store's `bars` semantics over every bar: the `limit` newest with from <= time < to. */
function expected(all: readonly PlainBar[], { from, to, limit }: BarRange) {
  const hit = all.filter((b) => b.time < to && (from === undefined || b.time >= from)).slice(-limit);
  if (hit.length === 0) return null;
  return {
    s: 'ok',
    t: hit.map((b) => b.time / 1000),
    o: hit.map((b) => b.value),
    h: hit.map((b) => b.value + 1),
    l: hit.map((b) => b.value - 1),
    c: hit.map((b) => b.value * 2),
    v: hit.map(() => 1.5),
  };
}

const barsArb = fc
  .uniqueArray(fc.integer({ min: -50, max: 50 }), { maxLength: 30 })
  .map((minutes) => minutes.sort((a, b) => a - b).map((m, i) => ({ time: m * 60_000, value: 1 + i / 8 })));
const msArb = fc.integer({ min: -60, max: 60 }).map((m) => m * 60_000 + (m % 3 === 0 ? 0 : 1));
const rangeArb = fc.oneof(
  fc.record({ to: msArb, limit: fc.integer({ min: 1, max: 40 }) }),
  fc.tuple(msArb, msArb, fc.integer({ min: 1, max: 40 })).map(([a, b, limit]) => ({ from: Math.min(a, b), to: Math.max(a, b), limit })),
);

describe('cached series', () => {
  it('answers exactly what the store would, or says it cannot', () => {
    fc.assert(
      fc.property(barsArb, fc.integer({ min: 1, max: 35 }), rangeArb, (all, window, range) => {
        const answer = CachedSeries.fromText(1, textOf(all, window), window).answer(range);
        if (answer === undefined) {
          // Only a copy without the oldest bars may decline, and only for a range reaching past them.
          expect(all.length).toBeGreaterThanOrEqual(window);
          return;
        }
        expect(answer === null ? null : JSON.parse(answer.toString())).toEqual(expected(all, range));
      }),
      { numRuns: 2000 },
    );
  });

  it('answers from a copy that holds the whole series and from a window that covers the range', () => {
    const all = Array.from({ length: 10 }, (_, i) => ({ time: i * 60_000, value: i }));
    const whole = CachedSeries.fromText(1, textOf(all, 20), 20);
    expect(whole.answer({ to: 3 * 60_000, limit: 100 })).not.toBeUndefined();
    const newest = CachedSeries.fromText(1, textOf(all, 4), 4);
    expect(newest.answer({ from: 6 * 60_000, to: 1e9, limit: 100 })).not.toBeUndefined();
    expect(newest.answer({ from: 5 * 60_000, to: 1e9, limit: 100 })).toBeUndefined();
    expect(newest.answer({ to: 1e9, limit: 4 })).not.toBeUndefined();
    expect(newest.answer({ to: 1e9, limit: 5 })).toBeUndefined();
  });

  it('refuses text that does not hold the bars it claims', () => {
    expect(() => CachedSeries.fromText(1, { ...textOf([{ time: 0, value: 1 }], 5), count: 2 }, 5)).toThrow(/fewer than 2/);
  });
});

/** A commit's bar as the store returns it, with the same values per column as `textOf` writes. */
const asBar = (b: PlainBar): Bar => ({
  time: b.time,
  open: b.value,
  high: b.value + 1,
  low: b.value - 1,
  close: b.value * 2,
  volume: 1.5,
  openTime: b.time,
  closeTime: b.time,
});

const commitArb = fc.uniqueArray(
  fc.record({ time: fc.integer({ min: -60, max: 60 }).map((m) => m * 60_000), value: fc.double({ min: 0.0001, max: 1e6, noNaN: true }) }),
  { minLength: 1, maxLength: 4, selector: (b) => b.time },
);

describe('cached series after commits', () => {
  it('answers like a fresh read of the merged bars, and always holds the newest window', () => {
    fc.assert(
      fc.property(barsArb, fc.integer({ min: 1, max: 35 }), fc.array(commitArb, { maxLength: 5 }), rangeArb, (all, window, commits, range) => {
        let copy = CachedSeries.fromText(1, textOf(all, window), window);
        const merged = new Map(all.map((b) => [b.time, b]));
        commits.forEach((bars, i) => {
          copy = copy.withCommit(i + 2, bars.map(asBar));
          for (const b of bars) merged.set(b.time, b);
        });
        const now = [...merged.values()].sort((a, b) => a.time - b.time);
        expect(copy.revision).toBe(commits.length + 1);
        const answer = copy.answer(range);
        if (answer !== undefined) expect(answer === null ? null : JSON.parse(answer.toString())).toEqual(expected(now, range));
        const newest = { to: Number.MAX_SAFE_INTEGER, limit: Math.min(window, now.length) };
        if (now.length > 0) expect(JSON.parse(copy.answer(newest)!.toString())).toEqual(expected(now, newest));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('history cache', () => {
  it('takes a commit that follows its copy and drops the copy on a commit it cannot place', () => {
    const cache = new HistoryCache(4, 10);
    cache.set('A', '1', CachedSeries.fromText(5, textOf([{ time: 0, value: 1 }], 10), 10));
    cache.set('B', '1', CachedSeries.fromText(5, textOf([{ time: 0, value: 1 }], 10), 10));
    const bar = asBar({ time: 60_000, value: 2 });
    cache.applyCommitted([
      { symbol: 'A', resolution: '1', previous: 5, revision: 9, bars: [bar] },
      { symbol: 'B', resolution: '1', previous: 7, revision: 9, bars: [bar] },
      { symbol: 'C', resolution: '1', previous: undefined, revision: 9, bars: [bar] },
    ]);
    expect(cache.get('A', '1')?.revision).toBe(9);
    expect(JSON.parse(cache.get('A', '1')!.answer({ to: 1e9, limit: 5 })!.toString()).c).toEqual([2, 4]);
    expect(cache.get('B', '1')).toBeUndefined();
    expect(cache.get('C', '1')).toBeUndefined();
  });

  it('keeps the most recently used series up to its bound', () => {
    const cache = new HistoryCache(2, 10);
    const entry = (revision: number) => CachedSeries.fromText(revision, textOf([], 10), 10);
    cache.set('A', '1', entry(1));
    cache.set('B', '1', entry(2));
    expect(cache.get('A', '1')?.revision).toBe(1);
    cache.set('C', '1', entry(3));
    expect(cache.get('B', '1')).toBeUndefined();
    expect(cache.get('A', '1')?.revision).toBe(1);
    expect(cache.get('C', '1')?.revision).toBe(3);
    expect(cache.get('A', '5')).toBeUndefined();
  });
});
