/**
 * A candle with the provenance needed to merge it exactly with another one: the times of the ticks
 * that set its open and close. Merging never needs the ticks again, so a bar stored yesterday and a
 * late tick arriving today combine into the bar the full tick set would have built.
 */
export interface Bar {
  /** Bucket start, UTC ms. */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  /** time_msc of the tick that set `open` (the earliest). */
  openTime: number;
  /** time_msc of the tick that set `close` (the latest). */
  closeTime: number;
}

/**
 * Merge two bars of the same bucket where `later` holds ticks that arrived after all of `earlier`'s.
 * Ties on tick time go by arrival order: the earlier arrival keeps the open, the later arrival takes
 * the close. Because batches are applied in arrival order, this is all the sequencing a bar needs:
 * no per-tick sequence number has to be stored.
 */
export function mergeLater(earlier: Bar, later: Bar): Bar {
  return {
    time: earlier.time,
    open: later.openTime < earlier.openTime ? later.open : earlier.open,
    high: later.high > earlier.high ? later.high : earlier.high,
    low: later.low < earlier.low ? later.low : earlier.low,
    close: later.closeTime >= earlier.closeTime ? later.close : earlier.close,
    volume: earlier.volume + later.volume,
    openTime: Math.min(earlier.openTime, later.openTime),
    closeTime: Math.max(earlier.closeTime, later.closeTime),
  };
}

/** In-place form of mergeLater for the aggregation hot path. */
export function absorbLater(into: Bar, later: Bar): void {
  if (later.openTime < into.openTime) {
    into.open = later.open;
    into.openTime = later.openTime;
  }
  if (later.closeTime >= into.closeTime) {
    into.close = later.close;
    into.closeTime = later.closeTime;
  }
  if (later.high > into.high) into.high = later.high;
  if (later.low < into.low) into.low = later.low;
  into.volume += later.volume;
}
