import type { Resolution } from '../protocol/names.js';
import type { Bar } from './bar.js';
import type { BarRange, BarsText, SeriesChange } from './store.js';

/** The response keys of UDF history, in order, and the `BarsText` column each one is. */
const COLUMNS = ['t', 'o', 'h', 'l', 'c', 'v'] as const;

/** Bars to write after the kept ones: their times and, per column, their texts. */
interface Tail {
  times: number[];
  texts: string[][];
}

/**
 * The newest bars of one series at one revision, kept as the database wrote their numbers, so a
 * history answer is six substrings: no number becomes text again per request (that was most of
 * the time of building the JSON in the database).
 */
export class CachedSeries {
  /** The last answer, encoded: clients of one chart ask for the same bars again and again. */
  private last: { start: number; end: number; body: Buffer } | undefined;

  private constructor(
    readonly revision: number,
    /** Per column (COLUMNS order) the bars' numbers as text, comma-separated, ascending by time. */
    private readonly columns: readonly string[],
    /** Per column, where each bar's text starts; one more entry, one past the end (as if a comma followed). */
    private readonly starts: readonly Int32Array[],
    /** Bar times in UTC ms, ascending. */
    private readonly times: Float64Array,
    /** Holds every bar of the series, not only the newest `window`. */
    private readonly complete: boolean,
    /** The most bars this copy keeps (the oldest go first). */
    private readonly window: number,
  ) {}

  /**
   * @param text the newest bars of the series as one snapshot read them
   * @param window how many bars that read asked for: fewer back means the series has no older bars
   */
  static fromText(revision: number, text: BarsText, window: number): CachedSeries {
    const columns = COLUMNS.map((key) => text[key]);
    const starts = columns.map((list) => elementStarts(list, text.count));
    const times = new Float64Array(text.count);
    for (let i = 0; i < text.count; i++) times[i] = Number(columns[0].slice(starts[0][i], starts[0][i + 1] - 1)) * 1000;
    return new CachedSeries(revision, columns, starts, times, text.count < window, window);
  }

  /**
   * This copy with one commit's bars of the series (as stored after the merge) at the commit's
   * revision: the caller has made sure this copy is at the revision that commit replaced. Only the
   * bars from the oldest changed one on are written again (usually just the newest).
   */
  withCommit(revision: number, bars: readonly Bar[]): CachedSeries {
    const oldest = this.times.length > 0 ? this.times[0] : Infinity;
    // Bars older than an incomplete copy are not in it and change nothing in it.
    const changed = bars.filter((b) => this.complete || b.time >= oldest).sort((a, b) => a.time - b.time);
    if (changed.length === 0) return new CachedSeries(revision, this.columns, this.starts, this.times, this.complete, this.window);
    const from = firstAtOrAfter(this.times, changed[0].time);
    return this.withTail(revision, from, this.mergedTail(from, changed));
  }

  /** The bars from index `from` on, with `changed` (sorted by time) merged in: a changed bar replaces the one at its time. */
  private mergedTail(from: number, changed: readonly Bar[]): Tail {
    const n = this.times.length;
    const tail: Tail = { times: [], texts: COLUMNS.map(() => []) };
    let i = from;
    for (const bar of changed) {
      for (; i < n && this.times[i] < bar.time; i++) this.copyInto(tail, i);
      if (i < n && this.times[i] === bar.time) i++;
      tail.times.push(bar.time);
      const texts = [String(bar.time / 1000), String(bar.open), String(bar.high), String(bar.low), String(bar.close), String(bar.volume)];
      for (let k = 0; k < COLUMNS.length; k++) tail.texts[k].push(texts[k]);
    }
    for (; i < n; i++) this.copyInto(tail, i);
    return tail;
  }

  private copyInto(tail: Tail, i: number): void {
    tail.times.push(this.times[i]);
    for (let k = 0; k < COLUMNS.length; k++) tail.texts[k].push(this.element(k, i));
  }

  /** This copy's bars before index `from`, then `tail`, the oldest dropped past the window, at `revision`. */
  private withTail(revision: number, from: number, tail: Tail): CachedSeries {
    const count = from + tail.times.length;
    const drop = Math.max(0, count - this.window);
    const kept = count - drop;
    const times = new Float64Array(kept);
    for (let j = drop; j < count; j++) times[j - drop] = j < from ? this.times[j] : tail.times[j - from];
    const columns: string[] = [];
    const starts: Int32Array[] = [];
    for (let k = 0; k < COLUMNS.length; k++) {
      const old = this.starts[k];
      // Bars drop..from-1 are kept as they are; dropped ones can be in the tail too when a commit
      // adds more bars than the window holds.
      const prefix = from > drop ? this.columns[k].slice(old[drop], old[from] - 1) : '';
      const texts = tail.texts[k];
      const at = new Int32Array(kept + 1);
      for (let j = drop; j < from; j++) at[j - drop] = old[j] - old[drop];
      let position = prefix === '' ? 0 : prefix.length + 1;
      for (let j = Math.max(drop, from); j < count; j++) {
        at[j - drop] = position;
        position += texts[j - from].length + 1;
      }
      at[kept] = position;
      const tailText = texts.slice(Math.max(0, drop - from)).join(',');
      columns.push(prefix === '' ? tailText : `${prefix},${tailText}`);
      starts.push(at);
    }
    return new CachedSeries(revision, columns, starts, times, this.complete && drop === 0, this.window);
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
      if (!this.complete && (times.length === 0 || from < times[0])) return undefined;
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

  private element(k: number, i: number): string {
    return this.columns[k].slice(this.starts[k][i], this.starts[k][i + 1] - 1);
  }

  private encode(start: number, end: number): Buffer {
    let body = '{"s":"ok"';
    for (let k = 0; k < COLUMNS.length; k++) {
      const starts = this.starts[k];
      body += `,"${COLUMNS[k]}":[${this.columns[k].slice(starts[start], starts[end] - 1)}]`;
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

  /**
   * Brings copies up to date with a commit made in this process, or drops them when the commit did
   * not directly follow the revision they are at (another process committed in between).
   */
  applyCommitted(changes: readonly SeriesChange[]): void {
    for (const change of changes) {
      const key = keyOf(change.symbol, change.resolution);
      const entry = this.series.get(key);
      if (entry === undefined) continue;
      if (entry.revision === change.previous) this.series.set(key, entry.withCommit(change.revision, change.bars));
      else this.series.delete(key);
    }
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
    if (times[mid] < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
