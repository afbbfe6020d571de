import { migrate, type Database, type Sql } from '../platform/database.js';
import { RESOLUTIONS, type Resolution } from '../protocol/names.js';
import type { SeriesBar } from './aggregate.js';
import type { Bar } from './bar.js';
import { OHLCV_MIGRATIONS } from './migrations.js';
import type { SymbolSighting } from './symbols.js';

/** What one committed batch changes. */
export interface CandleBatch {
  bars: readonly SeriesBar[];
  symbols: readonly SymbolSighting[];
}

/** The position in a RabbitMQ stream that a batch reaches; stored in the batch's own transaction. */
export interface StreamCheckpoint {
  stream: string;
  offset: number;
}

/** Column arrays as UDF serves them; times in UTC ms, ascending. */
export interface BarColumns {
  time: number[];
  open: number[];
  high: number[];
  low: number[];
  close: number[];
  volume: number[];
}

/**
 * Bars as the database writes their numbers (the same text `json_agg` gives): each column one
 * comma-separated list, times in UTC seconds, ascending; empty strings when `count` is 0.
 */
export interface BarsText {
  /** The series' revision in the same snapshot; undefined when the series has no bars yet. */
  revision: number | undefined;
  count: number;
  t: string;
  o: string;
  h: string;
  l: string;
  c: string;
  v: string;
}

/** UTC ms; `from` inclusive, `to` exclusive. */
export interface BarRange {
  from?: number;
  to: number;
  limit: number;
}

export interface SymbolRecord {
  symbol: string;
  digits: number | null;
  quoteTime: number | null;
  bid: number | null;
  ask: number | null;
}

/** What one commit changed in one series: its bars as stored after the merge, and its revisions. */
export interface SeriesChange {
  symbol: string;
  resolution: Resolution;
  /** The revision the commit replaced; undefined when the series is new. */
  previous: number | undefined;
  revision: number;
  bars: Bar[];
}

export type CommitListener = (changes: readonly SeriesChange[]) => void;

/**
 * Listeners per database, not per store: the roles of one process each open their own store over
 * the process's one Database, and a web role's cache hears the ohlcv role's commits this way.
 * Commits by other processes are not heard (revisions tell those apart).
 */
const committedListeners = new WeakMap<Database, Set<CommitListener>>();

/** Nothing was committed on this stream yet. */
export const NO_OFFSET = -1;

/**
 * Candles, symbols and stream positions. One implementation over the Database port serves both
 * engines (PostgreSQL and PGlite); the shared suite in store.test.ts runs against each.
 */
/** How far the history generated for a symbol has been written (see migrations.ts). */
export interface GeneratedHistoryMark {
  symbol: string;
  /** The live start the walk ran back from (UTC ms). */
  end: number;
  days: number;
  /** Every generated bar from here to `end` is stored; undefined: only the first pass. */
  writtenFrom?: number;
}

export interface CandleStore {
  /** Configured symbols exist (for search) before their first tick. */
  registerSymbols(symbols: readonly string[]): Promise<void>;
  /**
   * One transaction: read the stream's committed offset (locked, so concurrent consumers serialize),
   * let `build` compute the batch from what is past that offset, merge the bars into what is stored,
   * advance the offset. Returns the bars as stored after the merge (for live publishing).
   */
  commit(build: (committedOffset: number) => CandleBatch, checkpoint?: StreamCheckpoint): Promise<SeriesBar[]>;
  /**
   * `listener` hears, right after each commit through any store over this store's Database in this
   * process, what it changed per series; it must not throw. Returns the unsubscribe function.
   */
  onCommitted(listener: CommitListener): () => void;
  /**
   * Merges bars like `commit` without reading them back or telling commit listeners (their cached
   * copies see the new revision and re-read): for bulk history, much faster on PGlite.
   */
  importBars(bars: readonly SeriesBar[]): Promise<void>;
  /** `importBars` and, in the same transaction, how far the symbol's generated history now reaches (and its last quote). */
  importGenerated(bars: readonly SeriesBar[], mark: GeneratedHistoryMark, sightings?: readonly SymbolSighting[]): Promise<void>;
  generatedHistory(symbol: string): Promise<GeneratedHistoryMark | undefined>;
  committedOffset(stream: string): Promise<number>;
  /** The `limit` newest bars with `from <= time < to` (no lower bound without `from`), ascending. */
  bars(symbol: string, res: Resolution, range: BarRange): Promise<BarColumns>;
  /**
   * The same bars as JSON text `{"t":[…seconds],"o":[…],"h":[…],"l":[…],"c":[…],"v":[…]}` built by the
   * database (UDF's hot path: thousands of bars never become JS objects), or undefined when none.
   */
  barsJson(symbol: string, res: Resolution, range: BarRange): Promise<string | undefined>;
  newestBarTimeBefore(symbol: string, res: Resolution, toMs: number): Promise<number | undefined>;
  /** The series' current revision (changes with every commit that touches it), undefined before its first bar. */
  seriesRevision(symbol: string, res: Resolution): Promise<number | undefined>;
  /** The `limit` newest bars of the series as text, read in one snapshot with the revision they are at. */
  newestBarsText(symbol: string, res: Resolution, limit: number): Promise<BarsText>;
  /** The newest bar of every series (what live publishing starts from after a restart). */
  newestBars(): Promise<SeriesBar[]>;
  symbols(): Promise<SymbolRecord[]>;
  symbol(symbol: string): Promise<SymbolRecord | undefined>;
}

export async function openCandleStore(db: Database): Promise<CandleStore> {
  await migrate(db, 'ohlcv', OHLCV_MIGRATIONS);
  return new SqlCandleStore(db);
}

/**
 * Selected with the table alias `b`: `ORDER BY b.time` must name the bigint column (index order), not
 * this float8 output column of the same name, which would sort the whole series.
 */
const BAR_COLUMNS = 'b.time::float8 AS time, b.open, b.high, b.low, b.close, b.volume';

/**
 * The merge of bar.ts `absorbLater` in SQL: the stored bar arrived earlier than the incoming one, so
 * it keeps the open on equal tick times and yields the close. SET expressions see the old row.
 */
const MERGE_BARS = `
    INSERT INTO ohlcv_bars AS b (symbol, resolution, time, open, high, low, close, volume, open_time, close_time)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[],
                         $7::float8[], $8::float8[], $9::bigint[], $10::bigint[])
    ON CONFLICT (symbol, resolution, time) DO UPDATE SET
      open = CASE WHEN EXCLUDED.open_time < b.open_time THEN EXCLUDED.open ELSE b.open END,
      open_time = LEAST(b.open_time, EXCLUDED.open_time),
      high = GREATEST(b.high, EXCLUDED.high),
      low = LEAST(b.low, EXCLUDED.low),
      close = CASE WHEN EXCLUDED.close_time >= b.close_time THEN EXCLUDED.close ELSE b.close END,
      close_time = GREATEST(b.close_time, EXCLUDED.close_time),
      volume = b.volume + EXCLUDED.volume`;

/** Every series in `touched` (rows of symbol, resolution) gets a new revision, rows locked in key order. */
const bumpRevisions = (touched: string) => `
    INSERT INTO ohlcv_series AS s (symbol, resolution, revision)
    SELECT symbol, resolution, nextval('ohlcv_revision')
    FROM (SELECT DISTINCT symbol, resolution FROM ${touched} ORDER BY symbol, resolution) touched
    ON CONFLICT (symbol, resolution) DO UPDATE SET previous = s.revision, revision = EXCLUDED.revision`;

const UPSERT_BARS = `
  WITH stored AS (${MERGE_BARS}
    RETURNING symbol, resolution, ${BAR_COLUMNS}, open_time::float8 AS open_time, close_time::float8 AS close_time
  ),
  -- Same statement, so no extra round trip: every series this batch touched gets a new revision.
  bumped AS (${bumpRevisions('stored')}
    RETURNING symbol, resolution, previous, revision
  )
  SELECT stored.*, bumped.previous::float8 AS previous, bumped.revision::float8 AS revision
  FROM stored JOIN bumped USING (symbol, resolution)`;

/** Bulk history: bars are not read back (half the cost on PGlite), revisions still change. */
const BUMP_IMPORTED = bumpRevisions('unnest($1::text[], $2::text[]) AS imported(symbol, resolution)');

const UPSERT_SYMBOLS = `
  INSERT INTO ohlcv_symbols AS s (symbol, digits, quote_time, bid, ask)
  SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::float8[], $5::float8[])
  ON CONFLICT (symbol) DO UPDATE SET
    digits = GREATEST(s.digits, EXCLUDED.digits),
    bid = CASE WHEN s.quote_time IS NULL OR EXCLUDED.quote_time >= s.quote_time THEN EXCLUDED.bid ELSE s.bid END,
    ask = CASE WHEN s.quote_time IS NULL OR EXCLUDED.quote_time >= s.quote_time THEN EXCLUDED.ask ELSE s.ask END,
    quote_time = GREATEST(s.quote_time, EXCLUDED.quote_time)`;

interface UpsertedRow extends BarRow {
  previous: number | null;
  revision: number;
}

interface BarRow extends Record<string, unknown> {
  symbol: string;
  resolution: Resolution;
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  open_time: number;
  close_time: number;
}

class SqlCandleStore implements CandleStore {
  constructor(private readonly db: Database) {}

  async registerSymbols(symbols: readonly string[]): Promise<void> {
    await this.db.query('INSERT INTO ohlcv_symbols (symbol) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [symbols]);
  }

  async commit(build: (committedOffset: number) => CandleBatch, checkpoint?: StreamCheckpoint): Promise<SeriesBar[]> {
    const rows = await this.db.transaction(async (tx) => {
      const committed = checkpoint ? await lockOffset(tx, checkpoint.stream) : NO_OFFSET;
      if (checkpoint && checkpoint.offset <= committed) return [];
      const batch = build(committed);
      const upserted = await upsertBars(tx, batch.bars);
      if (batch.symbols.length > 0) await upsertSymbols(tx, batch.symbols);
      if (checkpoint) {
        await tx.query('UPDATE ohlcv_stream_offsets SET committed = $2 WHERE stream = $1', [checkpoint.stream, checkpoint.offset]);
      }
      return upserted;
    });
    if (rows.length > 0) {
      const changes = seriesChanges(rows);
      for (const listener of committedListeners.get(this.db) ?? []) listener(changes);
    }
    return rows.map(toSeriesBar);
  }

  onCommitted(listener: CommitListener): () => void {
    let listeners = committedListeners.get(this.db);
    if (!listeners) committedListeners.set(this.db, (listeners = new Set()));
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  async importBars(bars: readonly SeriesBar[]): Promise<void> {
    if (bars.length === 0) return;
    await this.db.transaction((tx) => mergeImported(tx, bars));
  }

  async importGenerated(bars: readonly SeriesBar[], mark: GeneratedHistoryMark, sightings: readonly SymbolSighting[] = []): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (bars.length > 0) await mergeImported(tx, bars);
      if (sightings.length > 0) await upsertSymbols(tx, sightings);
      await tx.query(
        `INSERT INTO ohlcv_generated_history (symbol, end_time, days, written_from) VALUES ($1, $2, $3, $4)
         ON CONFLICT (symbol) DO UPDATE SET end_time = EXCLUDED.end_time, days = EXCLUDED.days, written_from = EXCLUDED.written_from`,
        [mark.symbol, mark.end, mark.days, mark.writtenFrom ?? null],
      );
    });
  }

  async generatedHistory(symbol: string): Promise<GeneratedHistoryMark | undefined> {
    const { rows } = await this.db.query<{ end_time: number; days: number; written_from: number | null }>(
      'SELECT end_time::float8 AS end_time, days, written_from::float8 AS written_from FROM ohlcv_generated_history WHERE symbol = $1',
      [symbol],
    );
    const row = rows[0];
    return row && { symbol, end: row.end_time, days: row.days, ...(row.written_from === null ? {} : { writtenFrom: row.written_from }) };
  }

  async committedOffset(stream: string): Promise<number> {
    const { rows } = await this.db.query<{ committed: number }>('SELECT committed::float8 AS committed FROM ohlcv_stream_offsets WHERE stream = $1', [
      stream,
    ]);
    return rows[0]?.committed ?? NO_OFFSET;
  }

  async bars(symbol: string, res: Resolution, { from, to, limit }: BarRange): Promise<BarColumns> {
    const { rows } = await this.db.query<BarRow>(
      `SELECT ${BAR_COLUMNS} FROM ohlcv_bars b
       WHERE symbol = $1 AND resolution = $2 AND b.time < $3 AND ($4::bigint IS NULL OR b.time >= $4)
       ORDER BY b.time DESC LIMIT $5`,
      [symbol, res, to, from ?? null, limit],
    );
    return toColumns(rows.reverse());
  }

  async barsJson(symbol: string, res: Resolution, { from, to, limit }: BarRange): Promise<string | undefined> {
    // The aggregates read the re-sorted subquery in order (one group, no parallelism after LIMIT):
    // one sort instead of one per column, which PostgreSQL 15 would do for ORDER BY inside each.
    const { rows } = await this.db.query<{ json: string | null }>(
      `SELECT json_build_object('t', json_agg(time / 1000), 'o', json_agg(open), 'h', json_agg(high),
                                'l', json_agg(low), 'c', json_agg(close), 'v', json_agg(volume))::text AS json
       FROM (SELECT * FROM (SELECT b.time, b.open, b.high, b.low, b.close, b.volume FROM ohlcv_bars b
                            WHERE symbol = $1 AND resolution = $2 AND b.time < $3 AND ($4::bigint IS NULL OR b.time >= $4)
                            ORDER BY b.time DESC LIMIT $5) newest
             ORDER BY time) ascending
       HAVING count(*) > 0`,
      [symbol, res, to, from ?? null, limit],
    );
    return rows[0]?.json ?? undefined;
  }

  async newestBarTimeBefore(symbol: string, res: Resolution, toMs: number): Promise<number | undefined> {
    const { rows } = await this.db.query<{ time: number }>(
      `SELECT b.time::float8 AS time FROM ohlcv_bars b
       WHERE symbol = $1 AND resolution = $2 AND b.time < $3 ORDER BY b.time DESC LIMIT 1`,
      [symbol, res, toMs],
    );
    return rows[0]?.time;
  }

  async seriesRevision(symbol: string, res: Resolution): Promise<number | undefined> {
    const { rows } = await this.db.query<{ revision: number }>(
      'SELECT revision::float8 AS revision FROM ohlcv_series WHERE symbol = $1 AND resolution = $2',
      [symbol, res],
    );
    return rows[0]?.revision;
  }

  async newestBarsText(symbol: string, res: Resolution, limit: number): Promise<BarsText> {
    // One statement, one snapshot: the revision names exactly these bars. string_agg reads the
    // re-sorted subquery in order (see barsJson).
    const { rows } = await this.db.query<{ revision: number | null; count: number } & Record<'t' | 'o' | 'h' | 'l' | 'c' | 'v', string | null>>(
      `SELECT (SELECT revision::float8 FROM ohlcv_series WHERE symbol = $1 AND resolution = $2) AS revision,
              count(*)::int AS count, string_agg((time / 1000)::text, ',') AS t, string_agg(open::text, ',') AS o,
              string_agg(high::text, ',') AS h, string_agg(low::text, ',') AS l, string_agg(close::text, ',') AS c,
              string_agg(volume::text, ',') AS v
       FROM (SELECT * FROM (SELECT b.time, b.open, b.high, b.low, b.close, b.volume FROM ohlcv_bars b
                            WHERE symbol = $1 AND resolution = $2 ORDER BY b.time DESC LIMIT $3) newest
             ORDER BY time) ascending`,
      [symbol, res, limit],
    );
    const r = rows[0];
    return { revision: r.revision ?? undefined, count: r.count, t: r.t ?? '', o: r.o ?? '', h: r.h ?? '', l: r.l ?? '', c: r.c ?? '', v: r.v ?? '' };
  }

  async newestBars(): Promise<SeriesBar[]> {
    // One index probe per (symbol, resolution) instead of a scan of all history.
    const { rows } = await this.db.query<BarRow>(
      `SELECT s.symbol, r.res AS resolution, b.time::float8 AS time, b.open, b.high, b.low, b.close, b.volume,
              b.open_time::float8 AS open_time, b.close_time::float8 AS close_time
       FROM ohlcv_symbols s CROSS JOIN unnest($1::text[]) AS r(res)
       CROSS JOIN LATERAL (SELECT * FROM ohlcv_bars
                           WHERE symbol = s.symbol AND resolution = r.res ORDER BY time DESC LIMIT 1) b`,
      [RESOLUTIONS],
    );
    return rows.map(toSeriesBar);
  }

  async symbols(): Promise<SymbolRecord[]> {
    const { rows } = await this.db.query<SymbolRow>(`${SELECT_SYMBOLS} ORDER BY symbol`);
    return rows.map(toSymbolRecord);
  }

  async symbol(symbol: string): Promise<SymbolRecord | undefined> {
    const { rows } = await this.db.query<SymbolRow>(`${SELECT_SYMBOLS} WHERE symbol = $1`, [symbol]);
    return rows[0] && toSymbolRecord(rows[0]);
  }
}

async function lockOffset(tx: Sql, stream: string): Promise<number> {
  await tx.query('INSERT INTO ohlcv_stream_offsets (stream, committed) VALUES ($1, $2) ON CONFLICT DO NOTHING', [stream, NO_OFFSET]);
  const { rows } = await tx.query<{ committed: number }>(
    'SELECT committed::float8 AS committed FROM ohlcv_stream_offsets WHERE stream = $1 FOR UPDATE',
    [stream],
  );
  return rows[0].committed;
}

/** Bulk bars merged, their series' revisions bumped; nothing read back. */
async function mergeImported(tx: Sql, bars: readonly SeriesBar[]): Promise<void> {
  const series = new Map(bars.map(({ symbol, resolution }) => [`${resolution} ${symbol}`, { symbol, resolution }]));
  await tx.query(MERGE_BARS, barColumns(bars));
  await tx.query(BUMP_IMPORTED, [[...series.values()].map((s) => s.symbol), [...series.values()].map((s) => s.resolution)]);
}

async function upsertBars(tx: Sql, bars: readonly SeriesBar[]): Promise<UpsertedRow[]> {
  if (bars.length === 0) return [];
  const { rows } = await tx.query<UpsertedRow>(UPSERT_BARS, barColumns(bars));
  return rows;
}

/** The ten column arrays `MERGE_BARS` unnests. */
function barColumns(bars: readonly SeriesBar[]): unknown[][] {
  const n = bars.length;
  const cols = Array.from({ length: 10 }, () => new Array<unknown>(n));
  for (let i = 0; i < n; i++) {
    const { symbol, resolution, bar } = bars[i];
    cols[0][i] = symbol;
    cols[1][i] = resolution;
    cols[2][i] = bar.time;
    cols[3][i] = bar.open;
    cols[4][i] = bar.high;
    cols[5][i] = bar.low;
    cols[6][i] = bar.close;
    cols[7][i] = bar.volume;
    cols[8][i] = bar.openTime;
    cols[9][i] = bar.closeTime;
  }
  return cols;
}

function seriesChanges(rows: readonly UpsertedRow[]): SeriesChange[] {
  const bySeries = new Map<string, SeriesChange>();
  for (const r of rows) {
    const key = `${r.resolution} ${r.symbol}`;
    let change = bySeries.get(key);
    if (!change) {
      change = { symbol: r.symbol, resolution: r.resolution, previous: r.previous ?? undefined, revision: r.revision, bars: [] };
      bySeries.set(key, change);
    }
    change.bars.push(toSeriesBar(r).bar);
  }
  return [...bySeries.values()];
}

async function upsertSymbols(tx: Sql, symbols: readonly SymbolSighting[]): Promise<void> {
  await tx.query(UPSERT_SYMBOLS, [
    symbols.map((s) => s.symbol),
    symbols.map((s) => s.digits),
    symbols.map((s) => s.time),
    symbols.map((s) => s.bid),
    symbols.map((s) => s.ask),
  ]);
}

function toSeriesBar(r: BarRow): SeriesBar {
  const bar: Bar = {
    time: r.time,
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: r.volume,
    openTime: r.open_time,
    closeTime: r.close_time,
  };
  return { symbol: r.symbol, resolution: r.resolution, bar };
}

function toColumns(rows: readonly BarRow[]): BarColumns {
  const out: BarColumns = { time: [], open: [], high: [], low: [], close: [], volume: [] };
  for (const r of rows) {
    out.time.push(r.time);
    out.open.push(r.open);
    out.high.push(r.high);
    out.low.push(r.low);
    out.close.push(r.close);
    out.volume.push(r.volume);
  }
  return out;
}

const SELECT_SYMBOLS = 'SELECT symbol, digits, quote_time::float8 AS quote_time, bid, ask FROM ohlcv_symbols';

interface SymbolRow extends Record<string, unknown> {
  symbol: string;
  digits: number | null;
  quote_time: number | null;
  bid: number | null;
  ask: number | null;
}

function toSymbolRecord(r: SymbolRow): SymbolRecord {
  return { symbol: r.symbol, digits: r.digits, quoteTime: r.quote_time, bid: r.bid, ask: r.ask };
}
