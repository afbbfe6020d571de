import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChatTopology } from '../../chat/testing/app.js';
import { TOPOLOGIES } from '../../test/testing/topology.js';
import { startPaho, stopAllPaho, type PahoClient, type PahoConnectOptions } from '../../test/testing/paho.js';
import { writeAclFile } from '../../test/testing/acl-file.js';

type ChatTopology = Awaited<ReturnType<typeof startChatTopology>>;

/**
 * An independent MQTT 5 client (Python paho-mqtt, Debian's package) against ticktalk: one node and
 * two over Redis, over TCP and WebSocket. mqtt.js covers each MQTT 5 item in detail (the other
 * files here); this one checks that a second implementation reads what the server sends the same way.
 */
describe.each(TOPOLOGIES)('MQTT 5 with paho-mqtt (%s)', (kind) => {
  let app: ChatTopology;
  beforeAll(async () => {
    app = await startChatTopology(kind, {
      MQTT_MAX_KEEPALIVE_S: '120',
      MQTT_CONNECTS_PER_IP_PER_S: '1000',
      ACL_FILE: writeAclFile(['pattern readwrite data/#']),
    });
  });
  afterAll(() => app?.stop());
  afterEach(stopAllPaho);

  /** Node `i`'s listener: over TCP, or over WebSocket on its HTTP port. */
  const endpoint = (i: number, transport: 'tcp' | 'websockets'): Pick<PahoConnectOptions, 'port' | 'transport' | 'path'> => {
    const node = app.at(i);
    return transport === 'tcp' ? { port: node.ports.mqtt!, transport } : { port: node.ports.http, transport, path: '/mqtt' };
  };

  const signedIn = async (
    sub: string,
    node: number,
    transport: 'tcp' | 'websockets' = 'tcp',
    extra: Partial<PahoConnectOptions> = {},
  ): Promise<PahoClient> => {
    const paho = await startPaho();
    const connack = await paho.connect({
      ...endpoint(node, transport),
      client_id: `${sub}-${transport}`,
      username: 'jwt',
      password: await app.token(sub, ['trader'], sub),
      ...extra,
    });
    expect(connack.reason_code).toBe(0);
    return paho;
  };

  it.each(['tcp', 'websockets'] as const)('connects over %s and reads the CONNACK properties', async (transport) => {
    const paho = await startPaho();
    const connack = await paho.connect({
      ...endpoint(0, transport),
      client_id: '',
      // Above MQTT_MAX_KEEPALIVE_S: the server holds the client to its own. (0, "none", would do too,
      // but paho 1.6.1 then reads its WebSocket handshake from a non-blocking socket: EAGAIN.)
      keepalive: 600,
      username: 'jwt',
      password: await app.token('carol', ['trader']),
    });
    expect(connack).toMatchObject({ reason_code: 0, session_present: false });
    expect(connack.properties).toMatchObject({ ReceiveMaximum: 100, ServerKeepAlive: 120, RetainAvailable: 1, WildcardSubscriptionAvailable: 1 });
    expect(connack.properties.AssignedClientIdentifier).toEqual(expect.any(String));
  });

  it('a bad token is refused with reason code 0x86 and a reason string', async () => {
    const paho = await startPaho();
    const connack = await paho.connect({ ...endpoint(0, 'tcp'), client_id: 'bad', username: 'jwt', password: 'not-a-token' });
    expect(connack.reason_code).toBe(0x86);
    expect(connack.properties.ReasonString).toMatch(/^bad token: not signed by this service/);
  });

  it('ticks arrive with a topic alias after the first, on either node', async () => {
    const paho = await signedIn('dave', 1, 'tcp', { properties: { TopicAliasMaximum: 4 } });
    expect((await paho.subscribe([{ topic: 'ticks/NZDUSD', qos: 0 }])).reason_codes).toEqual([0]);
    for (let i = 0; i < 3; i++) {
      app.ctx.mqtt.publishTicks([{ symbol: 'NZDUSD', time_msc: Date.now(), bid: 0.6 + i / 100, ask: 0.61 + i / 100, last: 0, volume: 0, flags: 6 }]);
      const message = await paho.next('message', (m) => m.topic === 'ticks/NZDUSD', 10_000);
      expect(JSON.parse(message.payload!).bid).toBeCloseTo(0.6 + i / 100);
      expect(message.properties.TopicAlias).toBe(1);
      expect(message.wire_topic).toBe(i === 0 ? 'ticks/NZDUSD' : '');
      await new Promise((r) => setTimeout(r, 30));
    }
  });

  it('chat: a paho publisher is acked and a paho reader on the other node gets the stamped message', async () => {
    const reader = await signedIn('erin', 1, 'websockets');
    await reader.subscribe([{ topic: 'chat/rooms/paho', qos: 1 }]);
    const writer = await signedIn('frank', 0);
    const mid = await writer.publish({ topic: 'chat/rooms/paho', payload: JSON.stringify({ text: 'hello from paho' }), qos: 1 });
    expect(await writer.next('puback', (e) => e.mid === mid)).toMatchObject({ reason_code: 0 });
    const message = await reader.next('message', (m) => m.topic === 'chat/rooms/paho', 10_000);
    expect(message.qos).toBe(1);
    expect(JSON.parse(message.payload!)).toMatchObject({ type: 'message', text: 'hello from paho', user: 'frank' });
  });

  it('sessions: a session kept for its expiry is resumed on the other node with its queued message', async () => {
    const first = await signedIn('gina', 0, 'tcp', { client_id: 'gina-session', clean_start: true, properties: { SessionExpiryInterval: 60 } });
    await first.subscribe([{ topic: 'data/gina', qos: 1 }]);
    await first.disconnect();
    const publisher = await signedIn('hank', 1);
    const mid = await publisher.publish({ topic: 'data/gina', payload: 'while away', qos: 1 });
    expect(await publisher.next('puback', (e) => e.mid === mid)).toMatchObject({ reason_code: 0 });
    const back = await startPaho();
    const connack = await back.connect({
      ...endpoint(1, 'tcp'),
      client_id: 'gina-session',
      clean_start: false,
      username: 'jwt',
      password: await app.token('gina', ['trader']),
      properties: { SessionExpiryInterval: 60 },
    });
    expect(connack).toMatchObject({ reason_code: 0, session_present: true });
    expect(await back.next('message', (m) => m.topic === 'data/gina', 10_000)).toMatchObject({ payload: 'while away', qos: 1 });
  });

  it('refusals: SUBACK 0x87 for a forbidden filter, PUBACK 0x99 for a bad chat payload, DISCONNECT 0x8E on takeover', async () => {
    const paho = await signedIn('ivan', 0);
    const suback = await paho.subscribe([
      { topic: 'chat/rooms/ok', qos: 1 },
      { topic: 'users/someone-else/errors', qos: 1 },
    ]);
    expect(suback.reason_codes).toEqual([1, 0x87]);
    const mid = await paho.publish({ topic: 'chat/rooms/ok', payload: 'not json', qos: 1 });
    const puback = await paho.next('puback', (e) => e.mid === mid);
    expect(puback.reason_code).toBe(0x99);
    expect(puback.properties.ReasonString).toEqual(expect.any(String));
    const again = await startPaho();
    await again.connect({ ...endpoint(1, 'tcp'), client_id: 'ivan-tcp', username: 'jwt', password: await app.token('ivan', ['trader']) });
    expect(await paho.next('disconnect', undefined, 10_000)).toMatchObject({ reason_code: 0x8e });
  });

  it('flow control: no more unacknowledged QoS 1 deliveries than the client Receive Maximum', async () => {
    const reader = await signedIn('jane', 1, 'tcp', { hold_acks: true, properties: { ReceiveMaximum: 2 } });
    await reader.subscribe([{ topic: 'data/window', qos: 1 }]);
    const writer = await signedIn('kyle', 0);
    for (let i = 0; i < 5; i++) await writer.publish({ topic: 'data/window', payload: `m${i}`, qos: 1 });
    const delivered = (payload: string) => reader.next('message', (m) => m.payload === payload, 10_000);
    // Two unacknowledged at a time: the next two only once those are acknowledged.
    await delivered('m0');
    await delivered('m1');
    await reader.expectNone('message', 500);
    await reader.releaseAcks(true);
    await delivered('m2');
    await delivered('m3');
    await reader.expectNone('message', 500);
    await reader.releaseAcks();
    await delivered('m4');
    expect(reader.events.filter((e) => e.event === 'message').map((e) => (e as { payload: string }).payload)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('subscriptions: no local on chat, subscription identifiers, and a shared subscription across nodes', async () => {
    const alice = await signedIn('lara', 0);
    await alice.subscribe([{ topic: 'chat/rooms/nl', qos: 1, no_local: true }], { SubscriptionIdentifier: 9 });
    const bob = await signedIn('mike', 1);
    await bob.subscribe([{ topic: 'chat/rooms/nl', qos: 1 }], { SubscriptionIdentifier: 4 });
    await alice.publish({ topic: 'chat/rooms/nl', payload: JSON.stringify({ text: 'mine' }), qos: 1 });
    expect((await bob.next('message', (m) => m.topic === 'chat/rooms/nl', 10_000)).properties.SubscriptionIdentifier).toEqual([4]);
    await alice.expectNone('message', 400);

    const members = await Promise.all([signedIn('nina', 0), signedIn('omar', 1)]);
    for (const m of members) expect((await m.subscribe([{ topic: '$share/workers/data/jobs', qos: 1 }])).reason_codes).toEqual([1]);
    const producer = await signedIn('pete', 0);
    for (let i = 0; i < 10; i++) await producer.publish({ topic: 'data/jobs', payload: `job${i}`, qos: 1 });
    await expect.poll(() => members.flatMap((m) => m.events.filter((e) => e.event === 'message')).length, { timeout: 10_000 }).toBe(10);
    const jobs = members.flatMap((m) => m.events.flatMap((e) => (e.event === 'message' ? [(e as { payload: string }).payload] : [])));
    expect(jobs.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `job${i}`).sort());
  });

  it('properties: user properties, content type and request/response pass through to the other node', async () => {
    const responder = await signedIn('quinn', 1);
    await responder.subscribe([{ topic: 'data/service', qos: 1 }]);
    const requester = await signedIn('rita', 0);
    await requester.subscribe([{ topic: 'data/replies/rita', qos: 1 }]);
    const properties = {
      ContentType: 'application/json',
      ResponseTopic: 'data/replies/rita',
      CorrelationData: 'c0ffee',
      UserProperty: [['desk', 'fx'] as [string, string]],
    };
    await requester.publish({ topic: 'data/service', payload: '{"q":1}', qos: 1, properties });
    const request = await responder.next('message', (m) => m.topic === 'data/service', 10_000);
    expect(request.properties).toMatchObject(properties);
    await responder.publish({
      topic: request.properties.ResponseTopic as string,
      payload: '{"a":2}',
      qos: 1,
      properties: { CorrelationData: request.properties.CorrelationData as string },
    });
    const reply = await requester.next('message', (m) => m.topic === 'data/replies/rita', 10_000);
    expect(reply).toMatchObject({ payload: '{"a":2}', properties: { CorrelationData: 'c0ffee' } });
  });
});
