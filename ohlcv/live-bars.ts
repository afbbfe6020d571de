import type { Resolution } from '../protocol/names.js';
import { topics } from '../protocol/topics.js';
import type { SeriesBar } from './aggregate.js';
import type { Bar } from './bar.js';
import { nominalLengthMs } from './bucket.js';

/** The `candles/{SYMBOL}/{RES}` payload (docs/protocol.md#candles): `time` is the bar open in UTC seconds. */
export function encodeLiveBar(bar: Bar): string {
  return JSON.stringify({
    time: bar.time / 1000,
    open: bar.open,
    high: bar.high,
    low: bar.low,
    close: bar.close,
    volume: bar.volume,
  });
}

export type PublishBar = (topic: string, payload: string) => void;

export interface LiveBarsOptions {
  /** Late corrections older than this many bars before the forming bar go to history only. */
  recentBars?: number;
}

interface SeriesState {
  symbol: string;
  resolution: Resolution;
  /** The forming (newest) bar as stored. */
  latest: Bar | undefined;
  latestChanged: boolean;
  /** Recent bars corrected by late ticks since the last flush, by bucket time. */
  corrected: Map<number, Bar>;
}

/**
 * Conflates stored bars into retained `candles/…` publishes. Updates arrive after every commit;
 * `flush()` (called on a timer, a few times a second) publishes, per series, each corrected recent
 * bar in time order and then the forming bar, so the retained message is always the newest bar.
 * A bar that was superseded by a newer one before its last change was published counts as corrected,
 * so subscribers always see its final state.
 */
export class LiveBars {
  private readonly series = new Map<string, SeriesState>();
  private readonly dirty = new Set<SeriesState>();
  private readonly recentBars: number;

  constructor(
    private readonly publish: PublishBar,
    opts: LiveBarsOptions = {},
  ) {
    this.recentBars = opts.recentBars ?? 300;
  }

  /** The newest stored bar per series, so the first late tick after a restart is not taken as forming. */
  seed(bars: readonly SeriesBar[]): void {
    for (const { symbol, resolution, bar } of bars) {
      const s = this.state(symbol, resolution);
      if (!s.latest || bar.time > s.latest.time) s.latest = bar;
    }
  }

  update(bars: readonly SeriesBar[]): void {
    for (const { symbol, resolution, bar } of bars) {
      const s = this.state(symbol, resolution);
      if (!s.latest || bar.time >= s.latest.time) {
        if (s.latest && s.latestChanged && bar.time > s.latest.time) s.corrected.set(s.latest.time, s.latest);
        s.latest = bar;
        s.latestChanged = true;
      } else if (bar.time >= s.latest.time - this.recentBars * nominalLengthMs(resolution)) {
        s.corrected.set(bar.time, bar);
      } else {
        continue;
      }
      this.dirty.add(s);
    }
  }

  /** Publishes what changed since the last flush; returns the number of messages sent. */
  flush(): number {
    let sent = 0;
    for (const s of this.dirty) {
      const topic = topics.candle(s.symbol, s.resolution);
      for (const time of [...s.corrected.keys()].sort((a, b) => a - b)) {
        this.publish(topic, encodeLiveBar(s.corrected.get(time)!));
        sent++;
      }
      this.publish(topic, encodeLiveBar(s.latest!));
      sent++;
      s.corrected.clear();
      s.latestChanged = false;
    }
    this.dirty.clear();
    return sent;
  }

  private state(symbol: string, resolution: Resolution): SeriesState {
    const key = `${symbol}\u0000${resolution}`;
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { symbol, resolution, latest: undefined, latestChanged: false, corrected: new Map() }));
    return s;
  }
}
