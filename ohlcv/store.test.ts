import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Resolution } from '../protocol/names.js';
import type { Tick } from '../protocol/tick.js';
import { aggregate, type CandleMode } from './aggregate.js';
import { NO_OFFSET, openCandleStore, type CandleStore } from './store.js';
import { symbolSightings } from './symbols.js';
import { columnsToBars, END_OF_TIME_MS, expectedSeries, START_OF_TIME_MS } from './testing/compare.js';
import { ENGINES, type ReopenableDatabase } from './testing/engines.js';
import { modeArb, tickArb } from './testing/ticks.js';

const bidTicks: CandleMode = { price: 'bid', volume: 'ticks' };

function batchOf(ticks: readonly Tick[], mode: CandleMode) {
  return { bars: aggregate(ticks, mode).bars, symbols: symbolSightings(ticks) };
}

async function storedSeries(store: CandleStore, keys: Iterable<string>) {
  const out = new Map<string, unknown>();
  for (const key of keys) {
    const [symbol, res] = key.split('|') as [string, Resolution];
    out.set(key, columnsToBars(await store.bars(symbol, res, { from: START_OF_TIME_MS, to: END_OF_TIME_MS, limit: 1e6 })));
  }
  return out;
}

describe.each(ENGINES)('candle store on $name', (engine) => {
  let handle: ReopenableDatabase;
  let store: CandleStore;
  let run = 0;

  beforeAll(async () => {
    handle = await engine.create();
    store = await openCandleStore(handle.db);
  });
  afterAll(() => handle.cleanup());

  it('merges batches committed one after another into the reference bars', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(tickArb(['A', 'B']), { minLength: 1, maxLength: 120 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        modeArb,
        async (raw, cuts, mode) => {
          // Each run writes its own symbols so runs never see each other's bars.
          const prefix = `R${run++}`;
          const ticks = raw.map((t) => ({ ...t, symbol: `${prefix}${t.symbol}` }));
          const edges = [0, ...cuts.map((c) => c % (ticks.length + 1)).sort((a, b) => a - b), ticks.length];
          for (let i = 1; i < edges.length; i++) {
            const batch = ticks.slice(edges[i - 1], edges[i]);
            await store.commit(() => batchOf(batch, mode));
          }
          const expected = expectedSeries(ticks, mode);
          expect(await storedSeries(store, expected.keys())).toEqual(expected);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('returns the bars as stored after the merge', async () => {
    const t = Date.UTC(2025, 0, 6, 10);
    const tick = (time_msc: number, bid: number): Tick => ({ symbol: 'RET', time_msc, bid, ask: bid, last: 0, volume: 0, flags: 6 });
    await store.commit(() => batchOf([tick(t + 500, 1.2)], bidTicks));
    const stored = await store.commit(() => batchOf([tick(t + 100, 1.1)], bidTicks));
    expect(stored.find((b) => b.resolution === '1D')?.bar).toEqual({
      time: Date.UTC(2025, 0, 6),
      open: 1.1,
      high: 1.2,
      low: 1.1,
      close: 1.2,
      volume: 2,
      openTime: t + 100,
      closeTime: t + 500,
    });
  });

  it('applies a stream position once: a replayed batch is skipped, build sees what is committed', async () => {
    const stream = `s${Date.now()}`;
    const tick: Tick = { symbol: 'OFS', time_msc: 5_000, bid: 2, ask: 2, last: 0, volume: 0, flags: 6 };
    expect(await store.committedOffset(stream)).toBe(NO_OFFSET);
    const seen: number[] = [];
    const build = (committed: number) => {
      seen.push(committed);
      return batchOf([tick], bidTicks);
    };
    await store.commit(build, { stream, offset: 9 });
    expect(await store.commit(build, { stream, offset: 9 })).toEqual([]);
    await store.commit(build, { stream, offset: 12 });
    expect(seen).toEqual([NO_OFFSET, 9]);
    expect(await store.committedOffset(stream)).toBe(12);
    expect((await store.bars('OFS', '1S', { to: END_OF_TIME_MS, limit: 10 })).volume).toEqual([2]);
  });

  it('serves the newest bars of [from, to) up to a limit and the newest bar time before a point', async () => {
    const ticks: Tick[] = [0, 60, 120, 180].map((s, i) => ({
      symbol: 'WIN',
      time_msc: Date.UTC(2025, 0, 1) + s * 1000,
      bid: 1 + i,
      ask: 1 + i,
      last: 0,
      volume: 0,
      flags: 6,
    }));
    await store.commit(() => batchOf(ticks, bidTicks));
    const t0 = Date.UTC(2025, 0, 1);
    expect((await store.bars('WIN', '1', { from: t0 + 60_000, to: t0 + 180_000, limit: 10 })).time).toEqual([t0 + 60_000, t0 + 120_000]);
    expect((await store.bars('WIN', '1', { to: t0 + 180_000, limit: 2 })).close).toEqual([2, 3]);
    expect((await store.bars('WIN', '1', { from: t0, to: t0 + 240_000, limit: 3 })).open).toEqual([2, 3, 4]);
    expect(await store.newestBarTimeBefore('WIN', '1', t0 + 60_000)).toBe(t0);
    expect(await store.newestBarTimeBefore('WIN', '1', t0)).toBeUndefined();
  });

  it('gives each commit that touches a series a new revision, and the newest bars as text in the same snapshot', async () => {
    const tick = (symbol: string, s: number, bid: number): Tick => ({
      symbol,
      time_msc: Date.UTC(2025, 0, 2) + s * 1000,
      bid,
      ask: bid,
      last: 0,
      volume: 0,
      flags: 6,
    });
    expect(await store.seriesRevision('REV', '1')).toBeUndefined();
    await store.commit(() => batchOf([tick('REV', 0, 1.5), tick('REV', 60, 0.00001), tick('OTHER', 0, 2)], bidTicks));
    const first = await store.seriesRevision('REV', '1');
    const other = await store.seriesRevision('OTHER', '1');
    expect(first).toBeTypeOf('number');
    // A late tick: the series changes, so does its revision; the untouched one keeps its own.
    await store.commit(() => batchOf([tick('REV', 30, 1.25)], bidTicks));
    const second = await store.seriesRevision('REV', '1');
    expect(second).toBeGreaterThan(first!);
    expect(await store.seriesRevision('OTHER', '1')).toBe(other);

    const text = await store.newestBarsText('REV', '1', 5);
    expect(text).toMatchObject({ revision: second, count: 2, o: '1.5,1e-05', l: '1.25,1e-05', v: '2,1' });
    const t0 = Date.UTC(2025, 0, 2) / 1000;
    expect(text.t).toBe(`${t0},${t0 + 60}`);
    const bars = await store.bars('REV', '1', { to: END_OF_TIME_MS, limit: 5 });
    for (const key of ['o', 'h', 'l', 'c', 'v'] as const) {
      expect(text[key].split(',').map(Number)).toEqual(bars[({ o: 'open', h: 'high', l: 'low', c: 'close', v: 'volume' } as const)[key]]);
    }
    expect((await store.newestBarsText('REV', '1', 1)).t).toBe(`${t0 + 60}`);
    expect(await store.newestBarsText('NONE', '1', 5)).toEqual({ revision: undefined, count: 0, t: '', o: '', h: '', l: '', c: '', v: '' });
  });

  it('keeps symbols: configured ones, most decimals seen, newest quote by tick time', async () => {
    await store.registerSymbols(['CFG1', 'SYM']);
    const tick = (time_msc: number, bid: number): Tick => ({ symbol: 'SYM', time_msc, bid, ask: bid + 0.001, last: 0, volume: 0, flags: 6 });
    await store.commit(() => batchOf([tick(2000, 1.12345), tick(3000, 1.5)], bidTicks));
    await store.commit(() => batchOf([tick(1000, 1.1)], bidTicks));
    expect(await store.symbol('SYM')).toEqual({ symbol: 'SYM', digits: 5, quoteTime: 3000, bid: 1.5, ask: 1.501 });
    expect(await store.symbol('CFG1')).toEqual({ symbol: 'CFG1', digits: null, quoteTime: null, bid: null, ask: null });
    expect((await store.symbols()).map((s) => s.symbol)).toContain('CFG1');
  });

  it('keeps everything across a restart, and late ticks afterwards still merge exactly', async () => {
    const ticks = fc.sample(tickArb(['RS']), { numRuns: 200, seed: 7 });
    await store.commit(() => batchOf(ticks.slice(0, 120), bidTicks));
    store = await openCandleStore(await handle.reopen());
    await store.commit(() => batchOf(ticks.slice(120), bidTicks));
    const expected = expectedSeries(ticks, bidTicks);
    expect(await storedSeries(store, expected.keys())).toEqual(expected);
    expect((await store.newestBars()).filter((b) => b.symbol === 'RS').map((b) => b.bar.time)).toEqual(
      [...expected.entries()].filter(([k]) => k.startsWith('RS|')).map(([, bars]) => bars.at(-1)!.time),
    );
  });
});
