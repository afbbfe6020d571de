import type { Config } from '../protocol/config.js';
import type { Resolution } from '../protocol/names.js';
import type { Tick } from '../protocol/tick.js';
import { absorbLater, type Bar } from './bar.js';
import { bucketEnd, bucketStart } from './bucket.js';

/** CANDLE_PRICE and CANDLE_VOLUME (docs/protocol.md#environment-variables). */
export interface CandleMode {
  price: Config['CANDLE_PRICE'];
  volume: Config['CANDLE_VOLUME'];
}

export function candleModeOf(config: Pick<Config, 'CANDLE_PRICE' | 'CANDLE_VOLUME'>): CandleMode {
  return { price: config.CANDLE_PRICE, volume: config.CANDLE_VOLUME };
}

/** The price a tick contributes; not positive means the tick carries no such price (`last` on forex). */
export function tickPrice(t: Tick, price: CandleMode['price']): number {
  switch (price) {
    case 'bid':
      return t.bid;
    case 'mid':
      return (t.bid + t.ask) / 2;
    case 'last':
      return t.last;
  }
}

export function tickVolume(t: Tick, volume: CandleMode['volume']): number {
  return volume === 'ticks' ? 1 : (t.volume_real ?? t.volume);
}

export interface SeriesBar {
  symbol: string;
  resolution: Resolution;
  bar: Bar;
}

export interface Aggregation {
  bars: SeriesBar[];
  /** Ticks without a usable price in this mode (e.g. `last` = 0 with CANDLE_PRICE=last): no bar. */
  skipped: number;
}

/**
 * Every resolution nests in the one it is rolled up from (a UTC day holds whole 4-hour bars; weeks and
 * months hold whole days), so bars are built once from ticks at 1S and then merged upwards. Bars of
 * different buckets never tie on tick time, so the roll-up does not depend on order.
 */
const ROLLUPS: readonly (readonly [Resolution, Resolution])[] = [
  ['1', '1S'],
  ['5', '1'],
  ['15', '5'],
  ['30', '15'],
  ['60', '30'],
  ['240', '60'],
  ['1D', '240'],
  ['1W', '1D'],
  ['1M', '1D'],
];

/**
 * Bars at every resolution for ticks given in arrival order. Pure: the same ticks in the same order
 * always give the same bars, and merging `aggregate(b)` into `aggregate(a)` per bucket (absorbLater) gives
 * `aggregate(a ++ b)`.
 */
export function aggregate(ticks: readonly Tick[], mode: CandleMode): Aggregation {
  const seconds = new Map<string, SecondBars>();
  let skipped = 0;
  let series: SecondBars | undefined;
  const countTicks = mode.volume === 'ticks';
  for (const t of ticks) {
    const price = tickPrice(t, mode.price);
    if (!(price > 0) || !Number.isFinite(price)) {
      skipped++;
      continue;
    }
    if (series === undefined || t.symbol !== series.symbol) series = seriesOf(seconds, t.symbol);
    addTick(series, t.time_msc, price, countTicks ? 1 : (t.volume_real ?? t.volume));
  }
  return { bars: rolledUp(seconds), skipped };
}

function seriesOf(seconds: Map<string, SecondBars>, symbol: string): SecondBars {
  let series = seconds.get(symbol);
  if (series === undefined) seconds.set(symbol, (series = { symbol, ordered: [], bySecond: undefined, last: undefined }));
  return series;
}

/** Puts a tick into its 1S bar of the series: a new bar for the first tick of a second. */
function addTick(series: SecondBars, time: number, price: number, volume: number): void {
  const second = Math.floor(time / 1000);
  let bar = series.last;
  if (bar === undefined || bar.time !== second * 1000) {
    // Ticks of a symbol usually come in time order: append, and index by second only once they don't.
    if (series.bySecond === undefined && (bar === undefined || second * 1000 > bar.time)) {
      series.ordered.push((series.last = newBar(second * 1000, price, volume, time)));
      return;
    }
    series.bySecond ??= new Map(series.ordered.map((b) => [b.time / 1000, b]));
    bar = series.bySecond.get(second);
    if (bar === undefined) {
      series.bySecond.set(second, (series.last = newBar(second * 1000, price, volume, time)));
      return;
    }
    series.last = bar;
  }
  extendBar(bar, time, price, volume);
}

/** A later (or, out of order, earlier) tick in a bar's second. */
function extendBar(bar: Bar, time: number, price: number, volume: number): void {
  if (time < bar.openTime) {
    bar.open = price;
    bar.openTime = time;
  }
  if (time >= bar.closeTime) {
    bar.close = price;
    bar.closeTime = time;
  }
  if (price > bar.high) bar.high = price;
  if (price < bar.low) bar.low = price;
  bar.volume += volume;
}

/** Every series' 1S bars and their roll-ups to every coarser resolution. */
function rolledUp(seconds: Map<string, SecondBars>): SeriesBar[] {
  const bars: SeriesBar[] = [];
  for (const { symbol, ordered, bySecond } of seconds.values()) {
    // Sorted once, every coarser resolution is a single pass: a bucket, once left, is never revisited.
    const secondBars = bySecond ? [...bySecond.values()].sort((a, b) => a.time - b.time) : ordered;
    for (const [resolution, resBars] of rollUpEvery('1S', secondBars)) {
      for (const bar of resBars) bars.push({ symbol, resolution, bar });
    }
  }
  return bars;
}

/**
 * `bars` (one symbol's, time-ordered, at `base`) with the bars of every coarser resolution rolled
 * up from them, exactly as `aggregate` does from 1S; bars built some other way (generated history
 * at 1m) get the same coarser bars a feed would have given.
 */
export function rollUpEvery(base: Resolution, bars: readonly Bar[]): Map<Resolution, readonly Bar[]> {
  const byResolution = new Map<Resolution, readonly Bar[]>([[base, bars]]);
  for (const [res, from] of ROLLUPS) {
    const source = byResolution.get(from);
    if (source !== undefined && !byResolution.has(res)) byResolution.set(res, rollUp(source, res));
  }
  return byResolution;
}

/** One symbol's 1S bars while a batch is aggregated. */
interface SecondBars {
  symbol: string;
  /** Bars in time order, as long as the ticks came in time order. */
  ordered: Bar[];
  /** By epoch second (a small integer key), from the first tick that came out of order. */
  bySecond: Map<number, Bar> | undefined;
  /** The bar the previous tick of this symbol went into. */
  last: Bar | undefined;
}

function newBar(time: number, price: number, volume: number, tickTime: number): Bar {
  return { time, open: price, high: price, low: price, close: price, volume, openTime: tickTime, closeTime: tickTime };
}

/** Merges time-ordered bars into the buckets of `res`, returning them in time order. */
function rollUp(from: readonly Bar[], res: Resolution): Bar[] {
  const out: Bar[] = [];
  let end = -Infinity;
  let target: Bar | undefined;
  for (const bar of from) {
    if (bar.time >= end) {
      const start = bucketStart(bar.time, res);
      end = bucketEnd(start, res);
      target = {
        time: start,
        open: bar.open,
        high: bar.high,
        low: bar.low,
        close: bar.close,
        volume: bar.volume,
        openTime: bar.openTime,
        closeTime: bar.closeTime,
      };
      out.push(target);
    } else {
      absorbLater(target!, bar);
    }
  }
  return out;
}
