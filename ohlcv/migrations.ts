/**
 * Schema of the candle store, versioned (platform/database.ts `migrate`): entries are only ever
 * appended. Times are UTC milliseconds in bigint columns; bars keep the times of the ticks that set
 * their open and close so later ticks merge exactly (see bar.ts).
 */
export const OHLCV_MIGRATIONS: readonly string[] = [
  `CREATE TABLE ohlcv_bars (
    symbol text NOT NULL,
    resolution text NOT NULL,
    time bigint NOT NULL,
    open double precision NOT NULL,
    high double precision NOT NULL,
    low double precision NOT NULL,
    close double precision NOT NULL,
    volume double precision NOT NULL,
    open_time bigint NOT NULL,
    close_time bigint NOT NULL,
    PRIMARY KEY (symbol, resolution, time)
  );
  CREATE TABLE ohlcv_symbols (
    symbol text PRIMARY KEY,
    digits integer,
    quote_time bigint,
    bid double precision,
    ask double precision
  );
  CREATE TABLE ohlcv_stream_offsets (
    stream text PRIMARY KEY,
    committed bigint NOT NULL
  );`,
  // A revision per series, taken from one sequence in the transaction that changes any of its bars:
  // equal revisions mean equal bars, so a cached copy of a series can be proven current with one
  // point read (udf history). A sequence never hands out a value twice, even if a row is re-created.
  `CREATE SEQUENCE ohlcv_revision;
  CREATE TABLE ohlcv_series (
    symbol text NOT NULL,
    resolution text NOT NULL,
    revision bigint NOT NULL,
    PRIMARY KEY (symbol, resolution)
  );
  INSERT INTO ohlcv_series (symbol, resolution, revision)
    SELECT symbol, resolution, nextval('ohlcv_revision') FROM (SELECT DISTINCT symbol, resolution FROM ohlcv_bars) existing;`,
  // The revision a commit replaced: a cached copy at exactly that revision can take the commit's
  // bars instead of reading the series again.
  `ALTER TABLE ohlcv_series ADD COLUMN previous bigint;`,
  // History the built-in simulator generated (bridges/simulator-history.ts): the walk ran back from
  // end_time over `days`; every generated bar from written_from to end_time is stored (NULL: the
  // first pass only), so a start interrupted while writing it finishes on the next start.
  `CREATE TABLE ohlcv_generated_history (
    symbol text PRIMARY KEY,
    end_time bigint NOT NULL,
    days integer NOT NULL,
    written_from bigint
  );`,
];
