import { RESOLUTIONS } from '../../protocol/names.js';
import type { Tick } from '../../protocol/tick.js';
import type { CandleMode } from '../aggregate.js';
import type { BarColumns } from '../store.js';
import { referenceBars, seriesKey, type ReferenceBar } from './reference.js';

/** Far enough in the future for "all bars" queries. */
export const END_OF_TIME_MS = Date.UTC(2200, 0, 1);
/** Before any bucket, including the week that holds the epoch (it starts on 1969-12-29). */
export const START_OF_TIME_MS = -END_OF_TIME_MS;

export function columnsToBars(c: BarColumns): ReferenceBar[] {
  return c.time.map((time, i) => ({
    time,
    open: c.open[i],
    high: c.high[i],
    low: c.low[i],
    close: c.close[i],
    volume: c.volume[i],
  }));
}

/**
 * Every series the reference computes for `ticks`, plus an empty expectation for each resolution of
 * each symbol (so a bar that should not exist is caught too).
 */
export function expectedSeries(ticks: readonly Tick[], mode: CandleMode): Map<string, ReferenceBar[]> {
  const ref = referenceBars(ticks, mode);
  for (const symbol of new Set(ticks.map((t) => t.symbol))) {
    for (const res of RESOLUTIONS) if (!ref.has(seriesKey(symbol, res))) ref.set(seriesKey(symbol, res), []);
  }
  return ref;
}
