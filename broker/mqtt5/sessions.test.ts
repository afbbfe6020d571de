import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet';
import { startTopology, TOPOLOGIES, type Topology } from '../../test/testing/topology.js';

/**
 * MQTT 5 sessions (issue 16 items 1 and 6) over real sockets, on one node and on two over Redis:
 * Session Expiry Interval per session (up to MQTT_SESSION_EXPIRY_S), Clean Start, the DISCONNECT's
 * Session Expiry Interval, assigned client ids, server keepalive, takeover (DISCONNECT 0x8E) and
 * the Will Delay Interval. Where a client comes back, it does so on the other node.
 */
const MAX_EXPIRY_S = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let run = 0;

/** `devices/{user}/#` is each signed-in user's (wills go there). */
function operatorAcl(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ticktalk-acl-')), 'acl');
  writeFileSync(file, 'pattern readwrite devices/%u/#\n');
  return file;
}

const connackOf = (client: MqttClient) => (client as unknown as { connackPacket: IConnackPacket }).connackPacket;

describe.each(TOPOLOGIES)('MQTT 5 sessions (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind, { MQTT_SESSION_EXPIRY_S: String(MAX_EXPIRY_S), MQTT_MAX_KEEPALIVE_S: '60', ACL_FILE: operatorAcl() });
  });
  afterAll(() => app.stop());

  /** Connects `user` as MQTT 5 on node `at`, recording the payloads received on `topic`. */
  async function member(at: number, user: string, opts: IClientOptions, topic = '') {
    const got: string[] = [];
    const client = await app.at(at).connect({ protocolVersion: 5, password: await app.token(user), ...opts }, (t, payload) => {
      if (t === topic) got.push(payload.toString());
    });
    return { client, got, connack: connackOf(client) };
  }
  const publish = (topic: string, text: string) => app.ctx.mqtt.publish(topic, text, { qos: 1, retain: false });
  const names = (what: string) => {
    const tag = `${kind}-${what}-${++run}`;
    return { clientId: `c-${tag}`, topic: `chat/rooms/${tag}` };
  };
  const session = (expiry: number, clean = false): IClientOptions => ({ clean, properties: { sessionExpiryInterval: expiry } });

  it('expiry 0 with Clean Start 0: the session resumes, and ends with the connection', async () => {
    const { clientId, topic } = names('zero');
    const first = await member(0, 'ann', { clientId, ...session(MAX_EXPIRY_S) }, topic);
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync();
    const resumed = await member(1, 'ann', { clientId, ...session(0) }, topic);
    expect(resumed.connack.sessionPresent).toBe(true);
    await resumed.client.endAsync();
    await sleep(300);
    await publish(topic, 'after');
    const again = await member(0, 'ann', { clientId, ...session(MAX_EXPIRY_S) }, topic);
    expect(again.connack.sessionPresent).toBe(false);
    await sleep(300);
    expect(again.got).toEqual([]);
  });

  it('expiry N: the session and its queue are kept N seconds, then removed', async () => {
    const { clientId, topic } = names('n');
    const first = await member(0, 'bea', { clientId, ...session(1) }, topic);
    expect(connackOf(first.client).properties?.sessionExpiryInterval).toBeUndefined();
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync();
    await publish(topic, 'queued');
    const back = await member(1, 'bea', { clientId, ...session(1) }, topic);
    expect(back.connack.sessionPresent).toBe(true);
    await expect.poll(() => back.got).toEqual(['queued']);
    await back.client.endAsync();
    await publish(topic, 'expires');
    await sleep(1_800);
    const late = await member(0, 'bea', { clientId, ...session(1) }, topic);
    expect(late.connack.sessionPresent).toBe(false);
    await sleep(300);
    expect(late.got).toEqual([]);
  });

  it('an expiry above MQTT_SESSION_EXPIRY_S is granted as the maximum, in the CONNACK', async () => {
    const { clientId } = names('max');
    const { connack } = await member(0, 'cy', { clientId, ...session(86_400) });
    expect(connack.properties?.sessionExpiryInterval).toBe(MAX_EXPIRY_S);
  });

  it('Clean Start 1 with an expiry discards the stored session and keeps the new one', async () => {
    const { clientId, topic } = names('clean');
    const first = await member(0, 'dan', { clientId, ...session(MAX_EXPIRY_S) }, topic);
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync();
    await publish(topic, 'old session');
    const fresh = await member(1, 'dan', { clientId, ...session(MAX_EXPIRY_S, true) }, topic);
    expect(fresh.connack.sessionPresent).toBe(false);
    await fresh.client.subscribeAsync(`${topic}-new`, { qos: 1 });
    await fresh.client.endAsync();
    await publish(topic, 'not subscribed any more');
    const back = await member(0, 'dan', { clientId, ...session(MAX_EXPIRY_S) }, topic);
    expect(back.connack.sessionPresent).toBe(true);
    await sleep(300);
    expect([...first.got, ...fresh.got, ...back.got]).toEqual([]);
  });

  it("the DISCONNECT's Session Expiry Interval replaces the CONNECT's", async () => {
    const { clientId, topic } = names('disc');
    const first = await member(0, 'eve', { clientId, ...session(MAX_EXPIRY_S) }, topic);
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
    await sleep(300);
    const back = await member(1, 'eve', { clientId, ...session(MAX_EXPIRY_S) }, topic);
    expect(back.connack.sessionPresent).toBe(false);
  });

  it('an assigned client identifier resumes its session, queued messages included', async () => {
    const { topic } = names('assigned');
    // Clean Start 1 (mqtt.js sends no empty client id with Clean Start 0), kept for the expiry.
    const first = await member(0, 'fay', { clientId: '', ...session(MAX_EXPIRY_S, true) }, topic);
    const assigned = first.connack.properties?.assignedClientIdentifier;
    expect(assigned).toMatch(/^auto-/);
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync();
    await publish(topic, 'while away');
    const back = await member(1, 'fay', { clientId: assigned, ...session(MAX_EXPIRY_S) }, topic);
    expect(back.connack.sessionPresent).toBe(true);
    await expect.poll(() => back.got).toEqual(['while away']);
  });

  it('a keepalive of 0 or above MQTT_MAX_KEEPALIVE_S gets the Server Keep Alive', async () => {
    for (const keepalive of [0, 61, 3_600]) {
      const { connack } = await member(0, 'gil', { keepalive });
      expect(connack.properties?.serverKeepAlive).toBe(60);
    }
    const { connack } = await member(0, 'gil', { keepalive: 30 });
    expect(connack.properties?.serverKeepAlive).toBeUndefined();
  });

  it('anonymous clients asking for a session that outlives the connection are refused with 0x87', async () => {
    const refused = await app.connect({ protocolVersion: 5, clientId: `anon-${kind}-1`, ...session(10) }).then(
      () => undefined,
      (e: Error & { code?: number }) => e,
    );
    expect(refused?.code).toBe(0x87);
    const { connack } = { connack: connackOf(await app.connect({ protocolVersion: 5, clientId: `anon-${kind}-2`, ...session(0) })) };
    expect(connack.reasonCode).toBe(0);
    expect(connack.sessionPresent).toBe(false);
  });

  it('a session taken over: the old connection gets DISCONNECT 0x8E before it closes', async () => {
    const { clientId } = names('takeover');
    const first = await member(0, 'hal', { clientId, ...session(MAX_EXPIRY_S) });
    const disconnect = new Promise<IDisconnectPacket>((resolve) => first.client.once('disconnect', resolve));
    const second = await member(1, 'hal', { clientId, ...session(MAX_EXPIRY_S) });
    expect((await disconnect).reasonCode).toBe(0x8e);
    expect(second.connack.sessionPresent).toBe(false);
    expect(second.client.connected).toBe(true);
  });

  describe('Will Delay Interval', () => {
    const willOf = (topic: string, delayS: number) => ({
      topic,
      payload: Buffer.from('gone'),
      qos: 1 as const,
      retain: false,
      properties: { willDelayInterval: delayS },
    });

    /** A client of `ivy` with a will on its own topic, watched from the other node; `leave` ends it with DISCONNECT 0x04. */
    async function withWill(what: string, delayS: number, expiryS = MAX_EXPIRY_S) {
      const { clientId } = names(what);
      const topic = `devices/ivy/${clientId}`;
      const watcher = await member(1, 'ivy', {}, topic);
      await watcher.client.subscribeAsync(topic, { qos: 1 });
      const { client } = await member(0, 'ivy', { clientId, ...session(expiryS), will: willOf(topic, delayS) });
      const leave = () => client.endAsync(false, { reasonCode: 0x04 });
      return { clientId, client, leave, got: watcher.got };
    }

    it('is published after the delay', async () => {
      const { leave, got } = await withWill('will', 1);
      const left = Date.now();
      await leave();
      await sleep(500);
      expect(got).toEqual([]);
      await expect.poll(() => got, { timeout: 3_000, interval: 50 }).toEqual(['gone']);
      expect(Date.now() - left).toBeGreaterThanOrEqual(900);
    });

    it('is published when the session ends, if that comes first', async () => {
      const { leave, got } = await withWill('will-expiry', 30, 0);
      await leave();
      await expect.poll(() => got, { timeout: 1_000, interval: 50 }).toEqual(['gone']);
    });

    it('is not published when the client comes back within the delay, on either node', async () => {
      const { clientId, leave, got } = await withWill('will-back', 1);
      await leave();
      await sleep(200);
      const back = await member(1, 'ivy', { clientId, ...session(MAX_EXPIRY_S) });
      expect(back.connack.sessionPresent).toBe(false); // no subscriptions: Aedes reports none
      await sleep(1_500);
      expect(got).toEqual([]);
    });

    it('is not published when a new connection takes the session over while the client is connected', async () => {
      const { clientId, client, got } = await withWill('will-takeover', 1);
      const disconnect = new Promise<IDisconnectPacket>((resolve) => client.once('disconnect', resolve));
      await member(1, 'ivy', { clientId, ...session(MAX_EXPIRY_S) });
      expect((await disconnect).reasonCode).toBe(0x8e);
      await sleep(1_500);
      expect(got).toEqual([]);
    });

    it('is published at once when the client comes back with Clean Start (the session ended)', async () => {
      const { clientId, leave, got } = await withWill('will-clean', 30);
      await leave();
      await sleep(200);
      await member(1, 'ivy', { clientId, ...session(MAX_EXPIRY_S, true) });
      await expect.poll(() => got, { timeout: 1_000, interval: 50 }).toEqual(['gone']);
    });
  });
});
