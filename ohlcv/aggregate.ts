import type { Config } from '../protocol/config.js';
import type { Resolution } from '../protocol/names.js';
import type { Tick } from '../protocol/tick.js';
import { absorbLater, type Bar } from './bar.js';
import { bucketEnd, bucketStart } from './bucket.js';

/** CANDLE_PRICE and CANDLE_VOLUME (CONTRACT §1). */
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
 * always give the same bars, and `mergeLater(aggregate(a), aggregate(b))` per bucket equals
 * `aggregate(a ++ b)`.
 */
export function aggregate(ticks: readonly Tick[], mode: CandleMode): Aggregation {
  const seconds = new Map<string, Map<number, Bar>>();
  let skipped = 0;
  let symbol = '';
  let series: Map<number, Bar> | undefined;
  let current: Bar | undefined;
  const countTicks = mode.volume === 'ticks';
  for (const t of ticks) {
    const price = tickPrice(t, mode.price);
    if (!(price > 0) || !Number.isFinite(price)) {
      skipped++;
      continue;
    }
    if (t.symbol !== symbol || series === undefined) {
      symbol = t.symbol;
      series = seconds.get(symbol);
      if (series === undefined) seconds.set(symbol, (series = new Map()));
      current = undefined;
    }
    const time = t.time_msc;
    const start = time - (time % 1000);
    const volume = countTicks ? 1 : (t.volume_real ?? t.volume);
    if (current === undefined || current.time !== start) {
      current = series.get(start);
      if (current === undefined) {
        current = { time: start, open: price, high: price, low: price, close: price, volume, openTime: time, closeTime: time };
        series.set(start, current);
        continue;
      }
    }
    if (time < current.openTime) {
      current.open = price;
      current.openTime = time;
    }
    if (time >= current.closeTime) {
      current.close = price;
      current.closeTime = time;
    }
    if (price > current.high) current.high = price;
    if (price < current.low) current.low = price;
    current.volume += volume;
  }

  const bars: SeriesBar[] = [];
  for (const [sym, secondBars] of seconds) {
    const byResolution = new Map<Resolution, Map<number, Bar>>([['1S', secondBars]]);
    for (const [res, from] of ROLLUPS) byResolution.set(res, rollUp(byResolution.get(from)!, res));
    for (const [resolution, resBars] of byResolution) {
      for (const bar of resBars.values()) bars.push({ symbol: sym, resolution, bar });
    }
  }
  return { bars, skipped };
}

function rollUp(from: Map<number, Bar>, res: Resolution): Map<number, Bar> {
  const out = new Map<number, Bar>();
  // Calendar buckets are costly to compute; consecutive bars usually share one.
  let rangeStart = 1;
  let rangeEnd = 0;
  let target: Bar | undefined;
  for (const bar of from.values()) {
    if (bar.time < rangeStart || bar.time >= rangeEnd) {
      rangeStart = bucketStart(bar.time, res);
      rangeEnd = bucketEnd(rangeStart, res);
      target = out.get(rangeStart);
      if (target === undefined) {
        out.set(rangeStart, (target = { ...bar, time: rangeStart }));
        continue;
      }
    }
    absorbLater(target!, bar);
  }
  return out;
}
