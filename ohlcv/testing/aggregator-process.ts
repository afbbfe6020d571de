import { PostgresDatabase } from '../../platform/database.js';
import { startPipeline } from './pipeline.js';

/**
 * An aggregator in its own process, for the test that kills it with SIGKILL mid-stream.
 * Configured by the parent through the environment; says "ready" on stdout once consuming.
 */
const env = process.env;
const db = new PostgresDatabase(env.OHLCV_TEST_DATABASE_URL!);
await startPipeline(
  db,
  { exchange: env.OHLCV_TEST_EXCHANGE!, stream: env.OHLCV_TEST_STREAM! },
  { price: 'bid', volume: 'ticks' },
  Number(env.OHLCV_TEST_BATCH),
);
process.stdout.write('ready\n');
