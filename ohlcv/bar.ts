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
 * Merges `later` into `into`, two bars of the same bucket where `later` holds ticks that arrived after
 * all of `into`'s. Ties on tick time go by arrival order: the earlier arrival keeps the open, the later
 * arrival takes the close. Because batches are applied in arrival order, this is all the sequencing a
 * bar needs: no per-tick sequence number has to be stored. The store's upsert is this in SQL.
 */
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
