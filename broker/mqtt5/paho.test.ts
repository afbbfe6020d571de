import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChatTopology } from '../../chat/testing/app.js';
import { TOPOLOGIES } from '../../test/testing/topology.js';
import { startPaho, stopAllPaho, type PahoClient, type PahoConnectOptions } from '../../test/testing/paho.js';

type ChatTopology = Awaited<ReturnType<typeof startChatTopology>>;

/**
 * An independent MQTT 5 client (Python paho-mqtt, Debian's package) against ticktalk: one node and
 * two over Redis, over TCP and WebSocket. mqtt.js covers each MQTT 5 item in detail (the other
 * files here); this one checks that a second implementation reads what the server sends the same way.
 */
describe.each(TOPOLOGIES)('MQTT 5 with paho-mqtt (%s)', (kind) => {
  let app: ChatTopology;
  beforeAll(async () => {
    app = await startChatTopology(kind, { MQTT_MAX_KEEPALIVE_S: '120' });
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
});
