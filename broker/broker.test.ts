import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import { SignJWT, UnsecuredJWT } from 'jose';
import type { MqttClient } from 'mqtt';
import { nextMessage, startTestApp, TEST_SECRET, type TestApp } from '../test/testing/app.js';
import { connectPacket, rawClient } from '../test/testing/raw-mqtt.js';
import { startTopology, TOPOLOGIES, type Topology } from '../test/testing/topology.js';

const connect = connectPacket;

const isClosedWithin = (closed: Promise<void>, ms: number) =>
  Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

/**
 * On one node and on two over Redis: `app.connect()` spreads clients over the nodes, `app.ctx` and
 * the raw clients are node 0's unless a test picks a node with `app.at(i)`.
 */
describe.each(TOPOLOGIES)('broker over real sockets (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind, { MQTT_MAX_SUBSCRIPTIONS: '5', MQTT_MAX_PACKET: '4096' });
  });
  afterAll(() => app.stop());

  it('anonymous clients get retained ticks, with the retained flag on the late subscription', async () => {
    app.ctx.mqtt.publishTicks([{ symbol: 'EURUSD', time_msc: 1_700_000_000_123, bid: 1.08312, ask: 1.08325, last: 0, volume: 0, flags: 6 }]);
    // A subscriber on another node finds it once node 0 has stored it (within 50 ms: docs/protocol.md#retained-messages-and-slow-subscribers).
    if (app.nodes.length > 1) await new Promise((r) => setTimeout(r, 200));
    const sub = await app.connect();
    const got = nextMessage(sub, 'ticks/EURUSD');
    await sub.subscribeAsync('ticks/+');
    const msg = await got;
    expect(JSON.parse(msg.payload.toString())).toEqual({
      symbol: 'EURUSD',
      time_msc: 1_700_000_000_123,
      bid: 1.08312,
      ask: 1.08325,
      last: 0,
      volume: 0,
      flags: 6,
    });
    expect(msg.retain).toBe(true);
  });

  // Early in the file: its three connections stay within the per-address connect budget of one second.
  // Both latencies are observed on the node that took the tick or stored the message (node 0; see
  // docs/protocol.md#operations-endpoints), whichever node the subscriber is on (node 1 in a cluster).
  it('measures tick latency from the feed timestamp and chat latency from storing, in /metrics', async () => {
    const served = app.at(1);
    const metric = async (name: string, node = app.at(0)) => {
      const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
      return Number(new RegExp(`^ticktalk_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    };
    const sub = await served.connect();
    await sub.subscribeAsync('ticks/AUDUSD');
    const got = nextMessage(sub, 'ticks/AUDUSD');
    // Stamped 3 s ago by its feed: the fan-out must count it as at least that late.
    app.ctx.mqtt.publishTicks([{ symbol: 'AUDUSD', time_msc: Date.now() - 3000, bid: 0.65, ask: 0.6501, last: 0, volume: 0, flags: 6 }]);
    await got;
    await expect.poll(() => metric('tick_latency_seconds_count')).toBeGreaterThan(0);
    expect(await metric('tick_latency_seconds_bucket{le="2.5"}')).toBeLessThan(await metric('tick_latency_seconds_count'));

    const reader = await served.connect({ password: await app.token('lat-reader') });
    await reader.subscribeAsync('chat/rooms/latency', { qos: 1 });
    const message = nextMessage(reader, 'chat/rooms/latency');
    const writer = await app.at(0).connect({ password: await app.token('lat-writer') });
    await writer.publishAsync('chat/rooms/latency', JSON.stringify({ text: 'hi' }), { qos: 1 });
    await message;
    await expect.poll(() => metric('chat_delivery_latency_seconds_count')).toBeGreaterThan(0);
    // In a cluster the reader's node also times the message from its stamp to its own hand-over.
    if (app.nodes.length > 1) await expect.poll(() => metric('chat_cluster_delivery_latency_seconds_count', served)).toBeGreaterThan(0);
    else expect(await metric('chat_cluster_delivery_latency_seconds_count')).toBe(0);
  });

  /** SUBACK return codes as a raw client sees them (mqtt.js turns 0x80 into an exception). */
  async function granted(password: string | undefined, filters: string[]): Promise<number[]> {
    const c = rawClient(app.ports.mqtt!);
    c.send(connect(password ? { username: 'jwt', password: Buffer.from(password) } : {}));
    expect(((await c.waitFor('connack')) as mqttPacket.IConnackPacket).returnCode).toBe(0);
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: 1 as const })) });
    const suback = (await c.waitFor('suback')) as mqttPacket.ISubackPacket;
    c.socket.destroy();
    return suback.granted as number[];
  }

  it('forbidden subscriptions get SUBACK 0x80, allowed ones their QoS', async () => {
    expect(await granted(undefined, ['ticks/EURUSD', 'chat/rooms/lobby', '#', '$SYS/#'])).toEqual([1, 128, 128, 128]);
    expect(
      await granted(await app.token('alice'), ['chat/rooms/lobby', 'chat/dm/+/+', 'chat/dm/alice/bob', 'users/bob/errors', 'users/alice/errors']),
    ).toEqual([1, 128, 1, 128, 1]);
    expect(await granted(await app.token('root', ['admin']), ['$SYS/#', '#'])).toEqual([1, 128]);
  });

  it('bounds subscriptions per client', async () => {
    expect(await granted(undefined, ['ticks/A', 'ticks/B', 'ticks/C', 'ticks/D', 'ticks/E', 'ticks/F'])).toEqual([1, 1, 1, 1, 1, 128]);
  });

  it('refuses bad, expired, unsigned and wrongly signed tokens with CONNACK 5', async () => {
    const none = new UnsecuredJWT({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 60 }).encode();
    for (const password of ['not-a-jwt', none, await app.token('a/b')]) {
      const c = rawClient(app.ports.mqtt!);
      c.send(connect({ username: 'x', password: Buffer.from(password) }));
      const connack = (await c.waitFor('connack')) as mqttPacket.IConnackPacket;
      expect(connack.returnCode).toBe(5);
      await c.closed;
    }
  });

  it('refuses a zero-length client id with clean session false (CONNACK 2)', async () => {
    const c = rawClient(app.ports.mqtt!);
    // Hand-built: client libraries refuse to encode this CONNECT (MQTT-3.1.3-7).
    c.socket.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 30, 0, 0]));
    const connack = (await c.waitFor('connack')) as mqttPacket.IConnackPacket;
    expect(connack.returnCode).toBe(2);
  });

  it('never forwards a publish the client may not make, and keeps the connection', async () => {
    const watcher = await app.connect();
    await watcher.subscribeAsync('ticks/GBPUSD');
    const received: string[] = [];
    watcher.on('message', (t, p) => received.push(p.toString()));
    const trader = await app.connect({ password: await app.token('mallory') });
    await trader.publishAsync('ticks/GBPUSD', '{"fake":true}', { qos: 1 });
    await trader.publishAsync('chat/presence/lobby', '{}', { qos: 1 });
    await trader.publishAsync('users/alice/errors', '{}', { qos: 1 });
    expect(trader.connected).toBe(true);
    app.ctx.mqtt.publishTicks([{ symbol: 'GBPUSD', time_msc: 1, bid: 1.2, ask: 1.3, last: 0, volume: 0, flags: 6 }]);
    await expect.poll(() => received.length).toBe(1);
    expect(JSON.parse(received[0]).bid).toBe(1.2);
  });

  it('garbage, oversized and malformed input close that client only', async () => {
    const bystander = await app.connect();
    await bystander.subscribeAsync('ticks/USDJPY');

    const garbage = rawClient(app.ports.mqtt!);
    garbage.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const oversized = rawClient(app.ports.mqtt!);
    oversized.send(connect());
    await oversized.waitFor('connack');
    oversized.socket.write(Buffer.from([0x30, 0xff, 0xff, 0x7f])); // PUBLISH declaring ~2 MB
    const malformed = rawClient(app.ports.mqtt!);
    malformed.socket.write(Buffer.from([0x10, 0x06, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54])); // CONNECT cut after protocol name

    expect(await isClosedWithin(garbage.closed, 10_000)).toBe(true);
    expect(await isClosedWithin(oversized.closed, 10_000)).toBe(true);
    expect(await isClosedWithin(malformed.closed, 10_000)).toBe(true);

    const got = nextMessage(bystander, 'ticks/USDJPY');
    app.ctx.mqtt.publishTicks([{ symbol: 'USDJPY', time_msc: 2, bid: 150.1, ask: 150.2, last: 0, volume: 0, flags: 6 }]);
    expect(JSON.parse((await got).payload.toString()).bid).toBe(150.1);
  });

  const CONNECT = [0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 30, 0, 0];
  it.each([
    ['MQTT-3.1.0-1: a first packet that is not CONNECT', [[0xc0, 0]]],
    ['MQTT-3.1.0-2: a second CONNECT', [CONNECT, CONNECT]],
    ['MQTT-3.1.2-3: the reserved CONNECT flag set', [[0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x03, 0, 30, 0, 0]]],
    ['MQTT-3.1.2-14: a will QoS of 3', [[0x10, 18, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x1e, 0, 30, 0, 0, 0, 1, 0x74, 0, 1, 0x6d]]],
    ['MQTT-3.3.1-4: a PUBLISH with QoS 3', [CONNECT, [0x36, 5, 0, 1, 0x61, 0, 1]]],
    ['MQTT-3.3.2-2: a PUBLISH topic with a wildcard', [CONNECT, [0x30, 5, 0, 1, 0x23, 0x68, 0x69]]],
    ['MQTT-4.7.3-2: a topic name with U+0000', [CONNECT, [0x30, 6, 0, 2, 0x61, 0x00, 0x68, 0x69]]],
    ['MQTT-3.8.1-1: SUBSCRIBE with wrong fixed-header flags', [CONNECT, [0x80, 8, 0, 1, 0, 3, 0x61, 0x2f, 0x62, 0]]],
    ['MQTT-3.8.3-3: SUBSCRIBE without a topic filter', [CONNECT, [0x82, 2, 0, 1]]],
    ['MQTT-3.8.3-4: SUBSCRIBE asking for QoS 3', [CONNECT, [0x82, 8, 0, 1, 0, 3, 0x61, 0x2f, 0x62, 3]]],
    ['MQTT-3.10.3-2: UNSUBSCRIBE without a topic filter', [CONNECT, [0xa2, 2, 0, 1]]],
    ['MQTT-2.2.2-2: PINGREQ with flags', [CONNECT, [0xc1, 0]]],
  ])('closes the connection on %s', async (_name, chunks) => {
    const c = rawClient(app.ports.mqtt!);
    for (const chunk of chunks) {
      c.socket.write(Buffer.from(chunk));
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(await isClosedWithin(c.closed, 10_000)).toBe(true);
  });

  it('serves health, readiness and metrics', async () => {
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${app.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${app.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/ticktalk_mqtt_connections \d+/);
    expect(metrics).toMatch(/ticktalk_mqtt_auth_refusals_total\{reason="bad token"\} [1-9]/);
  });
});

describe('keepalive limit', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ MQTT_MAX_KEEPALIVE_S: '1' });
  });
  afterAll(() => app.stop());

  it('holds a client asking for no keepalive to the server limit', async () => {
    const idle = rawClient(app.ports.mqtt!);
    idle.send(connect({ keepalive: 0 }));
    await idle.waitFor('connack');
    // Limit 1 s: the broker reaps a silent client after 1.5 keepalive periods.
    expect(await isClosedWithin(idle.closed, 10_000)).toBe(true);
  });
});

describe('connect flood', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ MQTT_CONNECTS_PER_IP_PER_S: '5' });
  });
  afterAll(() => app.stop());

  it('closes connections over the per-address rate before CONNECT, and serves again next second', async () => {
    const flood = Array.from({ length: 30 }, () => rawClient(app.ports.mqtt!));
    const closed = await Promise.all(flood.map((c) => isClosedWithin(c.closed, 1000)));
    expect(closed.filter(Boolean).length).toBeGreaterThanOrEqual(25);
    flood.forEach((c) => c.socket.destroy());
    await new Promise((r) => setTimeout(r, 1100));
    const ok = await app.connect();
    expect(ok.connected).toBe(true);
  });
});

describe('extensions in the publish path', () => {
  let app: TestApp;
  let failNext = true;
  beforeAll(async () => {
    // Operator rules open an area of the operator's own to anonymous clients.
    const aclFile = join(mkdtempSync(join(tmpdir(), 'ticktalk-acl-')), 'acl');
    writeFileSync(aclFile, 'topic readwrite ext/#\n');
    app = await startTestApp({ ACL_FILE: aclFile });
    app.node.addExtension({
      publishPrefixes: ['ext/'],
      onClientPublish: async (_client, packet) => {
        if (failNext) {
          failNext = false;
          throw new Error('storage unavailable');
        }
        return Buffer.from(`stamped:${packet.payload.toString()}`);
      },
    });
  });
  afterAll(() => app.stop());

  it('closes without PUBACK when the extension fails, and acks the retransmission once it succeeds', async () => {
    const c = rawClient(app.ports.mqtt!);
    c.send(connect());
    await c.waitFor('connack');
    c.send({ cmd: 'publish', topic: 'ext/a', payload: Buffer.from('m1'), qos: 1, messageId: 7, retain: false, dup: false });
    expect(await isClosedWithin(c.closed, 10_000)).toBe(true);
    expect(c.packets.some((p) => p.cmd === 'puback')).toBe(false);

    const retry = rawClient(app.ports.mqtt!);
    retry.send(connect());
    await retry.waitFor('connack');
    retry.send({ cmd: 'publish', topic: 'ext/a', payload: Buffer.from('m1'), qos: 1, messageId: 7, retain: false, dup: true });
    expect(((await retry.waitFor('puback')) as mqttPacket.IPubackPacket).messageId).toBe(7);
    retry.socket.destroy();
  });
});

describe.each(TOPOLOGIES)('persistent sessions belong to their user (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind);
  });
  afterAll(() => app.stop());

  it("reusing someone else's client id resumes nothing of theirs, and their queued messages wait for them", async () => {
    const clientId = 'shared-device-id';
    const perryToken = await app.token('perry');
    const perry = await app.connect({ clientId, clean: false, password: perryToken });
    await perry.subscribeAsync('chat/dm/perry/zoe', { qos: 1 });
    await perry.endAsync();
    await app.ctx.mqtt.publish('chat/dm/perry/zoe', '{"text":"queued secret"}', { qos: 1, retain: false });

    const got: string[] = [];
    const intruder = await app.connect({ clientId, clean: false, password: await app.token('mallory') }, (_t, p) => got.push(p.toString()));
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([]);
    await intruder.endAsync();
    // Anonymous clients keep no sessions at all (CONNACK 5), so none can reach perry's either.
    await expect(app.connect({ clientId, clean: false })).rejects.toMatchObject({ code: 5 });

    const received: string[] = [];
    await app.connect({ clientId, clean: false, password: perryToken }, (_t, p) => received.push(p.toString()));
    await expect.poll(() => received).toEqual(['{"text":"queued secret"}']);
  });
});

describe('token expiry', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.stop());

  it('closes a connection when its token expires', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('shortlived')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(new TextEncoder().encode(TEST_SECRET));
    const c = rawClient(app.ports.mqtt!);
    c.send(connect({ username: 'jwt', password: Buffer.from(token) }));
    expect(((await c.waitFor('connack')) as mqttPacket.IConnackPacket).returnCode).toBe(0);
    expect(await isClosedWithin(c.closed, 10_000)).toBe(true);
  });
});

/** Sessions made on node 0 resume, and subscribers sit, on node 1 in a cluster. */
describe.each(TOPOLOGIES)('persistent sessions keep only granted subscriptions (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind, { MQTT_MAX_SUBSCRIPTIONS: '2' });
  });
  afterAll(() => app.stop());

  it('a refused filter in the same SUBSCRIBE is never stored, so nothing is queued on it', async () => {
    const eveToken = await app.token('eve');
    const eve = rawClient(app.ports.mqtt!);
    eve.send(connect({ clientId: 'eve-phone', clean: false, username: 'jwt', password: Buffer.from(eveToken) }));
    await eve.waitFor('connack');
    eve.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'chat/rooms/lobby', qos: 1 },
        { topic: 'chat/dm/+/+', qos: 1 },
      ],
    });
    expect(((await eve.waitFor('suback')) as mqttPacket.ISubackPacket).granted).toEqual([1, 128]);
    eve.send({ cmd: 'disconnect' });
    await eve.closed;

    await app.ctx.mqtt.publish('chat/dm/bob/carol', '{"text":"private"}', { qos: 1, retain: false });
    await app.ctx.mqtt.publish('chat/rooms/lobby', '{"text":"public"}', { qos: 1, retain: false });

    const got: string[] = [];
    await app.connect({ clientId: 'eve-phone', clean: false, password: eveToken }, (t) => got.push(t));
    await expect.poll(() => got).toEqual(['chat/rooms/lobby']);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(['chat/rooms/lobby']);
  });

  it('a resumed session gets again only the QoS 1 messages it had not acknowledged', async () => {
    const token = await app.token('ivy');
    const first = rawClient(app.ports.mqtt!);
    first.send(connect({ clientId: 'ivy-phone', clean: false, username: 'jwt', password: Buffer.from(token) }));
    await first.waitFor('connack');
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'chat/rooms/acks', qos: 1 }] });
    await first.waitFor('suback');
    await app.ctx.mqtt.publish('chat/rooms/acks', '{"text":"acked"}', { qos: 1, retain: false });
    const acked = (await first.waitFor('publish')) as mqttPacket.IPublishPacket;
    first.send({ cmd: 'puback', messageId: acked.messageId! });
    first.packets.length = 0;
    await app.ctx.mqtt.publish('chat/rooms/acks', '{"text":"not acked"}', { qos: 1, retain: false });
    await first.waitFor('publish');
    first.socket.destroy();
    await first.closed;

    const again = rawClient(app.at(1).ports.mqtt!);
    again.send(connect({ clientId: 'ivy-phone', clean: false, username: 'jwt', password: Buffer.from(token) }));
    await again.waitFor('connack');
    await again.waitFor('publish');
    await new Promise((r) => setTimeout(r, 300));
    const resent = again.packets.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish');
    expect(resent.map((p) => p.payload.toString())).toEqual(['{"text":"not acked"}']);
    again.socket.destroy();
  });

  it("delivers a message once however many of a client's filters match it, and at no more than the QoS subscribed", async () => {
    const signedIn = async (clientId: string, token: string) => {
      const c = rawClient(app.at(1).ports.mqtt!);
      c.send(connect({ clientId, username: 'jwt', password: Buffer.from(token) }));
      await c.waitFor('connack');
      return c;
    };
    const moderator = await signedIn('mo-desk', await app.token('mo', ['moderator']));
    moderator.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'chat/rooms/+', qos: 1 },
        { topic: 'chat/rooms/overlap', qos: 1 },
      ],
    });
    const quiet = await signedIn('quiet-desk', await app.token('quinn'));
    quiet.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'chat/rooms/overlap', qos: 0 }] });
    await Promise.all([moderator.waitFor('suback'), quiet.waitFor('suback')]);
    await app.ctx.mqtt.publish('chat/rooms/overlap', '{"n":1}', { qos: 1, retain: false });
    await app.ctx.mqtt.publish('chat/rooms/other', '{"n":2}', { qos: 1, retain: false });
    const publishes = (c: typeof quiet) => c.packets.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish');
    await expect.poll(() => publishes(moderator).length).toBe(2);
    await expect.poll(() => publishes(quiet).length).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    const [first, second] = publishes(moderator);
    expect([first, second].map((p) => [p.topic, p.payload.toString(), p.qos])).toEqual([
      ['chat/rooms/overlap', '{"n":1}', 1],
      ['chat/rooms/other', '{"n":2}', 1],
    ]);
    expect(first.messageId).not.toBe(second.messageId);
    // Subscribed at QoS 0: delivered at QoS 0, without a packet id.
    expect(publishes(quiet).map((p) => [p.topic, p.qos, p.messageId])).toEqual([['chat/rooms/overlap', 0, undefined]]);
    moderator.socket.destroy();
    quiet.socket.destroy();
  });

  it('the subscription cap holds for persistent sessions too, and a filter already held can be renewed', async () => {
    const c = rawClient(app.ports.mqtt!);
    c.send(connect({ clientId: 'capped', clean: false, username: 'jwt', password: Buffer.from(await app.token('capped')) }));
    await c.waitFor('connack');
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: ['ticks/A', 'ticks/B', 'ticks/C'].map((topic) => ({ topic, qos: 0 as const })) });
    expect(((await c.waitFor('suback')) as mqttPacket.ISubackPacket).granted).toEqual([0, 0, 128]);
    c.packets.length = 0;
    c.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'ticks/A', qos: 0 }] });
    expect(((await c.waitFor('suback')) as mqttPacket.ISubackPacket).granted).toEqual([0]);
    c.socket.destroy();
  });
});

describe.each(TOPOLOGIES)('operator rules (ACL_FILE) as Mosquitto applies them (%s)', (kind) => {
  let app: Topology;
  const settle = () => new Promise((r) => setTimeout(r, 300));
  /** The SUBACK's return codes (mqtt.js rejects a SUBACK with 0x80, carrying the packet). */
  const subackCodes = (c: MqttClient, filter: string) =>
    c.subscribeAsync(filter, { qos: 1 }).then(
      (grants) => grants.map((g) => g.qos),
      (err: { packet: mqttPacket.ISubackPacket }) => err.packet.granted,
    );
  beforeAll(async () => {
    const aclFile = join(mkdtempSync(join(tmpdir(), 'ticktalk-acl-')), 'acl');
    writeFileSync(
      aclFile,
      ['user reader', 'topic read apps/#', 'topic deny apps/test/nosubscribe', 'user writer', 'topic write apps/#', ''].join('\n'),
    );
    app = await startTopology(kind, { ACL_FILE: aclFile });
  });
  afterAll(() => app.stop());

  it('grants a wildcard that reaches a denied topic, and withholds only that topic live (QoS 0 and 1)', async () => {
    const got: string[] = [];
    const reader = await app.connect({ password: await app.token('reader') }, (t, p) => got.push(`${t} ${p.toString()}`));
    expect(await subackCodes(reader, 'apps/+/+')).toEqual([1]);
    const writer = await app.connect({ password: await app.token('writer') });
    for (const qos of [0, 1] as const) {
      await writer.publishAsync('apps/test/nosubscribe', `denied q${qos}`, { qos });
      await writer.publishAsync('apps/test/ok', `ok q${qos}`, { qos });
    }
    await expect.poll(() => got.length).toBe(2);
    await settle();
    expect(got).toEqual(['apps/test/ok ok q0', 'apps/test/ok ok q1']);
  });

  it('withholds a denied retained message on SUBSCRIBE', async () => {
    await app.ctx.mqtt.publish('apps/test/nosubscribe', 'denied retained', { qos: 1, retain: true });
    await app.ctx.mqtt.publish('apps/test/ok', 'ok retained', { qos: 1, retain: true });
    const got: string[] = [];
    const reader = await app.connect({ password: await app.token('reader') }, (t, p) => got.push(`${t} ${p.toString()}`));
    expect(await subackCodes(reader, 'apps/+/+')).toEqual([1]);
    await expect.poll(() => got.length).toBe(1);
    await settle();
    expect(got).toEqual(['apps/test/ok ok retained']);
  });

  it('withholds a denied message queued for a persistent session while it was offline', async () => {
    const password = await app.token('reader');
    const first = await app.connect({ clientId: 'reader-phone', clean: false, password });
    expect(await subackCodes(first, 'apps/+/+')).toEqual([1]);
    await first.endAsync();
    await app.ctx.mqtt.publish('apps/test/nosubscribe', 'denied queued', { qos: 1, retain: false });
    await app.ctx.mqtt.publish('apps/test/ok', 'ok queued', { qos: 1, retain: false });

    const got: string[] = [];
    await app.connect({ clientId: 'reader-phone', clean: false, password }, (t, p) => got.push(`${t} ${p.toString()}`));
    await expect.poll(() => got.length).toBe(1);
    await settle();
    expect(got).toEqual(['apps/test/ok ok queued']);
  });

  it('still refuses a filter the rules deny entirely', async () => {
    const reader = await app.connect({ password: await app.token('reader') });
    expect(await subackCodes(reader, 'apps/test/nosubscribe')).toEqual([128]);
  });
});
