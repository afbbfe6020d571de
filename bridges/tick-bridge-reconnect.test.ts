import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health } from '../platform/health.js';
import { Metrics } from '../platform/metrics.js';
import { TickHub } from '../platform/tick-hub.js';
import type { Tick } from '../protocol/tick.js';
import { startPrivateRabbit, type PrivateRabbit } from './testing/private-rabbit.js';
import { TickBridge } from './tick-bridge.js';
import { TICK_TOPOLOGY } from './topology.js';

describe('TickBridge reconnect (private RabbitMQ node)', () => {
  let rabbit: PrivateRabbit;

  beforeAll(async () => {
    rabbit = await startPrivateRabbit();
  });

  afterAll(async () => {
    await rabbit?.stop();
  });

  it('reports not ready while RabbitMQ is away, then reconnects and resumes; re-declares a deleted queue', async () => {
    const hub = new TickHub();
    const health = new Health();
    const metrics = new Metrics(false);
    const ticks: Tick[] = [];
    hub.subscribe((batch) => ticks.push(...batch));
    const bridge = new TickBridge({
      url: rabbit.url,
      timeZone: 'UTC',
      log: pino({ level: 'silent' }),
      metrics,
      health,
      reconnect: { initialDelayMs: 50, maxDelayMs: 400 },
    });
    const ready = () => health.readiness().then((r) => r.ready);
    const sendTick = async (bid: number) => {
      const feed = await amqp.connect(rabbit.url);
      const channel = await feed.createConfirmChannel();
      channel.publish(TICK_TOPOLOGY.exchange, 'mt5.EURUSD', Buffer.from(JSON.stringify({ time_msc: 1735776000351, bid, ask: bid })));
      await channel.waitForConfirms();
      await feed.close();
    };

    try {
      await bridge.start(hub);
      await expect.poll(ready, { timeout: 10_000 }).toBe(true);
      await sendTick(1.1);
      await expect.poll(() => ticks.map((t) => t.bid)).toEqual([1.1]);

      await rabbit.stopApp();
      await expect.poll(ready, { timeout: 10_000 }).toBe(false);
      // Several attempts fail while it is away; the bridge keeps trying.
      await expect
        .poll(async () => (await metrics.registry.getSingleMetricAsString('ticktalk_tick_bridge_reconnects_total')).match(/ (\d+)$/m)?.[1], {
          timeout: 10_000,
        })
        .toMatch(/^([3-9]|\d\d+)$/);

      await rabbit.startApp();
      await expect.poll(ready, { timeout: 15_000 }).toBe(true);
      await sendTick(1.2);
      await expect.poll(() => ticks.map((t) => t.bid)).toEqual([1.1, 1.2]);

      // An operator deletes the queue under it: the consumer is cancelled, the bridge reconnects and
      // declares the queue and its binding again.
      const admin = await amqp.connect(rabbit.url);
      await (await admin.createChannel()).deleteQueue(TICK_TOPOLOGY.bridgeQueue);
      await admin.close();
      await expect
        .poll(
          async () => {
            await sendTick(1.3);
            return ticks.some((t) => t.bid === 1.3);
          },
          { timeout: 10_000, interval: 200 },
        )
        .toBe(true);
    } finally {
      await bridge.stop();
    }
  });
});
