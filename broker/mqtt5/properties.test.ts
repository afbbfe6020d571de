import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UniqueMessageIdProvider, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { startChatTopology } from '../../chat/testing/app.js';
import { TOPOLOGIES, type Topology } from '../../test/testing/topology.js';
import { writeAclFile } from '../../test/testing/acl-file.js';

const V5: IClientOptions = { protocolVersion: 5 };
const settle = () => new Promise((r) => setTimeout(r, 400));

/** What a publisher attaches and a receiver should get back as sent. */
const SENT: NonNullable<IClientPublishOptions['properties']> = {
  userProperties: { trace: 'abc-1', tags: ['x', 'y'] },
  contentType: 'application/json',
  payloadFormatIndicator: true,
  correlationData: Buffer.from([0, 1, 2, 0xff]),
};

/** Every PUBLISH packet a client receives, by topic. */
function packets(client: MqttClient): Map<string, IPublishPacket[]> {
  const got = new Map<string, IPublishPacket[]>();
  client.on('message', (topic, _payload, packet) => got.set(topic, [...(got.get(topic) ?? []), packet]));
  return got;
}

/** The reason code a refused publish's PUBACK/PUBREC carried (mqtt.js rejects with it as `code`). */
const refusalCode = (p: Promise<unknown>) =>
  p.then(
    () => 0,
    (err: { code?: number }) => err.code,
  );

function aclFile(): string {
  return writeAclFile([
    'pattern readwrite data/#',
    'pattern read replies/%u/#',
    'pattern write svc/#',
    'user responder',
    'topic read svc/#',
    'topic write replies/#',
  ]);
}

describe.each(TOPOLOGIES)('MQTT 5 publish properties (%s)', (kind) => {
  let app: Topology;
  const v5 = async (sub: string, extra: IClientOptions = {}) => app.connect({ ...V5, password: await app.token(sub), ...extra });

  beforeAll(async () => {
    app = await startChatTopology(kind, { ACL_FILE: aclFile() });
  });
  afterAll(() => app.stop());

  it('pass through at QoS 0, 1 and 2 to MQTT 5 subscribers on both nodes; a 3.1.1 subscriber gets the message alone', async () => {
    const far = await v5('far');
    const publisher = await v5('pub');
    const near = await app.at(0).connect({ ...V5, password: await app.token('near') });
    const old = await app.at(0).connect({ password: await app.token('old') });
    const got = [far, near, old].map(packets);
    for (const c of [far, near, old]) await c.subscribeAsync('data/live/+', { qos: 2 });
    for (const qos of [0, 1, 2] as const) await publisher.publishAsync(`data/live/q${qos}`, '{"n":1}', { qos, properties: SENT });

    for (const g of got) await expect.poll(() => [...g.values()].flat().length, { timeout: 10_000 }).toBe(3);
    for (const qos of [0, 1, 2]) {
      for (const g of got.slice(0, 2)) expect(g.get(`data/live/q${qos}`)?.[0].properties).toMatchObject(SENT);
      expect(got[2].get(`data/live/q${qos}`)?.[0].payload.toString()).toBe('{"n":1}');
    }
  });

  it('survive the queue of an offline persistent session', async () => {
    const clientId = `props-${kind}`;
    const opts = { clientId, clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await v5('sleeper', opts);
    await first.subscribeAsync('data/queued', { qos: 1 });
    await first.endAsync();
    const publisher = await v5('pub');
    await publisher.publishAsync('data/queued', 'while away', { qos: 1, properties: SENT });

    // Collected from the first read: the queued message comes in the same read as the CONNACK.
    const got = new Map<string, IPublishPacket[]>();
    const collect = (topic: string, _payload: Buffer, packet?: IPublishPacket) => got.set(topic, [...(got.get(topic) ?? []), packet!]);
    await app.at(1).connect({ ...V5, ...opts, password: await app.token('sleeper') }, collect);
    await expect.poll(() => got.get('data/queued')?.length, { timeout: 10_000 }).toBe(1);
    expect(got.get('data/queued')?.[0].properties).toMatchObject(SENT);
  });

  it('survive the retained store and reach a later subscriber', async () => {
    const publisher = await v5('pub');
    await publisher.publishAsync('data/retained', 'kept', { qos: 1, retain: true, properties: SENT });
    await settle();
    const late = await v5('late');
    const got = packets(late);
    await late.subscribeAsync('data/retained', { qos: 1 });
    await expect.poll(() => got.get('data/retained')?.length, { timeout: 10_000 }).toBe(1);
    const [packet] = got.get('data/retained')!;
    expect(packet.retain).toBe(true);
    expect(packet.properties).toMatchObject(SENT);
  });

  it('refuses Payload Format Indicator 1 on a payload that is not UTF-8 (0x99) and forwards nothing', async () => {
    const sub = await v5('watcher');
    const got = packets(sub);
    await sub.subscribeAsync('data/binary', { qos: 1 });
    const publisher = await v5('pub');
    const bytes = Buffer.from([0xc3, 0x28, 0xff]);
    for (const qos of [1, 2] as const) {
      expect(await refusalCode(publisher.publishAsync('data/binary', bytes, { qos, properties: { payloadFormatIndicator: true } }))).toBe(0x99);
    }
    await publisher.publishAsync('data/binary', bytes, { qos: 1, properties: { payloadFormatIndicator: false } });
    await expect.poll(() => got.get('data/binary')?.length, { timeout: 10_000 }).toBe(1);
    await settle();
    expect(got.get('data/binary')?.length).toBe(1);
  });

  it('request/response: the responder gets the response topic and correlation data, the requester the answer', async () => {
    const responder = await v5('responder');
    await responder.subscribeAsync('svc/echo', { qos: 1 });
    responder.on('message', (_topic, payload, packet) => {
      const { responseTopic, correlationData } = packet.properties ?? {};
      if (responseTopic) void responder.publishAsync(responseTopic, `echo ${payload.toString()}`, { qos: 1, properties: { correlationData } });
    });
    const requester = await v5('alice');
    const answers = packets(requester);
    await requester.subscribeAsync('replies/alice/#', { qos: 1 });
    const correlationData = Buffer.from('req-42');
    await requester.publishAsync('svc/echo', 'ping', { qos: 1, properties: { responseTopic: 'replies/alice/r1', correlationData } });

    await expect.poll(() => answers.get('replies/alice/r1')?.length, { timeout: 10_000 }).toBe(1);
    const [answer] = answers.get('replies/alice/r1')!;
    expect(answer.payload.toString()).toBe('echo ping');
    expect(answer.properties?.correlationData).toEqual(correlationData);
  });

  it('refuses a response topic its publisher may not subscribe to (0x87; QoS 0 dropped)', async () => {
    const responder = await v5('responder');
    const got = packets(responder);
    await responder.subscribeAsync('svc/steer', { qos: 2 });
    // The lowest free packet id each time: the allowed QoS 2 publish reuses the refused one's id.
    const requester = await v5('alice', { messageIdProvider: new UniqueMessageIdProvider() });
    const properties = { responseTopic: 'replies/bob/r1', correlationData: Buffer.from('x') };
    for (const qos of [1, 2] as const) expect(await refusalCode(requester.publishAsync('svc/steer', 'do it', { qos, properties }))).toBe(0x87);
    await requester.publishAsync('svc/steer', 'do it', { qos: 0, properties });
    for (const qos of [1, 2] as const) {
      await requester.publishAsync('svc/steer', `allowed q${qos}`, { qos, properties: { responseTopic: 'replies/alice/r2' } });
    }
    await expect.poll(() => got.get('svc/steer')?.length, { timeout: 10_000 }).toBe(2);
    await settle();
    expect(got.get('svc/steer')?.map((p) => p.payload.toString())).toEqual(['allowed q1', 'allowed q2']);
  });

  it('a response topic with a wildcard is a protocol error: DISCONNECT 0x82', async () => {
    const requester = await v5('alice');
    const disconnect = new Promise<IDisconnectPacket>((resolve) => requester.once('disconnect', resolve));
    requester.publish('svc/echo', 'x', { qos: 1, properties: { responseTopic: 'replies/alice/#' } });
    expect((await disconnect).reasonCode).toBe(0x82);
  });

  it('chat: the stamped message carries none of the client properties (QoS 1, 2 and typing)', async () => {
    const bob = await v5('bob');
    const got = packets(bob);
    await bob.subscribeAsync(['chat/rooms/props', 'chat/typing/props'], { qos: 1 });
    const alice = await v5('alice');
    const properties = { ...SENT, responseTopic: 'replies/alice/c', messageExpiryInterval: 60 };
    await alice.publishAsync('chat/rooms/props', JSON.stringify({ text: 'one' }), { qos: 1, properties });
    await alice.publishAsync('chat/rooms/props', JSON.stringify({ text: 'two' }), { qos: 2, properties });
    await alice.publishAsync('chat/typing/props', '{}', { qos: 0, properties });

    await expect.poll(() => [got.get('chat/rooms/props')?.length, got.get('chat/typing/props')?.length], { timeout: 10_000 }).toEqual([2, 1]);
    const delivered = [...got.values()].flat();
    expect(delivered.map((p) => p.properties ?? {})).toEqual([{}, {}, {}]);
    expect(got.get('chat/rooms/props')?.map((p) => JSON.parse(p.payload.toString()).text)).toEqual(['one', 'two']);
  });

  it('ticks from an MQTT 5 feed reach subscribers re-encoded, without the feed’s properties', async () => {
    const sub = await v5('trader');
    const got = packets(sub);
    await sub.subscribeAsync('ticks/USDJPY');
    const feed = await app.connect({ ...V5, password: await app.token('feed-1', ['feed']) });
    const tick = { symbol: 'USDJPY', time_msc: Date.now(), bid: 150.1, ask: 150.12, last: 0, volume: 0, flags: 6 };
    await feed.publishAsync('ticks/USDJPY', JSON.stringify(tick), { qos: 1, properties: SENT });
    await expect.poll(() => got.get('ticks/USDJPY')?.length, { timeout: 10_000 }).toBe(1);
    const [packet] = got.get('ticks/USDJPY')!;
    expect(JSON.parse(packet.payload.toString()).bid).toBe(150.1);
    expect(packet.properties?.userProperties).toBeUndefined();
    expect(packet.properties?.contentType).toBeUndefined();
  });
});
