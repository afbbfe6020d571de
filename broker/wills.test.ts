import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { aedesInternals } from './aedes/internals.js';
import { startTestApp, type TestApp } from '../test/testing/app.js';
import { privateRedis, type PrivateRedis } from '../test/testing/private-redis.js';
import { startTopology, TOPOLOGIES, type Topology } from '../test/testing/topology.js';
import { connectPacket, rawClient } from '../test/testing/raw-mqtt.js';

/** Operator areas: `status/#` for anonymous clients, `devices/{user}/#` for each signed-in user. */
function operatorAcl(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ticktalk-acl-')), 'acl');
  writeFileSync(file, 'topic readwrite status/#\npattern readwrite devices/%u/#\n');
  return file;
}

type Will = { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean };
const will = (topic: string, payload: object, retain = false): Will => ({ topic, payload: Buffer.from(JSON.stringify(payload)), qos: 1, retain });

/** Everything the clients receive, as topic and payload text. */
function collect(...clients: MqttClient[]): string[] {
  const got: string[] = [];
  for (const client of clients) client.on('message', (t, p) => got.push(`${t} ${p.toString()}`));
  return got;
}

/** On one node and on two over Redis: the wills' clients connect to node 0, their watchers are spread over both. */
describe.each(TOPOLOGIES)('wills are authorised at CONNECT against their owner (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind, { ACL_FILE: operatorAcl() });
  });
  afterAll(() => app.stop());

  async function connackFor(lastWill: Will, token?: string): Promise<number> {
    const c = rawClient(app.ports.mqtt!);
    c.send(connectPacket({ will: lastWill, ...(token ? { username: 'jwt', password: Buffer.from(token) } : {}) }));
    const connack = (await c.waitFor('connack')) as mqttPacket.IConnackPacket;
    c.socket.destroy();
    await c.closed;
    return connack.returnCode ?? -1;
  }

  it('refuses with CONNACK 5 a will on a built-in family or where the owner may not publish, and never delivers it', async () => {
    const alice = await app.token('alice');
    const watcher = await app.connect({ password: alice });
    await watcher.subscribeAsync(['chat/rooms/lobby', 'chat/dm/alice/bob', 'users/alice/errors', 'devices/alice/#']);
    const anonymous = await app.connect();
    await anonymous.subscribeAsync(['ticks/EURUSD', 'status/#']);
    const seen = collect(watcher, anonymous);

    const refused: [Will, string | undefined][] = [
      [will('chat/dm/alice/bob', { text: 'forged' }), undefined],
      [will('chat/rooms/lobby', { user: 'admin', text: 'forged' }, true), undefined],
      [will('ticks/EURUSD', { symbol: 'EURUSD', bid: 99 }, true), undefined],
      [will('users/alice/errors', { code: 'forged' }), undefined],
      [will('private/x', {}), undefined],
      [will('chat/dm/alice/bob', { text: 'unstamped' }), alice],
      [will('chat/rooms/lobby', { user: 'admin', text: 'unstamped' }, true), alice],
      [will('users/alice/errors', { code: 'forged' }), alice],
      [will('devices/bob/status', { state: 'gone' }), alice],
      [will('ticks/EURUSD', { symbol: 'EURUSD', bid: 99 }), await app.token('feeder', ['feed'])],
      [will('$SYS/broker/x', {}), await app.token('root', ['admin'])],
      [will('candles/EURUSD/1m', {}), await app.token('root', ['admin'])],
    ];
    for (const [lastWill, token] of refused) expect([lastWill.topic, await connackFor(lastWill, token)]).toEqual([lastWill.topic, 5]);

    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
  });

  it('publishes an allowed will when its client drops without DISCONNECT', async () => {
    const watcher = await app.connect({ password: await app.token('dora') });
    await watcher.subscribeAsync('devices/dora/#');
    const anonymous = await app.connect();
    await anonymous.subscribeAsync('status/#');
    const seen = collect(watcher, anonymous);
    const got = () => [...seen].sort();

    expect(await connackFor(will('status/sensor-1', { state: 'gone' }))).toBe(0);
    expect(await connackFor(will('devices/dora/phone', { state: 'gone' }), await app.token('dora'))).toBe(0);
    await expect.poll(got).toEqual(['devices/dora/phone {"state":"gone"}', 'status/sensor-1 {"state":"gone"}']);
  });
});

/**
 * Node C dies holding wills in the shared session store; node B's will sweep publishes them with
 * no client object. The forged ones are what a node without CONNECT-time checks stored (a rolling
 * upgrade) or anything written there: the sweep alone must keep them out.
 */
describe('wills a dead node left behind', () => {
  let redis: PrivateRedis;
  let b: TestApp;
  let c: TestApp | undefined;
  beforeAll(async () => {
    redis = await privateRedis();
    const acl = operatorAcl();
    // Node B takes node C's wills 3 to 7 heartbeats after C stops.
    b = await startTestApp({ REDIS_URL: redis.url, NODE_ID: 'will-b', ACL_FILE: acl, CLUSTER_HEARTBEAT_S: '1' });
    c = await startTestApp({ REDIS_URL: redis.url, NODE_ID: 'will-c', ACL_FILE: acl, CLUSTER_HEARTBEAT_S: '1' });
  });
  afterAll(async () => {
    await c?.stop();
    await b?.stop();
    await redis?.dispose();
  });

  it('publishes none of them on a protected family or where the owner could not have published, and retains none', async () => {
    const alice = await b.connect({ password: await b.token('alice') });
    await alice.subscribeAsync(['chat/rooms/lobby', 'chat/dm/alice/bob', 'users/alice/errors', 'devices/alice/#']);
    const anonymous = await b.connect();
    await anonymous.subscribeAsync(['ticks/EURUSD', 'status/#', 'candles/EURUSD/1m']);
    const seen = collect(alice, anonymous);

    // As Aedes stores a CONNECT's will (lib/handlers/connect.js storeWill), under owned client ids.
    const store = aedesInternals(c!.node.aedes).persistence as unknown as { putWill(client: { id: string }, packet: object): Promise<void> };
    const left: [string, Will][] = [
      ['~anonymous:w1', will('chat/rooms/lobby', { user: 'admin', text: 'forged' }, true)],
      ['mallory:w2', will('chat/dm/alice/bob', { text: 'forged' })],
      ['~anonymous:w3', will('ticks/EURUSD', { symbol: 'EURUSD', bid: 99 }, true)],
      ['~anonymous:w4', will('users/alice/errors', { code: 'forged' })],
      ['~anonymous:w5', will('candles/EURUSD/1m', { forged: true }, true)],
      ['mallory:w6', will('devices/alice/status', { state: 'forged' })],
      ['~anonymous:w7', will('status/sensor-c', { state: 'gone' })],
    ];
    for (const [id, packet] of left) await store.putWill({ id }, { cmd: 'publish', ...packet });
    await c!.stop();
    c = undefined;

    // The allowed will shows the sweep ran (node C is forgotten 3 heartbeats after its last).
    await expect.poll(() => seen, { timeout: 20_000, interval: 200 }).toContain('status/sensor-c {"state":"gone"}');
    await new Promise((r) => setTimeout(r, 500));
    expect(seen).toEqual(['status/sensor-c {"state":"gone"}']);

    const late = await b.connect({ password: await b.token('alice') });
    const lateAnonymous = await b.connect();
    const retained = collect(late, lateAnonymous);
    await late.subscribeAsync('chat/rooms/lobby');
    await lateAnonymous.subscribeAsync(['ticks/EURUSD', 'candles/EURUSD/1m']);
    await new Promise((r) => setTimeout(r, 500));
    expect(retained).toEqual([]);
  }, 40_000);
});
