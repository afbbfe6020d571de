import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startTestApp, type TestApp } from '../test/testing/app.js';
import { privateRedis, type PrivateRedis } from '../test/testing/private-redis.js';
import { signedInRawClient } from '../test/testing/raw-mqtt.js';

/**
 * Session bounds (issue 14 item 6) over real sockets, on one node in memory and on two nodes over
 * a Redis server of this suite's own: persistent sessions expire
 * MQTT_SESSION_EXPIRY_S after their client left, queues keep the newest MQTT_MAX_QUEUED_MESSAGES,
 * a user holds at most MQTT_MAX_CONNECTIONS_PER_USER connections, anonymous clients keep no session.
 */
const EXPIRY_S = 2;
const MAX_QUEUED = 5;
const MAX_CONNECTIONS = 2;
const ENV = {
  MQTT_SESSION_EXPIRY_S: String(EXPIRY_S),
  MQTT_MAX_QUEUED_MESSAGES: String(MAX_QUEUED),
  MQTT_MAX_CONNECTIONS_PER_USER: String(MAX_CONNECTIONS),
  MQTT_CONNECTS_PER_IP_PER_S: '1000',
};
const run = randomBytes(4).toString('hex');
/** A node opens its database at start (PGlite), which can take long on a loaded machine. */
const START_TIMEOUT_MS = 180_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A metric summed over the nodes (each node counts what it did). */
async function metric(nodes: TestApp[], name: string): Promise<number> {
  let sum = 0;
  for (const node of nodes) {
    const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`ticktalk_${name} `));
    sum += Number(line?.slice(line.lastIndexOf(' ') + 1) ?? 0);
  }
  return sum;
}

/** Connects, recording the payloads of `topic` and the CONNACK's session-present flag. */
async function member(node: TestApp, user: string, clientId: string, topic: string) {
  const got: number[] = [];
  const client = await node.connect({ clientId, clean: false, password: await node.token(user) }, (t, payload) => {
    if (t === topic) got.push(JSON.parse(payload.toString()).n);
  });
  const { connackPacket } = client as unknown as { connackPacket?: { sessionPresent: boolean } };
  return { client, got, sessionPresent: connackPacket?.sessionPresent ?? false };
}

const publish = (node: TestApp, topic: string, n: number) => node.ctx.mqtt.publish(topic, JSON.stringify({ n }), { qos: 1, retain: false });

/** The nodes of a scenario: the client leaves from node `a` and comes back on node `b` (the same node on one node). */
type Nodes = () => { a: TestApp; b: TestApp };

/** Each node once. */
const allOf = (nodes: Nodes) => [...new Set(Object.values(nodes()))];

/** The scenarios, on the nodes `nodes` gives once they are started. */
function sessionBounds(nodes: Nodes, tag: string) {
  sessionExpiry(nodes, tag);
  queueBounds(nodes, tag);
  connectionBounds(nodes, tag);
}

/** MQTT_SESSION_EXPIRY_S after the client left, and only then. */
function sessionExpiry(nodes: Nodes, tag: string) {
  const all = () => allOf(nodes);

  it('removes a persistent session with its queue MQTT_SESSION_EXPIRY_S after its client left', async () => {
    const { a, b } = nodes();
    const topic = `chat/rooms/expire-${tag}`;
    const expiredBefore = await metric(all(), 'mqtt_sessions_expired_total');
    const first = await member(a, 'erin', `erin-${tag}`, topic);
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync();
    await publish(a, topic, 1);
    await expect.poll(() => metric(all(), 'mqtt_sessions_offline'), { timeout: 5_000 }).toBeGreaterThanOrEqual(1);

    await expect.poll(() => metric(all(), 'mqtt_sessions_expired_total'), { timeout: 15_000, interval: 250 }).toBe(expiredBefore + 1);
    const again = await member(b, 'erin', `erin-${tag}`, topic);
    expect(again.sessionPresent).toBe(false);
    await publish(a, topic, 2);
    await sleep(300);
    expect(again.got).toEqual([]); // neither the queued message nor the forgotten subscription
  });

  it('resumes a session within the expiry, and never expires one its client took over or came back to on any node', async () => {
    const { a, b } = nodes();
    const topic = `chat/rooms/keep-${tag}`;
    const clientId = `kim-${tag}`;
    const first = await member(a, 'kim', clientId, topic);
    await first.client.subscribeAsync(topic, { qos: 1 });
    // Taken over on b while connected on a: a's closing connection must not schedule an expiry.
    const takeover = await member(b, 'kim', clientId, topic);
    expect(takeover.sessionPresent).toBe(true);
    await sleep(EXPIRY_S * 1000 * 1.5);
    await takeover.client.endAsync();
    await publish(a, topic, 1);
    // Back on a within the expiry: the session and its queue are there.
    const back = await member(a, 'kim', clientId, topic);
    expect(back.sessionPresent).toBe(true);
    await expect.poll(() => back.got, { timeout: 5_000 }).toEqual([1]);
    await sleep(EXPIRY_S * 1000 * 1.5);
    await back.client.endAsync();
    await publish(b, topic, 2);
    const last = await member(b, 'kim', clientId, topic);
    expect(last.sessionPresent).toBe(true);
    await expect.poll(() => last.got, { timeout: 5_000 }).toEqual([2]);
  });
}

/** MQTT_MAX_QUEUED_MESSAGES, offline and for a connected session that stopped acknowledging. */
function queueBounds(nodes: Nodes, tag: string) {
  const all = () => allOf(nodes);

  it('keeps the newest MQTT_MAX_QUEUED_MESSAGES of an offline session, in order, and counts the dropped', async () => {
    const { a, b } = nodes();
    const topic = `chat/rooms/queue-${tag}`;
    const clientId = `quinn-${tag}`;
    const droppedBefore = await metric(all(), 'mqtt_queue_dropped_total');
    const first = await member(a, 'quinn', clientId, topic);
    await first.client.subscribeAsync(topic, { qos: 1 });
    await first.client.endAsync();
    for (let n = 1; n <= MAX_QUEUED + 3; n++) await publish(a, topic, n);

    const back = await member(b, 'quinn', clientId, topic);
    await expect.poll(() => back.got, { timeout: 5_000 }).toEqual([4, 5, 6, 7, 8]);
    expect(await metric(all(), 'mqtt_queue_dropped_total')).toBe(droppedBefore + 3);
  });

  it('bounds the queue of a connected session that stops acknowledging the same way', async () => {
    const { a, b } = nodes();
    const topic = `chat/rooms/stalled-${tag}`;
    const clientId = `stan-${tag}`;
    const droppedBefore = await metric(all(), 'mqtt_queue_dropped_total');
    const stalled = await signedInRawClient(a.ports.mqtt!, await a.token('stan'), { clientId, clean: false });
    stalled.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await stalled.waitFor('suback');
    await sleep(200); // the subscription reaches the other node through Redis
    for (let n = 1; n <= MAX_QUEUED + 3; n++) await publish(b, topic, n);
    // Delivered, never acknowledged (a raw client sends no PUBACK).
    await expect.poll(() => stalled.packets.filter((p) => p.cmd === 'publish').length, { timeout: 5_000 }).toBe(MAX_QUEUED + 3);
    expect(await metric(all(), 'mqtt_queue_dropped_total')).toBe(droppedBefore + 3);
    stalled.socket.destroy();
    await stalled.closed;

    const back = await member(b, 'stan', clientId, topic);
    await expect.poll(() => back.got, { timeout: 5_000 }).toEqual([4, 5, 6, 7, 8]);
  });
}

/** MQTT_MAX_CONNECTIONS_PER_USER, and anonymous clients. */
function connectionBounds(nodes: Nodes, tag: string) {
  const all = () => allOf(nodes);

  it('refuses a connection beyond MQTT_MAX_CONNECTIONS_PER_USER with CONNACK 3, across nodes; a takeover is not counted twice', async () => {
    const { a, b } = nodes();
    const token = await a.token(`carl-${tag}`);
    const refusedBefore = await metric(all(), 'mqtt_auth_refusals_total{reason="too many connections"}');
    const one = await a.connect({ clientId: 'one', password: token });
    await b.connect({ clientId: 'two', password: token });
    await expect(a.connect({ clientId: 'three', password: token })).rejects.toMatchObject({ code: 3 });
    await expect(b.connect({ clientId: 'three', password: token })).rejects.toMatchObject({ code: 3 });
    expect(await metric(all(), 'mqtt_auth_refusals_total{reason="too many connections"}')).toBe(refusedBefore + 2);

    // A second connection under a client id the user holds takes it over: still two.
    await b.connect({ clientId: 'one', password: token });
    await expect.poll(() => one.connected, { timeout: 5_000 }).toBe(false);
    await expect(a.connect({ clientId: 'three', password: token })).rejects.toMatchObject({ code: 3 });
  });

  it('frees a connection of the per-user bound when it closes', async () => {
    const { a, b } = nodes();
    const token = await a.token(`cleo-${tag}`);
    await a.connect({ clientId: 'one', password: token });
    const two = await b.connect({ clientId: 'two', password: token });
    await two.endAsync();
    await expect
      .poll(
        () =>
          a.connect({ clientId: 'three', password: token }).then(
            () => true,
            () => false,
          ),
        { timeout: 5_000 },
      )
      .toBe(true);
  });

  it('refuses anonymous persistent sessions with CONNACK 5 and serves anonymous clean ones', async () => {
    const { a } = nodes();
    await expect(a.connect({ clientId: `anon-${tag}`, clean: false })).rejects.toMatchObject({ code: 5 });
    expect(await metric([a], 'mqtt_auth_refusals_total{reason="anonymous session"}')).toBeGreaterThanOrEqual(1);
    const market = await a.connect({ clientId: `anon-${tag}`, clean: true });
    expect(market.connected).toBe(true);
  });
}

describe('session bounds on one node', () => {
  let node: TestApp;
  beforeAll(async () => {
    node = await startTestApp(ENV);
  }, START_TIMEOUT_MS);
  afterAll(() => node?.stop());
  sessionBounds(() => ({ a: node, b: node }), `one${run}`);
});

describe('session bounds on two nodes over Redis', () => {
  let a: TestApp;
  let b: TestApp;
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await privateRedis();
    a = await startTestApp({ ...ENV, REDIS_URL: redis.url, NODE_ID: `sa-${run}` });
    b = await startTestApp({ ...ENV, REDIS_URL: redis.url, NODE_ID: `sb-${run}` });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.dispose();
  });
  sessionBounds(() => ({ a, b }), `two${run}`);
});
