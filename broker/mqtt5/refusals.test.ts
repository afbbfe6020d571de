import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type mqttPacket from 'mqtt-packet';
import type { IConnackPacket, IDisconnectPacket, Packet } from 'mqtt-packet';
import { nextMessage } from '../../test/testing/app.js';
import { startTopology, TOPOLOGIES, type Topology, type TopologyKind } from '../../test/testing/topology.js';
import { startChatTopology } from '../../chat/testing/app.js';
import { signedInRawClient } from '../../test/testing/raw-mqtt.js';

const V5: IClientOptions = { protocolVersion: 5 };
const MAX_SUBSCRIPTIONS = 4;
const MAX_CONNECTIONS = 2;
const CHAT_BURST = 2;

/** The CONNACK (or the error carrying its reason code) an MQTT 5 CONNECT gets. */
async function refusedConnack(app: Topology, opts: IClientOptions): Promise<{ code?: number; reason?: string }> {
  const client = mqtt.connect(app.at(0).mqttUrl, { ...V5, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  const connack = new Promise<IConnackPacket>((resolve) => client.on('packetreceive', (p) => p.cmd === 'connack' && resolve(p)));
  const outcome = await new Promise<string>((resolve) => {
    client.once('connect', () => resolve('accepted'));
    client.once('error', () => resolve('refused'));
  });
  const packet = await connack;
  client.end(true);
  expect(outcome).toBe('refused');
  return { code: packet.reasonCode, reason: packet.properties?.reasonString };
}

/** The next packet of `cmd` the client receives, within `ms`. */
function nextPacket<P extends Packet>(client: MqttClient, cmd: P['cmd'], ms = 10_000): Promise<P> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${cmd} within ${ms} ms`)), ms);
    const onPacket = (p: Packet) => {
      if (p.cmd !== cmd) return;
      clearTimeout(timer);
      client.off('packetreceive', onPacket);
      resolve(p as P);
    };
    client.on('packetreceive', onPacket);
  });
}

/** The server's DISCONNECT to `client` (mqtt.js emits it as 'disconnect'). */
function serverDisconnect(client: MqttClient, ms = 15_000): Promise<IDisconnectPacket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no DISCONNECT within ${ms} ms`)), ms);
    client.once('disconnect', (p: IDisconnectPacket) => {
      clearTimeout(timer);
      resolve(p);
    });
  });
}

/** A publish's ack as mqtt.js reports it: the reason code (0: accepted) and the ack packet. */
function publishOutcome(client: MqttClient, topic: string, payload: string, qos: 1 | 2): Promise<{ code: number; reason?: string; code2?: string }> {
  const ack = nextPacket<mqttPacket.IPubackPacket | mqttPacket.IPubrecPacket>(client, qos === 1 ? 'puback' : 'pubrec');
  return new Promise((resolve) => {
    client.publish(topic, payload, { qos }, (err) => {
      void ack.then((p) => {
        const props = p.properties as { reasonString?: string; userProperties?: Record<string, string> } | undefined;
        resolve({
          code: (err as { code?: number } | undefined)?.code ?? p.reasonCode ?? 0,
          reason: props?.reasonString,
          code2: props?.userProperties?.code,
        });
      });
    });
  });
}

describe.each(TOPOLOGIES)('MQTT 5 refusals say why (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startChatTopology(kind, {
      MQTT_MAX_SUBSCRIPTIONS: String(MAX_SUBSCRIPTIONS),
      MQTT_MAX_CONNECTIONS_PER_USER: String(MAX_CONNECTIONS),
      MQTT_MAX_PACKET: '2048',
      CHAT_BURST: String(CHAT_BURST),
      CHAT_RATE_PER_S: '0.01',
    });
  });
  afterAll(() => app?.stop());
  const signedIn = async (sub: string, extra: IClientOptions = {}) =>
    app.connect({ ...V5, password: await app.token(sub, ['trader'], sub), ...extra });

  describe('CONNACK', () => {
    it('a bad token: 0x86 "bad token"; an expired one: 0x86 "token expired"', async () => {
      const bad = await refusedConnack(app, { username: 'jwt', password: 'not-a-token' });
      expect(bad).toEqual({ code: 0x86, reason: expect.stringMatching(/^bad token/) });
      const expired = await refusedConnack(app, { username: 'jwt', password: await app.ctx.auth.issue({ sub: 'late' }, -60) });
      expect(expired).toEqual({ code: 0x86, reason: 'token expired' });
    });

    it('an anonymous session (Session Expiry above 0): 0x87 "anonymous session"', async () => {
      const refused = await refusedConnack(app, { properties: { sessionExpiryInterval: 60 } });
      expect(refused).toEqual({ code: 0x87, reason: expect.stringMatching(/^anonymous session: /) });
    });

    it('a will on a built-in family: 0x87 "will not authorised"', async () => {
      const will = { topic: 'ticks/EURUSD', payload: Buffer.from('x'), qos: 0 as const, retain: false };
      const refused = await refusedConnack(app, { username: 'jwt', password: await app.token('willy'), will });
      expect(refused).toEqual({ code: 0x87, reason: expect.stringMatching(/^will not authorised: /) });
    });

    it(`a user over MQTT_MAX_CONNECTIONS_PER_USER: 0x97 "too many connections"`, async () => {
      for (let i = 0; i < MAX_CONNECTIONS; i++) await signedIn('busy', { clientId: `busy-${i}` });
      const refused = await refusedConnack(app, { username: 'jwt', password: await app.token('busy'), clientId: 'busy-extra' });
      expect(refused).toEqual({ code: 0x97, reason: expect.stringMatching(/^too many connections: /) });
    });
  });

  describe('SUBACK', () => {
    it('each refused filter has its own reason code, and the reason string says why', async () => {
      // Raw: mqtt.js refuses to send an invalid filter.
      const alice = await signedInRawClient(app.at(1).ports.mqtt!, await app.token('alice-sub'), { protocolVersion: 5, clientId: 'alice-sub' });
      const filters = ['chat/rooms/ok', 'users/bob/errors', 'a/#/b', 'bad\u0000filter', 'chat/+x'];
      alice.send({ cmd: 'subscribe', messageId: 7, subscriptions: filters.map((topic) => ({ topic, qos: 1 })) });
      const got = (await alice.waitFor('suback')) as mqttPacket.ISubackPacket;
      expect(got.granted).toEqual([1, 0x87, 0x8f, 0x8f, 0x8f]);
      expect(got.properties?.reasonString).toContain('not authorized to subscribe to users/bob/errors');
      expect(got.properties?.reasonString).toContain('topic filter invalid: it contains U+0000');
      // The connection stays up (3.1.1 closes it for U+0000 and invalid filters).
      alice.send({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'chat/rooms/still-here', qos: 1 }] });
      await expect.poll(() => alice.packets.filter((p) => p.cmd === 'suback').length, { timeout: 10_000 }).toBe(2);
      expect((alice.packets.at(-1) as mqttPacket.ISubackPacket).granted).toEqual([1]);
      alice.socket.destroy();
    });

    it('beyond MQTT_MAX_SUBSCRIPTIONS: 0x97 quota exceeded', async () => {
      const bob = await signedIn('bob-sub');
      const filters = Array.from({ length: MAX_SUBSCRIPTIONS + 1 }, (_, i) => `chat/rooms/q${i}`);
      const suback = nextPacket<mqttPacket.ISubackPacket>(bob, 'suback');
      bob.subscribe(filters, { qos: 1 });
      const got = await suback;
      expect(got.granted).toEqual([...Array<number>(MAX_SUBSCRIPTIONS).fill(1), 0x97]);
      expect(got.properties?.reasonString).toMatch(/^quota exceeded: at most 4 subscriptions/);
    });

    it('no reason string when the client asked for no problem information', async () => {
      const carol = await signedIn('carol-sub', { properties: { requestProblemInformation: false } });
      const suback = nextPacket<mqttPacket.ISubackPacket>(carol, 'suback');
      carol.subscribe('users/bob/errors');
      const got = await suback;
      expect(got.granted).toEqual([0x87]);
      expect(got.properties?.reasonString).toBeUndefined();
    });
  });

  describe('PUBACK / PUBREC', () => {
    it('a publish where the client may not: PUBACK and PUBREC 0x87 with the reason; later publishes still go', async () => {
      const dave = await signedIn('dave-pub');
      const qos1 = await publishOutcome(dave, 'candles/EURUSD/1m', 'x', 1);
      expect(qos1).toMatchObject({ code: 0x87, reason: 'not authorized to publish on candles/EURUSD/1m' });
      const qos2 = await publishOutcome(dave, 'users/someone/errors', 'x', 2);
      expect(qos2).toMatchObject({ code: 0x87, reason: 'not authorized to publish on users/someone/errors' });
      for (let i = 0; i < 3; i++) expect((await publishOutcome(dave, 'users/someone/errors', 'x', 2)).code).toBe(0x87);
      // The connection stays up and accepts what it may publish.
      const watcher = await signedIn('erin-pub');
      await watcher.subscribeAsync('chat/rooms/pub-ok', { qos: 1 });
      const delivered = nextMessage(watcher, 'chat/rooms/pub-ok');
      expect((await publishOutcome(dave, 'chat/rooms/pub-ok', JSON.stringify({ text: 'hi' }), 1)).code).toBe(0);
      expect(JSON.parse((await delivered).payload.toString()).text).toBe('hi');
    });

    it("no reason string where it would take the PUBACK over the client's Maximum Packet Size", async () => {
      const small = await signedIn('kim-small', { properties: { maximumPacketSize: 40 } });
      const refused = await publishOutcome(small, 'candles/EURUSD/1m', 'x', 1);
      expect(refused).toEqual({ code: 0x87, reason: undefined, code2: undefined });
    });

    it('a refused chat publish: the PUBACK carries the reason, the same message as users/{sub}/errors, and its code', async () => {
      const frank = await signedIn('frank-chat');
      await frank.subscribeAsync('users/frank-chat/errors', { qos: 0 });
      const errors: { code: string; message: string }[] = [];
      frank.on('message', (topic, payload) => topic === 'users/frank-chat/errors' && errors.push(JSON.parse(payload.toString())));

      const badPayload = await publishOutcome(frank, 'chat/rooms/refusals', 'not json', 1);
      expect(badPayload).toMatchObject({ code: 0x99, code2: 'invalid_payload' });
      const wrongPair = await publishOutcome(frank, 'chat/dm/zed/frank-chat', JSON.stringify({ text: 'hi' }), 1);
      expect(wrongPair).toMatchObject({ code: 0x87, code2: 'forbidden', reason: expect.stringContaining('chat/dm/{a}/{b}') });
      const outcomes = [];
      for (let i = 0; i <= CHAT_BURST; i++) outcomes.push(await publishOutcome(frank, 'chat/rooms/refusals', JSON.stringify({ text: `m${i}` }), 1));
      const limited = outcomes[CHAT_BURST];
      expect(outcomes.slice(0, CHAT_BURST).map((o) => o.code)).toEqual(Array<number>(CHAT_BURST).fill(0));
      expect(limited).toMatchObject({ code: 0x97, code2: 'rate_limited', reason: expect.stringMatching(/^too many messages: retry in \d+ ms$/) });

      await expect.poll(() => errors.length, { timeout: 10_000 }).toBe(3);
      expect(errors.map((e) => e.message)).toEqual([badPayload.reason, wrongPair.reason, limited.reason]);
    });
  });

  describe('DISCONNECT from the server', () => {
    it('a packet over MQTT_MAX_PACKET: 0x95 packet too large', async () => {
      const client = await signedIn('gina-big');
      const disconnect = serverDisconnect(client);
      // A SUBSCRIBE announcing a 4000-byte body: refused from its fixed header.
      (client as unknown as { stream: net.Socket }).stream.write(Buffer.from([0x82, 0xa0, 0x1f]));
      const got = await disconnect;
      expect(got.reasonCode).toBe(0x95);
      expect(got.properties?.reasonString).toMatch(/exceeds the 2048-byte limit/);
    });

    it('a malformed packet: 0x81', async () => {
      const client = await signedIn('hugo-bad');
      const disconnect = serverDisconnect(client);
      (client as unknown as { stream: net.Socket }).stream.write(Buffer.from([0x00, 0x00]));
      const got = await disconnect;
      expect(got.reasonCode).toBe(0x81);
      expect(got.properties?.reasonString).toMatch(/^malformed packet/);
    });

    it('the token expires: 0x87 "token expired"', async () => {
      const client = await app.connect({ ...V5, password: await app.ctx.auth.issue({ sub: 'ivy-exp' }, 2) });
      const got = await serverDisconnect(client);
      expect(got.reasonCode).toBe(0x87);
      expect(got.properties?.reasonString).toMatch(/^token expired/);
    });

    it('a subscriber that stops reading: 0x97 quota exceeded, after what it had', async () => {
      const node = app.at(1);
      const slowBefore = await metricOf(node, 'slow_consumer_disconnects_total');
      const frozen = await signedInRawClient(node.ports.mqtt!, await app.token('frozen-v5'), {
        protocolVersion: 5,
        clientId: 'frozen-v5',
        keepalive: 60,
      });
      frozen.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'chat/rooms/slow-v5', qos: 1 }] });
      await frozen.waitFor('suback');
      frozen.socket.pause();
      const big = 'x'.repeat(1_500);
      // MQTT_MAX_PACKET bounds what clients send, not what the broker sends: about 5 MB queue up.
      for (let i = 0; i < 8_000; i++) {
        await app.ctx.mqtt.publish('chat/rooms/slow-v5', JSON.stringify({ big, i }), { qos: 1, retain: false });
        if (i % 200 === 0 && (await metricOf(node, 'slow_consumer_disconnects_total')) > slowBefore) break;
      }
      await expect.poll(() => metricOf(node, 'slow_consumer_disconnects_total'), { timeout: 10_000 }).toBe(slowBefore + 1);
      frozen.socket.resume();
      await frozen.closed;
      const last = frozen.packets.at(-1) as IDisconnectPacket | undefined;
      expect(last?.cmd).toBe('disconnect');
      expect(last?.reasonCode).toBe(0x97);
      expect(last?.properties?.reasonString).toMatch(/^slow consumer: /);
    });
  });
});

describe.each(TOPOLOGIES)('MQTT 5 clients on shutdown (%s)', (kind: TopologyKind) => {
  it('each node drains its clients with DISCONNECT 0x8B server shutting down', async () => {
    const app = await startTopology(kind);
    const clients = await Promise.all(
      app.nodes.map(async (node) => {
        const client = mqtt.connect(node.mqttUrl, { ...V5, reconnectPeriod: 0, username: 'jwt', password: await node.token('shut') });
        await new Promise((resolve) => client.once('connect', resolve));
        return client;
      }),
    );
    const disconnects = clients.map((c) => serverDisconnect(c));
    await app.stop();
    for (const got of await Promise.all(disconnects)) {
      expect(got.reasonCode).toBe(0x8b);
      expect(got.properties?.reasonString).toMatch(/^server shutting down/);
    }
    for (const c of clients) c.end(true);
  });
});

async function metricOf(node: { httpUrl: string }, name: string): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`ticktalk_${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}
