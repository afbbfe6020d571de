import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { startTopology, TOPOLOGIES, type Topology } from '../../test/testing/topology.js';

const V5: IClientOptions = { protocolVersion: 5 };

/** The next PUBLISH packet (with its MQTT 5 properties) on `topic`. */
function nextPacket(client: MqttClient, topic: string, ms = 5000): Promise<IPublishPacket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${topic} within ${ms} ms`)), ms);
    const onMessage = (t: string, _payload: Buffer, packet: IPublishPacket) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(packet);
    };
    client.on('message', onMessage);
  });
}

describe.each(TOPOLOGIES)('MQTT 5 clients (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind, { MQTT_MAX_KEEPALIVE_S: '60' });
  });
  afterAll(() => app.stop());

  it('connect: the CONNACK carries the server limits, an assigned client id and the server keepalive', async () => {
    const client = await app.connect({
      ...V5,
      clientId: '',
      keepalive: 0,
      password: await app.token('alice'),
      properties: { sessionExpiryInterval: 0 },
    });
    const connack = (client as unknown as { connackPacket?: IConnackPacket }).connackPacket;
    expect(connack?.reasonCode).toBe(0);
    expect(connack?.properties).toMatchObject({ receiveMaximum: 100, retainAvailable: true, serverKeepAlive: 60 });
    expect(connack?.properties?.assignedClientIdentifier).toMatch(/^auto-/);
  });

  it('ticks reach an MQTT 5 subscriber, with a topic alias after the first', async () => {
    const sub = await app.connect({ ...V5, properties: { topicAliasMaximum: 10 } });
    await sub.subscribeAsync('ticks/GBPUSD');
    const first = nextPacket(sub, 'ticks/GBPUSD');
    app.ctx.mqtt.publishTicks([{ symbol: 'GBPUSD', time_msc: Date.now(), bid: 1.25, ask: 1.2502, last: 0, volume: 0, flags: 6 }]);
    const p1 = await first;
    expect(JSON.parse(p1.payload.toString()).symbol).toBe('GBPUSD');
    expect(p1.properties?.topicAlias).toBe(1);
    const second = nextPacket(sub, 'ticks/GBPUSD');
    await new Promise((r) => setTimeout(r, 50));
    app.ctx.mqtt.publishTicks([{ symbol: 'GBPUSD', time_msc: Date.now(), bid: 1.26, ask: 1.2602, last: 0, volume: 0, flags: 6 }]);
    const p2 = await second;
    expect(JSON.parse(p2.payload.toString()).bid).toBe(1.26);
  });

  it('a bad token is refused with reason code 0x86 and a reason string', async () => {
    const err = await app.connect({ ...V5, password: 'not-a-token', username: 'jwt' }).then(
      () => undefined,
      (e: Error & { code?: number }) => e,
    );
    expect(err?.code).toBe(0x86);
  });
});
