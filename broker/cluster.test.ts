import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { nextMessage, startTestApp, type TestApp } from '../test/testing/app.js';
import { privateRedis, type PrivateRedis } from '../test/testing/private-redis.js';
import { writeWindowScenario } from '../test/testing/write-window.js';

/**
 * Two broker nodes sharing the local Redis (Aedes' Redis emitter and session store), as in
 * cluster mode, on a Redis server of this suite's own.
 */
const run = randomBytes(4).toString('hex');

const withinMs = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms))]);

/**
 * A persistent session subscribing to several filters in ONE SUBSCRIBE gets a SUBACK with every
 * code and live messages on each filter (issue 14 item 1: aedes-persistence's broadcast waiter,
 * keyed by client id + first topic, left all but one store unanswered, so no SUBACK came).
 */
async function subscribesSeveralInOnePacket(sub: TestApp, pub: TestApp, tag: string): Promise<void> {
  const rooms = [1, 2, 3].map((i) => `chat/rooms/multi-${tag}-${i}`);
  const symbol = `MS${tag}`.slice(0, 12);
  const client = await sub.connect({ clientId: `multi-${tag}`, clean: false, password: await sub.token('alice') });
  const filters = {
    [rooms[0]]: { qos: 1 as const },
    [`ticks/${symbol}`]: { qos: 0 as const },
    [rooms[1]]: { qos: 1 as const },
    [rooms[2]]: { qos: 1 as const },
  };
  const granted = await withinMs(client.subscribeAsync(filters), 5000, 'SUBACK');
  expect(granted.map((g) => [g.topic, g.qos])).toEqual(Object.entries(filters).map(([topic, o]) => [topic, o.qos]));
  await new Promise((r) => setTimeout(r, 200)); // subscriptions propagate through Redis

  for (const room of rooms) {
    const got = nextMessage(client, room);
    await pub.ctx.mqtt.publish(room, JSON.stringify({ room }), { qos: 1, retain: false });
    expect(JSON.parse((await got).payload.toString()).room).toBe(room);
  }
  const tick = nextMessage(client, `ticks/${symbol}`);
  pub.ctx.mqtt.publishTicks([{ symbol, time_msc: 7, bid: 2, ask: 2.1, last: 0, volume: 0, flags: 6 }]);
  expect(JSON.parse((await tick).payload.toString()).bid).toBe(2);
}

describe('one node over Redis', () => {
  let node: TestApp;
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await privateRedis();
    node = await startTestApp({ REDIS_URL: redis.url, NODE_ID: `single-${run}` });
  });
  afterAll(async () => {
    await node?.stop();
    await redis?.dispose();
  });

  it('answers a persistent session subscribing to several filters in one SUBSCRIBE, and delivers on each', async () => {
    await subscribesSeveralInOnePacket(node, node, `one${run}`);
  });
});

describe('cluster over Redis', () => {
  let a: TestApp;
  let b: TestApp;
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await privateRedis();
    a = await startTestApp({ REDIS_URL: redis.url, NODE_ID: `a-${run}` });
    b = await startTestApp({ REDIS_URL: redis.url, NODE_ID: `b-${run}` });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.dispose();
  });

  it('delivers QoS 0 and QoS 1 publishes made on node B to a subscriber on node A', async () => {
    const topic = `chat/rooms/cluster-${run}`;
    const token = await a.token('alice');
    const onA = await a.connect({ password: token });
    await onA.subscribeAsync({ [`ticks/CL${run}`]: { qos: 0 }, [topic]: { qos: 1 } });
    await new Promise((r) => setTimeout(r, 200)); // subscription propagates through Redis

    const tick = nextMessage(onA, `ticks/CL${run}`);
    b.ctx.mqtt.publishTicks([{ symbol: `CL${run}`, time_msc: 5, bid: 1, ask: 1.1, last: 0, volume: 0, flags: 6 }]);
    expect(JSON.parse((await tick).payload.toString()).bid).toBe(1);

    const chat = nextMessage(onA, topic);
    await b.ctx.mqtt.publish(topic, '{"type":"message","text":"from b"}', { qos: 1, retain: false });
    expect(JSON.parse((await chat).payload.toString()).text).toBe('from b');
  });

  it("sends a subscriber ticks from the other node as each symbol's latest per write window, and QoS 1 chat amid tick bursts complete and in order", async () => {
    await writeWindowScenario(a, b, `two${run}`.slice(0, 10), true);
  });

  it('answers a persistent session subscribing to several filters in one SUBSCRIBE, and delivers on each from the other node', async () => {
    await subscribesSeveralInOnePacket(a, b, `two${run}`);
  });

  it('resumes a persistent session made on node A on node B, with QoS 1 messages queued meanwhile', async () => {
    const topic = `chat/rooms/offline-${run}`;
    const clientId = `persistent-${run}`;
    const token = await a.token('bob');
    const first = await a.connect({ clientId, clean: false, password: token });
    await first.subscribeAsync(topic, { qos: 1 });
    await first.endAsync();

    for (let i = 1; i <= 5; i++) await a.ctx.mqtt.publish(topic, JSON.stringify({ n: i }), { qos: 1, retain: false });

    const received: number[] = [];
    await b.connect({ clientId, clean: false, password: token }, (t, payload) => {
      if (t === topic) received.push(JSON.parse(payload.toString()).n);
    });
    await expect.poll(() => received, { timeout: 5000 }).toEqual([1, 2, 3, 4, 5]);
  });
});
