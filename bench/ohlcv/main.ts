/**
 * `npm run bench:ohlcv`: the figures of issue 4.
 *   1. pure aggregation, ticks/s on one core (target >= 2M), live-like and shuffled-history ticks;
 *   2. end to end RabbitMQ stream -> aggregator -> PostgreSQL, ticks/s;
 *   3. `/udf/history` for 5,000 bars over HTTP, p50/p99 (target p99 <= 10 ms), PostgreSQL and PGlite:
 *      a series that does not change, and one committed to before every request.
 * Needs the local PostgreSQL and RabbitMQ (like the tests); uses throwaway databases and queues.
 * Sizes: BENCH_AGG_TICKS, BENCH_E2E_TICKS, BENCH_UDF_REQUESTS; BENCH_PARTS=agg,e2e,udf picks sections.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import amqp, { type ConfirmChannel } from 'amqplib';
import Fastify from 'fastify';
import { PostgresDatabase, type Database } from '../../platform/database.js';
import { PgliteDatabase } from '../../platform/pglite-database.js';
import { Metrics } from '../../platform/metrics.js';
import type { Tick } from '../../protocol/tick.js';
import { seededRandom, TickGenerator } from '../../bridges/tick-generator.js';
import { aggregate, type CandleMode } from '../../ohlcv/aggregate.js';
import { CandleAggregator } from '../../ohlcv/aggregator.js';
import { openCandleStore, type CandleStore } from '../../ohlcv/store.js';
import { symbolSightings } from '../../ohlcv/symbols.js';
import { declareOhlcvStream, TickStream } from '../../ohlcv/tick-stream.js';
import { registerUdfRoutes } from '../../ohlcv/udf-routes.js';
import { freshDatabase } from '../../test/testing/postgres.js';

const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const AGG_TICKS = Number(process.env.BENCH_AGG_TICKS ?? 4_000_000);
const E2E_TICKS = Number(process.env.BENCH_E2E_TICKS ?? 200_000);
const UDF_REQUESTS = Number(process.env.BENCH_UDF_REQUESTS ?? 1_000);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'agg,e2e,udf').split(','));
const SYMBOLS = ['EURUSD', 'GBPUSD', 'USDJPY', 'XAUUSD', 'BTCUSD'];
const MODE: CandleMode = { price: 'bid', volume: 'ticks' };
const START = Date.UTC(2025, 0, 6);

const say = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * Ticks in time order across 5 symbols, `meanGapMs` apart on average (all symbols together):
 * 20 ms is a busy live feed (~10 ticks/s per symbol), 5,000 ms a quiet history where almost every
 * tick opens a new one-second bar.
 */
function orderedTicks(count: number, meanGapMs: number): Tick[] {
  const random = seededRandom(1);
  const gen = new TickGenerator(random);
  const out = new Array<Tick>(count);
  let time = START;
  for (let i = 0; i < count; i++) {
    time += random() * 2 * meanGapMs;
    out[i] = gen.next(SYMBOLS[i % SYMBOLS.length], time);
  }
  return out;
}

/** History replayed out of order: ticks spread over a year and shuffled (the worst case). */
function shuffledHistory(ticks: readonly Tick[]): Tick[] {
  const random = seededRandom(2);
  const out = ticks.map((t) => ({ ...t, time_msc: START + Math.floor(random() * 365 * 86_400_000) }));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function benchAggregation(): void {
  say(`\n== 1. pure aggregation: all 10 resolutions per tick, batches of 5,000, one core`);
  say(`${fmt(AGG_TICKS)} ticks per scenario (shuffled: at most 1,000,000)`);
  // Generated one scenario at a time: a process holding millions of idle ticks would measure the
  // garbage collector walking them, not the aggregation.
  const scenarios: [string, () => Tick[]][] = [
    ['live feed (5 symbols, ~10 ticks/s each)', () => orderedTicks(AGG_TICKS, 20)],
    ['quiet history in time order (~1 tick / 5 s)', () => orderedTicks(AGG_TICKS, 5000)],
    ['shuffled history (a year, random order)', () => shuffledHistory(orderedTicks(Math.min(AGG_TICKS, 1_000_000), 20))],
  ];
  for (const [name, generate] of scenarios) {
    const ticks = generate();
    // One warm-up pass so the figure is the JIT-compiled steady state.
    for (let i = 0; i < Math.min(ticks.length, 500_000); i += 5000) aggregate(ticks.slice(i, i + 5000), MODE);
    const started = performance.now();
    let bars = 0;
    for (let i = 0; i < ticks.length; i += 5000) {
      bars += aggregate(ticks.slice(i, i + 5000), MODE).bars.length;
      if (i % 1_000_000 === 0 && i > 0) say(`  ${name}: ${fmt(i)} ticks...`);
    }
    const seconds = (performance.now() - started) / 1000;
    say(`  ${name}: ${fmt(ticks.length / seconds)} ticks/s (${fmt(ticks.length)} ticks -> ${fmt(bars)} bar updates in ${seconds.toFixed(2)} s)`);
  }
}

/** Publishes `ticks` into the stream, `perMessage` to a message, with confirms; returns the message count. */
async function publishTicks(channel: ConfirmChannel, stream: string, ticks: readonly Tick[], perMessage: number): Promise<number> {
  say(`publishing ${fmt(ticks.length)} ticks, ${perMessage} per message, into ${stream}...`);
  let messages = 0;
  const pubStart = performance.now();
  for (let i = 0; i < ticks.length; i += perMessage) {
    const slice = ticks.slice(i, i + perMessage);
    const body = JSON.stringify(perMessage === 1 ? slice[0] : slice);
    if (!channel.sendToQueue(stream, Buffer.from(body), { contentType: 'application/json' })) await new Promise((r) => channel.once('drain', r));
    messages++;
    if (messages % 20_000 === 0) await channel.waitForConfirms();
  }
  await channel.waitForConfirms();
  say(`  published in ${((performance.now() - pubStart) / 1000).toFixed(1)} s; consuming...`);
  return messages;
}

async function benchEndToEnd(): Promise<void> {
  say(`\n== 2. end to end: RabbitMQ stream -> aggregator -> PostgreSQL`);
  const pg = await freshDatabase('tt_bench_ohlcv');
  const db = new PostgresDatabase(pg.url);
  const id = Date.now().toString(36);
  const names = { exchange: `tt.bench.${id}.ticks`, stream: `tt.bench.${id}.ohlcv` };
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createConfirmChannel();
  try {
    await declareOhlcvStream(channel, names);
    const store = await openCandleStore(db);
    const ticks = orderedTicks(E2E_TICKS, 20);
    for (const perMessage of [1, 50]) {
      const stream = `${names.stream}.${perMessage}`;
      await declareOhlcvStream(channel, { exchange: names.exchange, stream });
      const messages = await publishTicks(channel, stream, ticks, perMessage);

      const aggregator = new CandleAggregator({
        store,
        mode: MODE,
        timeZone: 'UTC',
        log: pino({ level: 'silent' }),
        metrics: new Metrics(false),
        onStored: () => {},
      });
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      let lastReport = performance.now();
      const consumer = new TickStream({
        url: AMQP_URL,
        names: { exchange: names.exchange, stream },
        log: pino({ level: 'silent' }),
        committedOffset: () => store.committedOffset(stream),
        handle: async (batch) => {
          await aggregator.applyStreamBatch(stream, batch);
          const last = batch[batch.length - 1].offset;
          if (performance.now() - lastReport > 1000) {
            lastReport = performance.now();
            say(`  ... ${fmt((last + 1) * perMessage)} ticks committed`);
          }
          if (last === messages - 1) done();
        },
      });
      const started = performance.now();
      await consumer.start();
      await finished;
      const seconds = (performance.now() - started) / 1000;
      await consumer.stop();
      await channel.deleteQueue(stream);
      say(
        `  ${perMessage} tick(s)/message: ${fmt(ticks.length / seconds)} ticks/s (${fmt(messages)} messages in ${seconds.toFixed(2)} s, batches of up to 2,000 messages per transaction)`,
      );
    }
  } finally {
    await channel.deleteQueue(names.stream).catch(() => {});
    await channel.deleteExchange(names.exchange).catch(() => {});
    await connection.close();
    await db.close();
    await pg.drop();
  }
}

/** `elsewhere`: the same database opened again, standing for an aggregator in another process. */
async function benchUdf(name: string, db: Database, elsewhere?: Database): Promise<void> {
  const store = await openCandleStore(db);
  // One tick a minute for 6,000 minutes: 6,000 one-minute bars, of which 5,000 are asked for.
  const gen = new TickGenerator(seededRandom(3));
  const ticks = Array.from({ length: 6000 }, (_, i) => gen.next('EURUSD', START + i * 60_000 + 1234));
  await store.commit(() => ({ bars: aggregate(ticks, MODE).bars, symbols: symbolSightings(ticks) }));
  const app = Fastify();
  // Server-side time too: the client runs in this process and its share of the CPU is in the round trip.
  const serverTimes: number[] = [];
  app.addHook('onResponse', async (_req, reply) => {
    serverTimes.push(reply.elapsedTime);
  });
  await registerUdfRoutes(app, { store });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const to = (START + 6000 * 60_000) / 1000;
  const url = `http://127.0.0.1:${port}/udf/history?symbol=EURUSD&resolution=1&from=${to - 5000 * 60}&to=${to}&countback=5000`;
  const check = (await (await fetch(url)).json()) as { t: number[] };
  if (check.t.length !== 5000) throw new Error(`expected 5000 bars, got ${check.t.length}`);
  // The served answer means exactly what the database builds for the same range.
  const built = await store.barsJson('EURUSD', '1', { to: to * 1000, limit: 5000 });
  assert.deepStrictEqual(check, JSON.parse(`{"s":"ok",${built!.slice(1)}`));
  for (let i = 0; i < 50; i++) await (await fetch(url)).arrayBuffer();
  const q = (list: number[], p: number) => {
    const sorted = [...list].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))].toFixed(2);
  };
  const measure = async (label: string, beforeEach: (i: number) => Promise<unknown>) => {
    const times: number[] = [];
    serverTimes.length = 0;
    for (let i = 0; i < UDF_REQUESTS; i++) {
      await beforeEach(i);
      const started = performance.now();
      await (await fetch(url)).arrayBuffer();
      times.push(performance.now() - started);
      if ((i + 1) % 250 === 0) say(`  ${label}: ${i + 1}/${UDF_REQUESTS} requests...`);
    }
    say(
      `  ${label}: round trip p50 ${q(times, 0.5)} ms, p99 ${q(times, 0.99)} ms, max ${q(times, 1)} ms; ` +
        `in the server p50 ${q(serverTimes, 0.5)} ms, p99 ${q(serverTimes, 0.99)} ms (${UDF_REQUESTS} sequential requests, 5,000 bars each)`,
    );
  };
  await measure(`${name}, series unchanged`, async () => {});
  // A live series: a tick lands in the newest bar before every request (outside the timing). The
  // aggregator of this process updates the cached copy; one in another process makes every answer
  // re-read the series.
  const live = new TickGenerator(seededRandom(4));
  const tickInto = (by: CandleStore) => (i: number) => {
    const late = [live.next('EURUSD', START + 5999 * 60_000 + 2000 + i)];
    return by.commit(() => ({ bars: aggregate(late, MODE).bars, symbols: symbolSightings(late) }));
  };
  await measure(`${name}, a commit in this process before each request`, tickInto(store));
  if (elsewhere) await measure(`${name}, a commit in another process before each request`, tickInto(await openCandleStore(elsewhere)));
  await app.close();
}

async function main(): Promise<void> {
  say(`ohlcv benchmark on Node ${process.version}`);
  if (PARTS.has('agg')) benchAggregation();
  if (PARTS.has('e2e')) await benchEndToEnd();
  if (!PARTS.has('udf')) return;
  say(`\n== 3. /udf/history, 5,000 one-minute bars, over HTTP on 127.0.0.1`);
  const pg = await freshDatabase('tt_bench_udf');
  const postgres = new PostgresDatabase(pg.url);
  const postgresElsewhere = new PostgresDatabase(pg.url);
  try {
    await benchUdf('PostgreSQL', postgres, postgresElsewhere);
  } finally {
    await postgres.close();
    await postgresElsewhere.close();
    await pg.drop();
  }
  const pglite = await PgliteDatabase.open();
  try {
    await benchUdf('PGlite', pglite);
  } finally {
    await pglite.close();
  }
}

await main();
