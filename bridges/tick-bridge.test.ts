import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health } from '../platform/health.js';
import { Metrics } from '../platform/metrics.js';
import { TickHub } from '../platform/tick-hub.js';
import type { Tick } from '../protocol/tick.js';
import { MAX_TICK_BODY_BYTES } from './tick-body.js';
import { closeConnectionNamed, privateVhost } from './testing/rabbitmq.js';
import { TickBridge } from './tick-bridge.js';
import { TICK_TOPOLOGY } from './topology.js';

const log = pino({ level: 'silent' });

/** A bridge with its own hub, health and metrics, recording every tick it delivers. */
function bridgeUnderTest(url: string, name: string, timeZone = 'UTC') {
  const hub = new TickHub();
  const health = new Health();
  const metrics = new Metrics(false);
  const ticks: Tick[] = [];
  hub.subscribe((batch) => ticks.push(...batch));
  const bridge = new TickBridge({ url, timeZone, log, metrics, health, connectionName: name, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
  const ready = async () => expect.poll(async () => (await health.readiness()).ready, { timeout: 10_000 }).toBe(true);
  return { bridge, hub, health, metrics, ticks, ready, start: () => bridge.start(hub) };
}

type BridgeUnderTest = ReturnType<typeof bridgeUnderTest>;

const GOOD = { time_msc: 1735776000351, bid: 1.1, ask: 1.2 };

/** Poison messages, each with the reason it is dead-lettered with. */
const BAD: { name: string; key: string; body: Buffer; props?: amqp.Options.Publish; reason: RegExp }[] = [
  {
    name: 'not finite',
    key: 'mt5.EURUSD',
    body: Buffer.from('{"time_msc": 1735776000351, "bid": NaN, "ask": 1.2}'),
    reason: /#0 bid: not a finite number \(NaN\)/,
  },
  { name: 'not positive', key: 'mt5.EURUSD', body: Buffer.from(JSON.stringify({ ...GOOD, bid: -1 })), reason: /bid: must be positive/ },
  { name: 'ask < bid', key: 'mt5.EURUSD', body: Buffer.from(JSON.stringify({ ...GOOD, ask: 1.0 })), reason: /ask: must not be below bid/ },
  { name: 'wrong type', key: 'mt5.EURUSD', body: Buffer.from(JSON.stringify({ ...GOOD, flags: 'six' })), reason: /flags: must be a number/ },
  { name: 'wildcard symbol', key: 'mt5.EUR#', body: Buffer.from(JSON.stringify(GOOD)), reason: /routing key symbol: "EUR#"/ },
  { name: 'non-UTF-8', key: 'mt5.EURUSD', body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), reason: /not valid UTF-8/ },
  {
    name: '10 MB',
    key: 'mt5.EURUSD',
    body: Buffer.alloc(10 * 1024 * 1024, 0x20),
    reason: new RegExp(`exceeds the limit of ${MAX_TICK_BODY_BYTES} bytes`),
  },
  { name: 'empty array', key: 'mt5.EURUSD', body: Buffer.from('[]'), reason: /empty array/ },
  {
    name: 'not JSON',
    key: 'mt5.EURUSD',
    body: Buffer.from('{"bid": 1.1,'),
    props: { contentType: 'application/json' },
    reason: /body is not JSON/,
  },
];

describe('TickBridge (RabbitMQ, private vhost)', () => {
  let vhost: Awaited<ReturnType<typeof privateVhost>>;
  let feed: amqp.ChannelModel;
  let channel: amqp.ConfirmChannel;
  const started: TickBridge[] = [];

  /** Publishes the way a Python pika feed does: raw bytes, optional content type, confirmed. */
  const publish = async (routingKey: string, body: string | Buffer, props: amqp.Options.Publish = {}) => {
    channel.publish(TICK_TOPOLOGY.exchange, routingKey, typeof body === 'string' ? Buffer.from(body) : body, props);
    await channel.waitForConfirms();
  };

  beforeAll(async () => {
    vhost = await privateVhost('tt_bridge');
    feed = await amqp.connect(vhost.url);
    channel = await feed.createConfirmChannel();
    await channel.assertExchange(TICK_TOPOLOGY.exchange, 'topic', { durable: true });
  });

  afterAll(async () => {
    for (const bridge of started) await bridge.stop();
    await feed?.close();
    await vhost?.drop();
  });

  /** json.dumps({...}) with pika's default BasicProperties (no content type), EET server time. */
  const expectPythonFeedDelivered = async (b: BridgeUnderTest) => {
    await publish('mt5.EURUSD', '{"time_msc": 1735776000351, "bid": 1.03512, "ask": 1.03524, "last": 0.0, "volume": 0, "flags": 6}');
    await publish(
      'mt5.XAUUSD',
      JSON.stringify([
        { time: 1751371200.25, bid: 3301.45, ask: 3301.72, volume_real: 0.5 },
        { symbol: 'BTCUSD', time_msc: 1751371200300, bid: 107123.45, ask: 107138.9, last: 107130.1, volume: 2, flags: 30 },
      ]),
      { contentType: 'application/json' },
    );
    await publish('dwx.EURUSD', 'GBPUSD:|:1.27012;1.27025', { contentType: 'text/plain' });

    await expect.poll(() => b.ticks.length).toBe(4);
    expect(b.ticks.slice(0, 3)).toEqual([
      { symbol: 'EURUSD', time_msc: Date.UTC(2025, 0, 1, 22, 0, 0, 351), bid: 1.03512, ask: 1.03524, last: 0, volume: 0, flags: 6 },
      { symbol: 'XAUUSD', time_msc: 1751371200250 - 3 * 3_600_000, bid: 3301.45, ask: 3301.72, last: 0, volume: 0, volume_real: 0.5, flags: 0 },
      { symbol: 'BTCUSD', time_msc: 1751371200300 - 3 * 3_600_000, bid: 107123.45, ask: 107138.9, last: 107130.1, volume: 2, flags: 30 },
    ]);
    expect(b.ticks[3]).toMatchObject({ symbol: 'GBPUSD', bid: 1.27012, ask: 1.27025, flags: 6 });
  };

  /** The poison messages, then a batch with one bad tick (the good ones still arrive), then a good tick. */
  const publishBadInput = async () => {
    for (const { key, body, props } of BAD) {
      await publish(key, body, { ...props, headers: { 'x-feed': 'pytest' }, messageId: `m-${key}` });
    }
    await publish(
      'mt5.USDJPY',
      JSON.stringify([
        { ...GOOD, bid: 157.1, ask: 157.2 },
        { ...GOOD, bid: 0 },
        { ...GOOD, bid: 157.3, ask: 157.4 },
      ]),
    );
    // And the bridge is still consuming afterwards.
    await publish('mt5.EURUSD', JSON.stringify({ ...GOOD, bid: 1.15, ask: 1.16 }));
  };

  /** Each poison message as it was published, with the reason; the batch with the bad tick's. */
  const expectDeadLettered = async () => {
    const dead = await collectDeadLetters(BAD.length + 1);
    for (const [i, expected] of BAD.entries()) {
      const msg = dead[i];
      expect(msg.content.equals(expected.body), expected.name).toBe(true);
      expect(msg.fields.routingKey).toBe(expected.key);
      expect(msg.properties.headers?.['x-feed']).toBe('pytest');
      expect(msg.properties.messageId).toBe(`m-${expected.key}`);
      expect(String(msg.properties.headers?.['x-ticktalk-error']), expected.name).toMatch(expected.reason);
    }
    expect(String(dead[BAD.length].properties.headers?.['x-ticktalk-error'])).toBe('1 of 3 ticks rejected: #1 bid: must be positive');
  };

  /** Nothing is left unacknowledged: the poison messages did not block the queue; and the counts. */
  const expectAllAckedAndCounted = async (b: BridgeUnderTest) => {
    await expect.poll(async () => (await channel.checkQueue(TICK_TOPOLOGY.bridgeQueue)).messageCount).toBe(0);
    const metrics = await b.metrics.registry.getMetricsAsJSON();
    const value = (name: string, labels: Record<string, string> = {}) =>
      metrics.find((m) => m.name === `ticktalk_${name}`)?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
    expect(value('tick_bridge_messages_total')).toBe(14);
    expect(value('tick_bridge_ticks_accepted_total')).toBe(7);
    expect(value('tick_bridge_dead_letters_total')).toBe(10);
    expect(value('tick_bridge_ticks_rejected_total', { reason: 'not_finite' })).toBe(1);
    expect(value('tick_bridge_ticks_rejected_total', { reason: 'too_large' })).toBe(1);
    expect(value('tick_bridge_ticks_rejected_total', { reason: 'invalid_price' })).toBe(2);
    expect(value('tick_bridge_consumer_state')).toBe(1);
  };

  it('delivers what a Python feed publishes with exact values, dead-letters bad input with the reason, and keeps running', async () => {
    const b = bridgeUnderTest(vhost.url, `tt-bridge-main-${vhost.name}`, 'Europe/Athens');
    started.push(b.bridge);
    await b.start();
    await b.ready();
    await expectPythonFeedDelivered(b);

    await publishBadInput();
    await expect.poll(() => b.ticks.length, { timeout: 10_000 }).toBe(7);
    expect(b.ticks.slice(4).map((t) => [t.symbol, t.bid])).toEqual([
      ['USDJPY', 157.1],
      ['USDJPY', 157.3],
      ['EURUSD', 1.15],
    ]);
    await expectDeadLettered();
    await expectAllAckedAndCounted(b);

    await b.bridge.stop();
    expect((await b.health.readiness()).ready).toBe(false);
  });

  it('a standby bridge on the same queue takes over when the active one dies (single active consumer)', async () => {
    const a = bridgeUnderTest(vhost.url, `tt-bridge-a-${vhost.name}`);
    const b = bridgeUnderTest(vhost.url, `tt-bridge-b-${vhost.name}`);
    started.push(a.bridge, b.bridge);
    await a.start();
    await a.ready();
    await b.start();
    await b.ready();

    const tick = (bid: number) => JSON.stringify({ time_msc: 1735776000351, bid, ask: bid + 0.0001 });
    for (const bid of [1.1, 1.2, 1.3]) await publish('mt5.EURUSD', tick(bid));
    await expect.poll(() => a.ticks.map((t) => t.bid)).toEqual([1.1, 1.2, 1.3]);
    expect(b.ticks).toEqual([]);

    // RabbitMQ drops the active bridge's connection, as it would when its process dies.
    await closeConnectionNamed(`tt-bridge-a-${vhost.name}`);
    for (const bid of [1.4, 1.5]) await publish('mt5.EURUSD', tick(bid));
    await expect.poll(() => b.ticks.map((t) => t.bid)).toEqual([1.4, 1.5]);

    // The old active one comes back as the standby.
    await a.ready();
    await publish('mt5.EURUSD', tick(1.6));
    await expect.poll(() => b.ticks.map((t) => t.bid)).toEqual([1.4, 1.5, 1.6]);
    expect(a.ticks.map((t) => t.bid)).toEqual([1.1, 1.2, 1.3]);
  });

  it('dead-letters a message it fails to process instead of dying (here: an unknown zone reaches the parser)', async () => {
    const names = { exchange: 'iso.ticks', bridgeQueue: 'iso.bridge', deadExchange: 'iso.ticks.dead', deadQueue: 'iso.dead' };
    const hub = new TickHub();
    const health = new Health();
    const bridge = new TickBridge({ url: vhost.url, timeZone: 'Not/AZone', log, metrics: new Metrics(false), health, names });
    started.push(bridge);
    await bridge.start(hub);
    await expect.poll(async () => (await health.readiness()).ready).toBe(true);
    channel.publish(names.exchange, 'mt5.EURUSD', Buffer.from('{"time_msc":1735776000351,"bid":1.1,"ask":1.2}'));
    await channel.waitForConfirms();
    let dead: amqp.GetMessage | false = false;
    await expect.poll(async () => (dead = await channel.get(names.deadQueue, { noAck: true }))).toBeTruthy();
    expect(String((dead as unknown as amqp.GetMessage).properties.headers?.['x-ticktalk-error'])).toMatch(
      /^message rejected: internal error: .*time zone/i,
    );
    await expect.poll(async () => (await channel.checkQueue(names.bridgeQueue)).messageCount).toBe(0);
    expect((await health.readiness()).ready).toBe(true);
  });

  async function collectDeadLetters(count: number): Promise<amqp.GetMessage[]> {
    const out: amqp.GetMessage[] = [];
    await expect
      .poll(
        async () => {
          const msg = await channel.get(TICK_TOPOLOGY.deadQueue, { noAck: true });
          if (msg) out.push(msg);
          return out.length;
        },
        { timeout: 10_000, interval: 20 },
      )
      .toBe(count);
    return out;
  }
});
