import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateVhost } from '../../bridges/testing/rabbitmq.js';
import { until } from '../../bridges/testing/wait.js';
import { TickBridge } from '../../bridges/tick-bridge.js';
import { TICK_TOPOLOGY } from '../../bridges/topology.js';
import { Health } from '../../platform/health.js';
import { Metrics } from '../../platform/metrics.js';
import { TickHub } from '../../platform/tick-hub.js';
import type { Tick } from '../../protocol/tick.js';
import { UsageError } from '../args.js';
import { command as feedSim } from './feed-sim.js';

describe('ticktalk feed-sim (RabbitMQ, private vhost)', () => {
  let vhost: Awaited<ReturnType<typeof privateVhost>>;
  let bridge: TickBridge;
  let tap: amqp.ChannelModel;
  const metrics = new Metrics(false);
  const ticks: Tick[] = [];
  const raw: amqp.ConsumeMessage[] = [];

  beforeAll(async () => {
    vhost = await privateVhost('tt_feedsim');
    const hub = new TickHub();
    hub.subscribe((batch) => ticks.push(...batch));
    const health = new Health();
    bridge = new TickBridge({ url: vhost.url, timeZone: 'UTC', log: pino({ level: 'silent' }), metrics, health });
    await bridge.start(hub);
    await until(async () => (await health.readiness()).ready, 'the tick bridge to consume');
    // A second queue on the exchange shows the raw messages the tool wrote.
    tap = await amqp.connect(vhost.url);
    const channel = await tap.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, TICK_TOPOLOGY.exchange, '#');
    await channel.consume(queue, (msg) => msg && raw.push(msg), { noAck: true });
  });

  afterAll(async () => {
    await tap?.close();
    await bridge?.stop();
    await vhost?.drop();
  });

  const rejected = async () => (await metrics.registry.getSingleMetric('ticktalk_tick_bridge_ticks_rejected_total')?.get())?.values.length ?? 0;

  it('publishes JSON ticks the bridge accepts, for each symbol, with confirms', async () => {
    expect(await feedSim.run(['--amqp', vhost.url, '--symbols', 'EURUSD,XAUUSD', '--rate', '40', '--duration', '1'])).toBe(0);
    await until(() => raw.length > 0 && ticks.length === raw.length, 'the bridge to deliver what was published');
    expect(new Set(raw.map((m) => m.fields.routingKey))).toEqual(new Set(['sim.EURUSD', 'sim.XAUUSD']));
    expect(raw.every((m) => m.properties.contentType === 'application/json')).toBe(true);
    expect(new Set(ticks.map((t) => t.symbol))).toEqual(new Set(['EURUSD', 'XAUUSD']));
    expect(await rejected()).toBe(0);
  });

  it('publishes the DWX text form under another feed name', async () => {
    raw.length = 0;
    ticks.length = 0;
    expect(
      await feedSim.run(['--amqp', vhost.url, '--symbols', 'USDJPY', '--rate', '40', '--duration', '0.5', '--format', 'dwx', '--feed', 'dwx']),
    ).toBe(0);
    // Under load, a tick of the JSON run above may still arrive after the arrays were cleared.
    const thisRun = () => raw.filter((m) => !m.fields.routingKey.startsWith('sim.'));
    await until(() => thisRun().length > 0 && ticks.length === raw.length, 'the bridge to deliver what was published');
    expect(thisRun().every((m) => m.fields.routingKey === 'dwx.USDJPY' && m.properties.contentType === 'text/plain')).toBe(true);
    expect(thisRun().every((m) => /^USDJPY:\|:\d+\.\d{1,3};\d+\.\d{1,3}$/.test(m.content.toString()))).toBe(true);
    expect(await rejected()).toBe(0);
  });

  it('refuses bad arguments and reports an unreachable RabbitMQ', async () => {
    await expect(feedSim.run(['--amqp', vhost.url, '--rate', '-1'])).rejects.toThrow(UsageError);
    await expect(feedSim.run(['--amqp', vhost.url, '--format', 'xml'])).rejects.toThrow(/--format is json or dwx/);
    await expect(feedSim.run(['--amqp', vhost.url, '--symbols', 'EUR/USD'])).rejects.toThrow(/--symbols/);
    await expect(feedSim.run(['--amqp', vhost.url, '--feed', 'a.b'])).rejects.toThrow(/--feed/);
    await expect(feedSim.run(['--amqp', vhost.url, '--bogus'])).rejects.toThrow(UsageError);
    expect(await feedSim.run(['--amqp', 'amqp://guest:guest@127.0.0.1:1', '--duration', '1'])).toBe(1);
  });
});
