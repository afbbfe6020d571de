import type { RoleContext } from '../platform/context.js';
import { candleModeOf } from './aggregate.js';
import { CandleAggregator } from './aggregator.js';
import { HubFeed } from './hub-feed.js';
import { LiveBars } from './live-bars.js';
import { openCandleStore } from './store.js';
import { OHLCV_STREAM, TickStream } from './tick-stream.js';

/** Live bars go out at most this often per series (docs/protocol.md#candles: the forming bar, re-sent as it changes). */
const LIVE_FLUSH_MS = 250;

/**
 * The ohlcv role: candles from every tick, stored, and the forming bars published on
 * `candles/{SYMBOL}/{RES}`. Ticks come from the RabbitMQ stream when AMQP_URL is set, else from the
 * in-process hub (the built-in simulator). UDF routes are registered by the web role
 * (udf-routes.ts), which may run in another process over the same database.
 */
export async function startOhlcvRole(ctx: RoleContext): Promise<void> {
  const log = ctx.log.child({ component: 'ohlcv' });
  const store = await openCandleStore(await ctx.database());
  await store.registerSymbols(ctx.config.SYMBOLS);

  const live = new LiveBars((topic, payload) => {
    ctx.mqtt.publish(topic, payload, { qos: 0, retain: true }).catch((err: unknown) => log.warn({ err, topic }, 'live bar not published'));
  });
  live.seed(await store.newestBars());
  const flushTimer = setInterval(() => live.flush(), LIVE_FLUSH_MS);
  // Registered before the source so it runs after it on shutdown: the last commit's bars go out.
  ctx.shutdown.add('ohlcv-live-bars', async () => {
    clearInterval(flushTimer);
    live.flush();
  });

  const aggregator = new CandleAggregator({
    store,
    mode: candleModeOf(ctx.config),
    timeZone: ctx.config.FEED_TIMEZONE,
    log,
    metrics: ctx.metrics,
    onStored: (bars) => live.update(bars),
  });

  const amqpUrl = ctx.engines.feed === 'rabbitmq' ? ctx.config.AMQP_URL : undefined;
  if (amqpUrl) {
    const stream = new TickStream({
      url: amqpUrl,
      log,
      committedOffset: () => store.committedOffset(OHLCV_STREAM),
      handle: (batch) => aggregator.applyStreamBatch(OHLCV_STREAM, batch),
    });
    await stream.start();
    ctx.health.addCheck('ohlcv-rabbitmq', () => stream.connected);
    ctx.shutdown.add('ohlcv-aggregator', () => stream.stop());
    log.info({ stream: OHLCV_STREAM }, 'ohlcv aggregating from RabbitMQ');
  } else {
    const feed = new HubFeed({ hub: ctx.ticks, apply: (ticks) => aggregator.applyTicks(ticks), log });
    feed.start();
    ctx.shutdown.add('ohlcv-aggregator', () => feed.stop());
    log.info('ohlcv aggregating from the in-process feed');
  }
}
