import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import type { IConnackPacket } from 'mqtt-packet';
import { collect } from '../../chat/testing/app.js';
import { nextMessage } from '../testing/app.js';
import { startTopology, TOPOLOGIES, type Topology } from '../testing/topology.js';

/**
 * docs/protocol.md#mqtt-5: the basic contract (sign in with a token, ticks, chat in a room, history
 * over HTTP) for a client speaking MQTT 5, side by side with a 3.1.1 client, on one node and on two
 * nodes over Redis (clients spread over both, HTTP calls alternating).
 */

let app: Topology;
let roomCounter = 0;
const freshRoom = () => `m5${Date.now().toString(36)}-${roomCounter++}`;

type Json = Record<string, unknown>;

/** An MQTT 5 client accepting topic aliases, as the web page connects. */
const V5: IClientOptions = { protocolVersion: 5, properties: { topicAliasMaximum: 16 } };

async function v5User(sub: string, name: string): Promise<MqttClient> {
  return app.connect({ ...V5, password: await app.token(sub, undefined, name) });
}

/** The refusal a CONNECT with this password gets: the CONNACK's reason code and Reason String. */
function refusalOf(password: string): Promise<{ code?: number; reason?: string }> {
  const client = mqtt.connect(app.at(1).mqttUrl, { ...V5, reconnectPeriod: 0, username: 'jwt', password });
  return new Promise((resolve) => {
    client.on('packetreceive', (packet: Packet) => {
      if (packet.cmd !== 'connack') return;
      client.end(true);
      resolve({ code: packet.reasonCode, reason: packet.properties?.reasonString });
    });
    client.on('error', () => {});
  });
}

describe.each(TOPOLOGIES)('%s', (kind) => {
  beforeAll(async () => {
    app = await startTopology(kind, {}, ['broker', 'web'], { postgres: true });
  });
  afterAll(() => app?.stop());

  describe('MQTT 5 basic contract', () => {
    it('signs in with a token as the password: CONNACK success with the server limits', async () => {
      const client = await v5User('alice', 'Alice');
      const connack = (client as unknown as { connackPacket?: IConnackPacket }).connackPacket;
      expect(connack?.reasonCode).toBe(0);
      expect(connack?.sessionPresent).toBe(false);
      expect(connack?.properties).toMatchObject({ receiveMaximum: 100, retainAvailable: true });
      client.end(true);
    });

    it('refuses a bad token with 0x86 and an expired one with the reason "token expired"', async () => {
      expect(await refusalOf('not-a-token')).toMatchObject({ code: 0x86, reason: expect.any(String) });
      const expired = await app.ctx.auth.issue({ sub: 'alice' }, -3600);
      expect(await refusalOf(expired)).toEqual({ code: 0x86, reason: 'token expired' });
    });

    it('delivers ticks under their topic name (topic aliases resolved), as to a 3.1.1 client', async () => {
      const v5 = await app.connect(V5);
      const v311 = await app.connect();
      await Promise.all([v5.subscribeAsync('ticks/M5USD'), v311.subscribeAsync('ticks/M5USD')]);
      for (const bid of [1.1, 1.2]) {
        const got = [nextMessage(v5, 'ticks/M5USD'), nextMessage(v311, 'ticks/M5USD')];
        app.ctx.mqtt.publishTicks([{ symbol: 'M5USD', time_msc: Date.now(), bid, ask: bid + 0.0002, last: 0, volume: 0, flags: 6 }]);
        for (const m of await Promise.all(got)) expect(JSON.parse(m.payload.toString())).toMatchObject({ symbol: 'M5USD', bid });
      }
      v5.end(true);
      v311.end(true);
    });

    it('chat: an MQTT 5 publish is stamped and reaches MQTT 5 and 3.1.1 subscribers alike, and history serves it', async () => {
      const room = freshRoom();
      const topic = `chat/rooms/${room}`;
      const bob = await v5User('bob', 'Bob');
      const carol = await app.connect({ password: await app.token('carol', undefined, 'Carol') });
      await Promise.all([bob.subscribeAsync(topic, { qos: 1 }), carol.subscribeAsync(topic, { qos: 1 })]);
      const [toBob, toCarol] = [collect(bob, topic), collect(carol, topic)];
      const alice = await v5User('alice', 'Alice');

      const ack = await alice.publishAsync(topic, JSON.stringify({ text: 'hi in five', ref: 'r-1', user: 'bob' }), { qos: 1 });
      expect((ack as { reasonCode?: number } | undefined)?.reasonCode ?? 0, 'PUBACK success').toBe(0);
      const stamped = { type: 'message', room, seq: 1, user: 'alice', name: 'Alice', text: 'hi in five', ref: 'r-1' };
      await expect.poll(() => toBob.length).toBe(1);
      await expect.poll(() => toCarol.length).toBe(1);
      expect(toBob[0]).toMatchObject(stamped);
      expect(toCarol[0]).toEqual(toBob[0]);

      const res = await fetch(`${app.at(1).httpUrl}/api/rooms/${room}/messages`, {
        headers: { authorization: `Bearer ${await app.token('alice')}` },
      });
      expect(res.status).toBe(200);
      const { messages } = (await res.json()) as { messages: Json[] };
      expect(messages).toEqual([expect.objectContaining({ id: toBob[0]?.id, seq: 1, user: 'alice', name: 'Alice', text: 'hi in five' })]);
      for (const c of [alice, bob, carol]) c.end(true);
    });

    it('answers a refused subscription in the SUBACK for that filter only (reason code 0x80 or above)', async () => {
      const anon = await app.connect(V5);
      // mqtt.js answers a SUBACK refusing any filter with an error; the SUBACK comes beside it.
      const granted = await new Promise<(number | object)[] | undefined>((resolve) => {
        anon.subscribe({ 'ticks/M5USD': { qos: 0 }, 'chat/rooms/lobby': { qos: 1 } }, (_err, _subs, suback) => resolve(suback?.granted));
      });
      expect(granted?.[0]).toBe(0);
      expect(granted?.[1]).toBeGreaterThanOrEqual(0x80);
      anon.end(true);
    });
  });
});
