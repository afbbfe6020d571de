import amqp from 'amqplib';
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Database } from '../../platform/database.js';
import { Metrics } from '../../platform/metrics.js';
import { pino } from 'pino';
import { RESOLUTIONS } from '../../protocol/names.js';
import type { CandleMode } from '../aggregate.js';
import { CandleAggregator } from '../aggregator.js';
import { openCandleStore } from '../store.js';
import { declareOhlcvStream, TickStream, type StreamNames } from '../tick-stream.js';
import { registerUdfRoutes } from '../udf-routes.js';
import type { ReferenceBar } from './reference.js';

export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Exchange and stream of one test run, so parallel suites never share them. */
export function testStreamNames(): StreamNames {
  const id = randomBytes(5).toString('hex');
  return { exchange: `tt.test.${id}.ticks`, stream: `tt.test.${id}.ohlcv` };
}

export async function declareTestStream(names: StreamNames) {
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createConfirmChannel();
  await declareOhlcvStream(channel, names);
  return {
    channel,
    async remove() {
      await channel.deleteQueue(names.stream).catch(() => {});
      await channel.deleteExchange(names.exchange).catch(() => {});
      await connection.close();
    },
  };
}

/** The aggregator as the role wires it (stream in, store out) with UDF on an unlistened fastify. */
export async function startPipeline(db: Database, names: StreamNames, mode: CandleMode, batchSize = 100, connectionName?: string) {
  const log = pino({ level: 'silent' });
  const store = await openCandleStore(db);
  const aggregator = new CandleAggregator({ store, mode, timeZone: 'UTC', log, metrics: new Metrics(false), onStored: () => {} });
  const stream = new TickStream({
    url: AMQP_URL,
    names,
    log,
    batchSize,
    batchDelayMs: 10,
    committedOffset: () => store.committedOffset(names.stream),
    handle: (batch) => aggregator.applyStreamBatch(names.stream, batch),
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    connectionName,
  });
  await stream.start();
  const app = Fastify();
  await registerUdfRoutes(app, { store });
  return {
    store,
    app,
    async stop() {
      await stream.stop();
      await app.close();
    },
  };
}

/** Every series, read back over `/udf/history`, in the reference's shape (times in ms). */
export async function seriesOverUdf(app: FastifyInstance, symbols: Iterable<string>): Promise<Map<string, ReferenceBar[]>> {
  const out = new Map<string, ReferenceBar[]>();
  for (const symbol of symbols) {
    for (const res of RESOLUTIONS) {
      const res_ = await app.inject({ method: 'GET', url: `/udf/history?symbol=${symbol}&resolution=${res}&from=-99999999999&to=7258118400` });
      const body = res_.json<{ s: string; t: number[]; o: number[]; h: number[]; l: number[]; c: number[]; v: number[] }>();
      if (body.s !== 'ok' && body.s !== 'no_data') throw new Error(`history ${symbol} ${res}: ${res_.body}`);
      out.set(
        `${symbol}|${res}`,
        body.s === 'ok'
          ? body.t.map((t, i) => ({ time: t * 1000, open: body.o[i], high: body.h[i], low: body.l[i], close: body.c[i], volume: body.v[i] }))
          : [],
      );
    }
  }
  return out;
}

export type Pipeline = Awaited<ReturnType<typeof startPipeline>>;
