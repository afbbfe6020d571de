import { randomUUID } from 'node:crypto';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { startPaho, stopAllPaho } from './paho.js';

// Proves the paho MQTT 5 harness against Mosquitto (the local MQTT 5 reference broker on 1883), so
// the broker's own MQTT 5 tests can trust what the harness reports.
const MOSQUITTO = { host: '127.0.0.1', port: 1883 };

describe('paho MQTT 5 test client (against Mosquitto)', () => {
  const prefix = `ticktalk-paho-test/${randomUUID()}`;
  afterEach(stopAllPaho);

  it('connects with MQTT 5 properties and reports the CONNACK properties', async () => {
    const paho = await startPaho();
    const connack = await paho.connect({
      ...MOSQUITTO,
      client_id: '',
      properties: { SessionExpiryInterval: 0, ReceiveMaximum: 10, TopicAliasMaximum: 5, RequestProblemInformation: 1 },
    });
    expect(connack).toMatchObject({ reason_code: 0, reason_name: 'Success', session_present: false });
    expect(connack.properties.AssignedClientIdentifier).toEqual(expect.any(String));
    expect(connack.properties.TopicAliasMaximum).toBeGreaterThan(0);
  });

  it('resumes a session with clean_start false within its Session Expiry Interval', async () => {
    const paho = await startPaho();
    const session = { ...MOSQUITTO, client_id: `${prefix}-session`, properties: { SessionExpiryInterval: 60 } };
    expect(await paho.connect({ ...session, clean_start: true })).toMatchObject({ session_present: false });
    await paho.disconnect();
    expect(await paho.connect({ ...session, clean_start: false })).toMatchObject({ session_present: true });
    await paho.disconnect(0, { SessionExpiryInterval: 0 }); // DISCONNECT properties: the session ends now
    expect(await paho.connect({ ...session, clean_start: false, properties: {} })).toMatchObject({ session_present: false });
  });

  it('subscribes with a subscription identifier and no-local, and carries publish properties to another client', async () => {
    const [alice, bob] = await Promise.all([startPaho(), startPaho()]);
    await Promise.all([alice.connect({ ...MOSQUITTO, client_id: `${prefix}-a` }), bob.connect({ ...MOSQUITTO, client_id: `${prefix}-b` })]);
    const topic = `${prefix}/chat`;
    const aliceSub = await alice.subscribe([{ topic, qos: 1, no_local: true }], { SubscriptionIdentifier: 42 });
    const bobSub = await bob.subscribe([{ topic: `${prefix}/#`, qos: 1 }], { SubscriptionIdentifier: 7 });
    expect([aliceSub.reason_codes, bobSub.reason_codes]).toEqual([[1], [1]]);

    const properties = {
      ContentType: 'application/json',
      ResponseTopic: `${prefix}/reply`,
      CorrelationData: 'c0ffee',
      MessageExpiryInterval: 60,
      PayloadFormatIndicator: 1 as const,
      UserProperty: [['desk', 'fx'] as [string, string], ['desk', 'rates'] as [string, string]],
    };
    const mid = await alice.publish({ topic, payload: '{"hi":1}', qos: 1, properties });

    expect(await alice.next('puback', (e) => e.mid === mid)).toMatchObject({ reason_code: 0 });
    const message = await bob.next('message');
    expect(message).toMatchObject({ topic, payload: '{"hi":1}', qos: 1, retain: false });
    expect(message.properties).toMatchObject({ ...properties, SubscriptionIdentifier: [7] });
    await alice.expectNone('message', 200); // no_local: her own publish is not delivered back
  });

  it('reports PUBACK reason codes and round-trips binary payloads', async () => {
    const paho = await startPaho();
    await paho.connect({ ...MOSQUITTO, client_id: `${prefix}-bin` });
    const unmatched = await paho.publish({ topic: `${prefix}/nobody`, payload: 'x', qos: 1 });
    expect(await paho.next('puback', (e) => e.mid === unmatched)).toMatchObject({ reason_code: 16, reason_name: 'No matching subscribers' });

    await paho.subscribe([{ topic: `${prefix}/bin`, qos: 2 }]);
    const mid = await paho.publish({ topic: `${prefix}/bin`, payload_base64: Buffer.from([0xff, 0, 1]).toString('base64'), qos: 2 });
    expect(await paho.next('pubcomp', (e) => e.mid === mid)).toMatchObject({ reason_code: 0 });
    const message = await paho.next('message');
    expect(message).toMatchObject({ payload: null, qos: 2 });
    expect(Buffer.from(message.payload_base64, 'base64')).toEqual(Buffer.from([0xff, 0, 1]));
    expect(await paho.unsubscribe([`${prefix}/bin`, `${prefix}/never`])).toMatchObject({ reason_codes: [0, 17] }); // 17: no subscription
  });

  it('sends DISCONNECT with a reason code (0x04 publishes the will); close drops the socket and the will goes out too', async () => {
    const [watcher, leaver] = await Promise.all([startPaho(), startPaho()]);
    await watcher.connect({ ...MOSQUITTO, client_id: `${prefix}-w` });
    await watcher.subscribe([{ topic: `${prefix}/will`, qos: 1 }]);
    await leaver.connect({
      ...MOSQUITTO,
      client_id: `${prefix}-l`,
      will: { topic: `${prefix}/will`, payload: 'gone', qos: 1, properties: { ContentType: 'text/plain', UserProperty: [['why', 'test']] } },
    });

    expect(await leaver.disconnect(0x04)).toMatchObject({ reason_code: 0 });
    const will = await watcher.next('message');
    expect(will).toMatchObject({
      topic: `${prefix}/will`,
      payload: 'gone',
      properties: { ContentType: 'text/plain', UserProperty: [['why', 'test']] },
    });

    // close drops the socket with no DISCONNECT at all: the will goes out too.
    await leaver.connect({ ...MOSQUITTO, client_id: `${prefix}-l`, will: { topic: `${prefix}/will`, payload: 'dropped' } });
    expect(await leaver.close()).toMatchObject({ reason_code: 7 });
    expect(await watcher.next('message')).toMatchObject({ payload: 'dropped' });
  });

  it('reports a server DISCONNECT with its reason code', async () => {
    const paho = await startPaho();
    const connack = await paho.connect({ ...MOSQUITTO, client_id: `${prefix}-c` });
    // A topic alias above the server's Topic Alias Maximum is a protocol error (0x94).
    const alias = (connack.properties.TopicAliasMaximum ?? 0) + 1;
    await paho.publish({ topic: `${prefix}/alias`, payload: 'x', properties: { TopicAlias: alias } });
    expect(await paho.next('disconnect')).toMatchObject({ reason_code: 0x94, reason_name: 'Topic alias invalid' });
    await paho.next('closed');
  });

  it('holds acknowledgements: the server stops at the client Receive Maximum until they are released', async () => {
    const [slow, sender] = await Promise.all([startPaho(), startPaho()]);
    await slow.connect({ ...MOSQUITTO, client_id: `${prefix}-slow`, hold_acks: true, properties: { ReceiveMaximum: 2 } });
    await sender.connect({ ...MOSQUITTO, client_id: `${prefix}-sender` });
    await slow.subscribe([{ topic: `${prefix}/flow`, qos: 1 }]);
    for (const n of [1, 2, 3, 4]) await sender.publish({ topic: `${prefix}/flow`, payload: String(n), qos: 1 });

    const firstTwo = [await slow.next('message'), await slow.next('message')].map((m) => m.payload);
    await slow.expectNone('message', 200);
    expect(await slow.releaseAcks()).toBe(2);
    const lastTwo = [await slow.next('message'), await slow.next('message')].map((m) => m.payload);
    expect([...firstTwo, ...lastTwo]).toEqual(['1', '2', '3', '4']);
  });

  it('pauses the network loop with the connection open, and resumes it', async () => {
    const [paused, sender] = await Promise.all([startPaho(), startPaho()]);
    await Promise.all([paused.connect({ ...MOSQUITTO, client_id: `${prefix}-paused` }), sender.connect({ ...MOSQUITTO, client_id: `${prefix}-s` })]);
    await paused.subscribe([{ topic: `${prefix}/paused` }]);
    await paused.pause();
    await sender.publish({ topic: `${prefix}/paused`, payload: 'meanwhile' });
    await paused.expectNone('message', 200);
    await paused.resume();
    expect(await paused.next('message')).toMatchObject({ payload: 'meanwhile' });
  });

  it('resolves inbound topic aliases and decodes a short server DISCONNECT (both beyond paho 1.6.1 itself)', async () => {
    // Mosquitto sends neither: a scripted MQTT 5 server does, as the packets a real broker would send.
    const v5 = { protocolVersion: 5 as const };
    const publish = { cmd: 'publish', qos: 0, retain: false, dup: false } as const;
    const server = await scriptedServer(
      [
        { cmd: 'connack', reasonCode: 0, sessionPresent: false },
        { ...publish, topic: 'ticks/EURUSD', payload: '1', properties: { topicAlias: 1 } },
        { ...publish, topic: '', payload: '2', properties: { topicAlias: 1 } },
        { cmd: 'disconnect', reasonCode: 0x8e }, // reason code and an empty property length only
      ].map((p) => mqttPacket.generate(p as mqttPacket.Packet, v5)),
    );
    try {
      const paho = await startPaho();
      await paho.connect({ port: server.port, client_id: 'scripted', properties: { TopicAliasMaximum: 5 } });
      const first = { topic: 'ticks/EURUSD', wire_topic: 'ticks/EURUSD', payload: '1', properties: { TopicAlias: 1 } };
      expect(await paho.next('message')).toMatchObject(first);
      expect(await paho.next('message')).toMatchObject({ topic: 'ticks/EURUSD', wire_topic: '', payload: '2', properties: { TopicAlias: 1 } });
      expect(await paho.next('disconnect')).toMatchObject({ reason_code: 0x8e, reason_name: 'Session taken over' });
      await paho.next('closed');
    } finally {
      await server.close();
    }
  });

  it('reports a packet paho cannot parse as an error event and closes the connection', async () => {
    const server = await scriptedServer([
      Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]), // CONNACK: success, no properties
      Buffer.from([0x30, 0x06, 0x00, 0x01, 0x61, 0x05, 0x26, 0x00]), // PUBLISH whose properties stop short
    ]);
    try {
      const paho = await startPaho();
      await paho.connect({ port: server.port, client_id: 'scripted' });
      expect((await paho.next('error')).message).toMatch(/^packet 0x30 from the server/);
      expect(await paho.next('closed')).toMatchObject({ reason_code: 2 }); // paho's MQTT_ERR_PROTOCOL
    } finally {
      await server.close();
    }
  });

  it('speaks MQTT 5 over WebSockets', async () => {
    // Mosquitto here has no WebSocket listener: a WebSocket-to-TCP relay in front of it stands in.
    const relay = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/mqtt' });
    relay.on('connection', (ws) => {
      const stream = createWebSocketStream(ws);
      const tcp = tcpConnect(MOSQUITTO.port, MOSQUITTO.host);
      stream.pipe(tcp).pipe(stream);
      stream.on('error', () => tcp.destroy());
      tcp.on('error', () => stream.destroy());
    });
    await new Promise((resolve) => relay.once('listening', resolve));
    try {
      const paho = await startPaho();
      const { port } = relay.address() as { port: number };
      expect(await paho.connect({ port, transport: 'websockets', path: '/mqtt', client_id: `${prefix}-ws` })).toMatchObject({ reason_code: 0 });
      await paho.subscribe([{ topic: `${prefix}/ws` }]);
      await paho.publish({ topic: `${prefix}/ws`, payload: 'over ws' });
      expect(await paho.next('message')).toMatchObject({ payload: 'over ws' });
      await paho.disconnect();
    } finally {
      for (const client of relay.clients) client.terminate();
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  it('reports a refused command as an error', async () => {
    const paho = await startPaho();
    await expect(paho.publish({ topic: 'x', payload: 'y' })).rejects.toThrow(/not connected/);
    await expect(paho.connect({ port: 1 })).rejects.toThrow(/ConnectionRefusedError/);
  });
});

/** A TCP server on 127.0.0.1 that answers the first bytes a client sends with `replies`, then ends the connection. */
async function scriptedServer(replies: Buffer[]): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => socket.end(Buffer.concat(replies)));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
