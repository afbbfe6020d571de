import type { Resolution } from '../protocol/names.js';
import type { BarRange, BarsText } from './store.js';

/** The response keys of UDF history, in order, and the `BarsText` column each one is. */
const COLUMNS = ['t', 'o', 'h', 'l', 'c', 'v'] as const;

/**
 * The newest bars of one series at one revision, kept as the database wrote their numbers, so a
 * history answer is six substrings: no number becomes text again per request (that was most of
 * the time of building the JSON in the database).
 */
export class CachedSeries {
  /** Bar times in UTC ms, ascending. */
  private readonly times: Float64Array;
  /** Per column, where each bar's text starts; one more entry, one past the end (as if a comma followed). */
  private readonly starts: Int32Array[];
  /** Holds every bar of the series, not only the newest `window`. */
  private readonly complete: boolean;
  /** The last answer, encoded: clients of one chart ask for the same bars again and again. */
  private last: { start: number; end: number; body: Buffer } | undefined;

  /**
   * @param text the newest bars of the series as one snapshot read them
   * @param window how many bars that read asked for: fewer back means the series has no older bars
   */
  constructor(
    readonly revision: number,
    private readonly text: BarsText,
    window: number,
  ) {
    this.complete = text.count < window;
    this.starts = COLUMNS.map((key) => elementStarts(text[key], text.count));
    const t = text.t;
    const tStarts = this.starts[0]!;
    this.times = new Float64Array(text.count);
    for (let i = 0; i < text.count; i++) this.times[i] = Number(t.slice(tStarts[i], tStarts[i + 1]! - 1)) * 1000;
  }

  /**
   * The history body `{"s":"ok","t":[…],…}` (UTF-8) for `range` (the store's `bars` semantics), null
   * when it provably holds no bar, undefined when the range reaches past the bars this copy holds.
   */
  answer({ from, to, limit }: BarRange): Buffer | null | undefined {
    const times = this.times;
    const end = firstAtOrAfter(times, to);
    let start: number;
    if (from !== undefined) {
      if (!this.complete && (times.length === 0 || from < times[0]!)) return undefined;
      start = Math.max(firstAtOrAfter(times, from), end - limit);
    } else {
      start = end - limit;
      if (start < 0) {
        if (!this.complete) return undefined;
        start = 0;
      }
    }
    if (start >= end) return null;
    if (this.last?.start !== start || this.last.end !== end) this.last = { start, end, body: this.encode(start, end) };
    return this.last.body;
  }

  private encode(start: number, end: number): Buffer {
    let body = '{"s":"ok"';
    for (let k = 0; k < COLUMNS.length; k++) {
      const starts = this.starts[k]!;
      body += `,"${COLUMNS[k]}":[${this.text[COLUMNS[k]!].slice(starts[start], starts[end]! - 1)}]`;
    }
    return Buffer.from(`${body}}`);
  }
}

/** Cached series by (symbol, resolution), the least recently used dropped beyond `maxSeries`. */
export class HistoryCache {
  private readonly series = new Map<string, CachedSeries>();

  constructor(
    readonly maxSeries: number,
    /** How many of a series' newest bars one entry holds. */
    readonly windowBars: number,
  ) {}

  get(symbol: string, res: Resolution): CachedSeries | undefined {
    const key = keyOf(symbol, res);
    const entry = this.series.get(key);
    if (entry) {
      this.series.delete(key);
      this.series.set(key, entry);
    }
    return entry;
  }

  set(symbol: string, res: Resolution, entry: CachedSeries): void {
    const key = keyOf(symbol, res);
    this.series.delete(key);
    this.series.set(key, entry);
    if (this.series.size > this.maxSeries) this.series.delete(this.series.keys().next().value!);
  }
}

function keyOf(symbol: string, res: Resolution): string {
  return `${res} ${symbol}`;
}

function elementStarts(list: string, count: number): Int32Array {
  const starts = new Int32Array(count + 1);
  let at = 0;
  for (let i = 1; i < count; i++) {
    at = list.indexOf(',', at) + 1;
    if (at === 0) throw new Error(`bar text holds fewer than ${count} numbers`);
    starts[i] = at;
  }
  starts[count] = list.length + 1;
  return starts;
}

/** The index of the first time >= `ms` (times.length when none). */
function firstAtOrAfter(times: Float64Array, ms: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
