import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import Fastify, { type FastifyInstance } from 'fastify';
import { PostgresDatabase } from '../platform/database.js';
import { freshDatabase } from '../test/testing/postgres.js';
import { openCandleStore, type CandleStore } from './store.js';
import { expectedSeries } from './testing/compare.js';
import { publishFeed, waitFor } from './testing/feed.js';
import { declareTestStream, seriesOverUdf, testStreamNames } from './testing/pipeline.js';
import { sampleTicks, shuffled } from './testing/ticks.js';
import { registerUdfRoutes } from './udf-routes.js';

const SYMBOLS = ['EURUSD', 'XAUUSD'];
const BUNDLE_DIR = join(process.cwd(), 'node_modules', '.cache', `ticktalk-ohlcv-${process.pid}`);

/**
 * Exactly once across crashes: an aggregator process is SIGKILLed at several points mid-stream
 * (between or inside its transactions, before or after acks) and restarted, while the feed keeps
 * publishing. The bars must still be exactly the reference's: nothing lost, nothing counted twice.
 */
describe('aggregator killed mid-stream', () => {
  const names = testStreamNames();
  let pg: Awaited<ReturnType<typeof freshDatabase>>;
  let db: PostgresDatabase;
  let store: CandleStore;
  let app: FastifyInstance;
  let rabbit: Awaited<ReturnType<typeof declareTestStream>>;
  let script: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    pg = await freshDatabase('tt_ohlcv_kill');
    db = new PostgresDatabase(pg.url);
    store = await openCandleStore(db);
    app = Fastify();
    await registerUdfRoutes(app, { store });
    rabbit = await declareTestStream(names);
    mkdirSync(BUNDLE_DIR, { recursive: true });
    script = join(BUNDLE_DIR, 'aggregator-process.mjs');
    // No TypeScript loader at run time: bundle the process entry, keeping packages external.
    await build({
      entryPoints: [join(import.meta.dirname, 'testing', 'aggregator-process.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outfile: script,
      logLevel: 'silent',
    });
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await app?.close();
    await db?.close();
    await rabbit?.remove();
    await pg?.drop();
    rmSync(BUNDLE_DIR, { recursive: true, force: true });
  });

  async function startAggregator(): Promise<ChildProcess> {
    const proc = spawn(process.execPath, [script], {
      env: {
        ...process.env,
        OHLCV_TEST_DATABASE_URL: pg.url,
        OHLCV_TEST_EXCHANGE: names.exchange,
        OHLCV_TEST_STREAM: names.stream,
        OHLCV_TEST_BATCH: '20',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    proc.stdout.setEncoding('utf8');
    await Promise.race([
      once(proc.stdout, 'data'),
      once(proc, 'exit').then(([code]) => {
        throw new Error(`aggregator process exited with ${String(code)}`);
      }),
    ]);
    return proc;
  }

  async function kill(proc: ChildProcess): Promise<void> {
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }

  it('counts every tick exactly once', async () => {
    const all = shuffled(sampleTicks(3000, 99, SYMBOLS), 5);
    const first = await publishFeed(rabbit.channel, names.exchange, all.slice(0, 2000), 21);
    const committed = () => store.committedOffset(names.stream);

    let kills = 0;
    for (const fraction of [0.15, 0.4, 0.7]) {
      child = await startAggregator();
      await waitFor(async () => (await committed()) >= first.messages * fraction);
      await kill(child);
      kills++;
    }
    expect(await committed()).toBeLessThan(first.messages - 1);

    // The feed keeps publishing while no aggregator runs.
    const second = await publishFeed(rabbit.channel, names.exchange, all.slice(2000), 22);
    child = await startAggregator();
    await waitFor(async () => (await committed()) === first.messages + second.messages - 1);
    await kill(child);
    child = undefined;

    expect(kills).toBe(3);
    expect(await seriesOverUdf(app, SYMBOLS)).toEqual(expectedSeries([...first.expected, ...second.expected], { price: 'bid', volume: 'ticks' }));
  });
});
