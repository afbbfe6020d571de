import { candleModeOf, aggregate } from '../../ohlcv/aggregate.js';
import { openCandleStore } from '../../ohlcv/store.js';
import { symbolSightings } from '../../ohlcv/symbols.js';
import type { Config } from '../../protocol/config.js';
import type { Tick } from '../../protocol/tick.js';
import { openDatabase } from '../engines.js';
import { exportTicks, MAX_REPORTED_ERRORS, type ExportCounts } from './mt5-file.js';

/** Ticks per transaction: the aggregator's own batching, bounded memory for any file size. */
const BATCH_TICKS = 10_000;

/**
 * `ticktalk replay --store FILE`: the export's ticks aggregated and merged into the candle store the
 * server uses (DATABASE_URL, else PGlite in DATA_DIR), exactly as the live aggregator would, for a
 * setup without RabbitMQ. PGlite takes one process at a time: run it while the server is stopped.
 */
export async function replayIntoStore(args: { file: string; symbol: string; tz: string }, config: Config): Promise<number> {
  const where = config.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${config.DATA_DIR}`;
  const db = await openDatabase(config);
  const counts: ExportCounts = { rows: 0, bad: 0, skipped: 0 };
  let stored = 0;
  try {
    const store = await openCandleStore(db);
    const mode = candleModeOf(config);
    const commit = async (ticks: readonly Tick[]) => {
      await store.commit(() => ({ bars: aggregate(ticks, mode).bars, symbols: symbolSightings(ticks) }));
      stored += ticks.length;
    };
    const batch: Tick[] = [];
    const report = (message: string) => process.stderr.write(`${message}\n`);
    for await (const tick of exportTicks(args.file, { symbol: args.symbol, tz: args.tz, counts, report })) {
      batch.push(tick);
      if (batch.length >= BATCH_TICKS) await commit(batch.splice(0));
    }
    if (batch.length > 0) await commit(batch);
  } catch (err) {
    process.stderr.write(`ticktalk replay: ${args.file}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await db.close();
  }
  if (counts.bad > MAX_REPORTED_ERRORS) process.stderr.write(`… and ${counts.bad - MAX_REPORTED_ERRORS} more bad rows\n`);
  process.stdout.write(
    `stored ${stored} ticks of ${args.symbol} as candles in ${where}; rows ${counts.rows}, bad rows ${counts.bad}, rows before first quote ${counts.skipped}\n`,
  );
  return counts.bad === 0 ? 0 : 1;
}
