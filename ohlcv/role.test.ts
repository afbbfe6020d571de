import { afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import Fastify from 'fastify';
import { pino } from 'pino';
import type { RoleContext } from '../platform/context.js';
import type { Database } from '../platform/database.js';
import { PgliteDatabase } from '../platform/pglite-database.js';
import { Health } from '../platform/health.js';
import { Metrics } from '../platform/metrics.js';
import { Shutdown } from '../platform/shutdown.js';
import { TickHub } from '../platform/tick-hub.js';
import { loadConfig } from '../protocol/config.js';
import type { Tick } from '../protocol/tick.js';
import { listQueues, privateVhost } from '../bridges/testing/rabbitmq.js';
import { waitFor } from './testing/feed.js';
import { startOhlcvRole } from './role.js';

type Published = Map<string, { payload: unknown; retain: boolean }>;

function roleContext(db: Database, env: Record<string, string> = {}) {
  const log = pino({ level: 'silent' });
  const published: Published = new Map();
  const ctx: RoleContext = {
    config: loadConfig({ SYMBOLS: 'EURUSD,GBPUSD', ...env }),
    engines: { cluster: 'memory', database: 'postgres', feed: env.AMQP_URL ? 'rabbitmq' : 'simulator' },
    log,
    metrics: new Metrics(false),
    health: new Health(),
    http: Fastify(),
    shutdown: new Shutdown(log),
    mqtt: {
      publish: async (topic, payload, opts) => void published.set(topic, { payload: JSON.parse(String(payload)), retain: opts.retain }),
      publishTicks: () => {},
    },
    ticks: new TickHub(),
    auth: {} as RoleContext['auth'],
    database: async () => db,
  };
  return { ctx, published };
}

const tick = (time_msc: number, bid: number): Tick => ({ symbol: 'EURUSD', time_msc, bid, ask: bid + 0.0001, last: 0, volume: 0, flags: 6 });
const T = Date.UTC(2025, 0, 6, 10, 0, 0);

describe('ohlcv role', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('aggregates the in-process feed and publishes retained forming bars, corrected by late ticks', async () => {
    const db = await PgliteDatabase.open();
    const { ctx, published } = roleContext(db);
    cleanups.push(
      () => db.close(),
      () => ctx.shutdown.run(),
    );
    await startOhlcvRole(ctx);

    ctx.ticks.publish([tick(T + 100, 1.1), tick(T + 61_000, 1.2)]);
    await waitFor(async () => (published.get('candles/EURUSD/1') as { payload: { time: number } } | undefined)?.payload.time === (T + 60_000) / 1000);
    expect(published.get('candles/EURUSD/1D')).toEqual({
      retain: true,
      payload: { time: Date.UTC(2025, 0, 6) / 1000, open: 1.1, high: 1.2, low: 1.1, close: 1.2, volume: 2 },
    });

    // A late tick for the first minute is stored, re-published, and the forming bar stays retained.
    ctx.ticks.publish([tick(T + 50, 1.05)]);
    await waitFor(async () => (published.get('candles/EURUSD/1D')?.payload as { volume: number }).volume === 3);
    expect(published.get('candles/EURUSD/1D')?.payload).toMatchObject({ open: 1.05, low: 1.05, close: 1.2 });
    expect(published.get('candles/EURUSD/1')?.payload).toMatchObject({ time: (T + 60_000) / 1000 });
    expect((await ctx.health.readiness()).ready).toBe(true);
  });

  it('consumes its stream on mt.ticks when AMQP_URL is set, and reports RabbitMQ readiness', async () => {
    const vhost = await privateVhost('tt_ohlcv');
    const db = await PgliteDatabase.open();
    const { ctx, published } = roleContext(db, { AMQP_URL: vhost.url });
    cleanups.push(
      vhost.drop,
      () => db.close(),
      () => ctx.shutdown.run(),
    );
    await startOhlcvRole(ctx);
    await waitFor(async () => (await ctx.health.readiness()).ready);

    const connection = await amqp.connect(vhost.url);
    cleanups.push(() => connection.close());
    const channel = await connection.createConfirmChannel();
    channel.publish('mt.ticks', 'mt5.GBPUSD', Buffer.from(JSON.stringify({ time_msc: T, bid: 1.27, ask: 1.2702 })), {
      contentType: 'application/json',
    });
    channel.publish('mt.ticks', 'mt5.GBPUSD', Buffer.from('not json'), { contentType: 'application/json' });
    channel.publish('mt.ticks', 'mt5.GBPUSD', Buffer.from('GBPUSD:|:1.28;1.2802'), { contentType: 'text/plain', timestamp: (T + 1000) / 1000 });
    await channel.waitForConfirms();

    await waitFor(async () => (published.get('candles/GBPUSD/1S')?.payload as { time: number } | undefined)?.time === (T + 1000) / 1000);
    expect(published.get('candles/GBPUSD/1')?.payload).toEqual({ time: T / 1000, open: 1.27, high: 1.28, low: 1.27, close: 1.28, volume: 2 });
    const queues = await listQueues(vhost.name);
    expect(queues.find((q) => q.name === 'ticktalk.ohlcv.ticks')?.arguments).toMatchObject({ 'x-queue-type': 'stream' });
  });
});
