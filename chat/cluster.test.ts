import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { aedesInternals } from '../broker/aedes/internals.js';
import { freshDatabase } from '../test/testing/postgres.js';
import { privateRedis, type PrivateRedis } from '../test/testing/private-redis.js';
import { startChatTestApp, collect, type ChatTestApp } from './testing/app.js';

async function counter(app: ChatTestApp, name: string): Promise<number> {
  const values = (await app.ctx.metrics.registry.getSingleMetric(`ticktalk_${name}`)?.get())?.values ?? [];
  return values.reduce((sum, v) => sum + v.value, 0);
}

/** A loaded CI machine can take a while to route a message: poll generously (never a speed assertion). */
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 });

/**
 * Two broker nodes with chat, sharing a real Redis server of this suite's own (subscriptions,
 * sessions, rate limits, presence) and one PostgreSQL database, as in cluster mode.
 */
const run = randomBytes(4).toString('hex');

describe('chat across two broker nodes', () => {
  let pg: Awaited<ReturnType<typeof freshDatabase>>;
  let a: ChatTestApp;
  let b: ChatTestApp;
  let redis: PrivateRedis;

  beforeAll(async () => {
    [pg, redis] = await Promise.all([freshDatabase('chat_cluster'), privateRedis()]);
    // A bucket that hardly refills, so the shared-limit count does not depend on how fast the test runs.
    const env = { REDIS_URL: redis.url, DATABASE_URL: pg.url, CHAT_BURST: '100', CHAT_RATE_PER_S: '0.001' };
    a = await startChatTestApp({ ...env, NODE_ID: `chat-a-${run}` });
    b = await startChatTestApp({ ...env, NODE_ID: `chat-b-${run}` });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.dispose();
    await pg?.drop();
  });

  /** Users are per run, so rate limits and sessions never meet another run's. */
  const user = (name: string) => `${name}-${run}`;
  const connect = async (node: ChatTestApp, name: string, opts: Record<string, unknown> = {}) =>
    node.connect({ password: await node.token(user(name), ['trader'], name.toUpperCase()), ...opts });

  it('numbers a room without gaps while both nodes take publishes at once, and members on either node get it in seq order', async () => {
    const room = `busy-${run}`;
    const watcher = await connect(a, 'watcher');
    const seen = collect(watcher, `chat/rooms/${room}`);
    const typing = collect(watcher, `chat/typing/${room}`);
    await watcher.subscribeAsync([`chat/rooms/${room}`, `chat/typing/${room}`], { qos: 1 });
    const watcherOnB = await connect(b, 'watcher2');
    const seenOnB = collect(watcherOnB, `chat/rooms/${room}`);
    await watcherOnB.subscribeAsync(`chat/rooms/${room}`, { qos: 1 });
    const onA = await connect(a, 'alice');
    const onB = await connect(b, 'bob');
    // Routed across the cluster once a typing signal from node B arrives on node A.
    await expect.poll(async () => (await onB.publishAsync(`chat/typing/${room}`, '{}'), typing.length), { timeout: 10_000 }).toBeGreaterThan(0);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => [
        onA.publishAsync(`chat/rooms/${room}`, JSON.stringify({ text: `a${i}` }), { qos: 1 }),
        onB.publishAsync(`chat/rooms/${room}`, JSON.stringify({ text: `b${i}` }), { qos: 1 }),
      ]).flat(),
    );
    const all = Array.from({ length: 40 }, (_, i) => i + 1);
    // Each node stores and numbers its own publishes; members of either node see one order, by seq.
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(40);
    expect(seen.map((m) => m.seq)).toEqual(all);
    await expect.poll(() => seenOnB.length, { timeout: 10_000 }).toBe(40);
    expect(seenOnB.map((m) => m.seq)).toEqual(all);
  });

  it('delivers a message that crossed Redis ahead of an earlier seq after that one, on every node', async () => {
    const room = `overtaken-${run}`;
    const topic = `chat/rooms/${room}`;
    const onA = await connect(a, 'reader-a');
    const onB = await connect(b, 'reader-b');
    const seenA = collect(onA, topic);
    const seenB = collect(onB, topic);
    await onA.subscribeAsync(topic, { qos: 1 });
    await onB.subscribeAsync(topic, { qos: 1 });
    const writer = await connect(b, 'writer');
    await writer.publishAsync(topic, JSON.stringify({ text: 'first' }), { qos: 1 });
    await eventually(() => seenA.length + seenB.length).toBe(2);
    // Under load, seq 3 stored on one node can reach Redis before seq 2 stored on the other: as here,
    // where two stored messages are sent through Redis in the opposite order, from two broker ids.
    const stamped = (seq: number, brokerId: string) => ({
      cmd: 'publish',
      topic,
      payload: Buffer.from(
        JSON.stringify({ type: 'message', id: `m${seq}-${run}`, room, seq, user: user('writer'), name: 'WRITER', text: `m${seq}`, ts: Date.now() }),
      ),
      qos: 1,
      retain: false,
      brokerId,
      brokerCounter: 1,
    });
    const { mq } = aedesInternals(b.node.aedes);
    await new Promise<void>((resolve, reject) => mq.emit(stamped(3, `late-${run}`), (err) => (err ? reject(err) : resolve())));
    await new Promise((r) => setTimeout(r, 100));
    await new Promise<void>((resolve, reject) => mq.emit(stamped(2, `slow-${run}`), (err) => (err ? reject(err) : resolve())));
    await eventually(() => [seenA.map((m) => m.seq), seenB.map((m) => m.seq)]).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    expect(await counter(a, 'chat_order_held_total')).toBeGreaterThan(0);
  });

  it('shares the rate limit of a user across nodes', async () => {
    const onA = await connect(a, 'flooder');
    const onB = await connect(b, 'flooder');
    const errors = collect(onA, `users/${user('flooder')}/errors`);
    await onA.subscribeAsync(`users/${user('flooder')}/errors`);
    for (let i = 0; i < 60; i++) await onA.publishAsync(`chat/rooms/flood-${run}`, JSON.stringify({ text: `a${i}` }), { qos: 1 });
    for (let i = 0; i < 60; i++) await onB.publishAsync(`chat/rooms/flood-${run}`, JSON.stringify({ text: `b${i}` }), { qos: 1 });
    // Either node alone would take its 60; together they draw 120 from one bucket of 100.
    await expect.poll(() => errors.length, { timeout: 10_000 }).toBe(20);
    expect(errors[0]).toMatchObject({ code: 'rate_limited' });
  });

  it('resumes a persistent session with its queue first and live messages from the other node after it, each once', async () => {
    const room = `resume-${run}`;
    const topic = `chat/rooms/${room}`;
    const clientId = `resumer-${run}`;
    const options = { clientId, clean: false, password: await b.token(user('resumer'), ['trader'], 'RESUMER') };
    const received: number[] = [];
    const onMessage = (t: string, payload: Buffer) => {
      if (t === topic) received.push((JSON.parse(payload.toString()) as { seq: number }).seq);
    };
    const first = await b.connect(options, onMessage);
    await first.subscribeAsync(topic, { qos: 1 });
    // Node A queues for the session once node B's subscription broadcast has reached it.
    const persistence = aedesInternals(a.node.aedes).persistence;
    await eventually(async () => (await persistence.subscriptionsByTopic(topic)).map((s) => s.clientId)).toContain(`${user('resumer')}:${clientId}`);
    await first.endAsync();

    const sender = await connect(a, 'resume-sender');
    await Promise.all(Array.from({ length: 50 }, (_, i) => sender.publishAsync(topic, JSON.stringify({ text: `m${i + 1}` }), { qos: 1 })));
    await b.connect(options, onMessage);
    // Published on node A after the resume: it crosses Redis while node B is still sending the queue.
    await sender.publishAsync(topic, JSON.stringify({ text: 'm51' }), { qos: 1 });
    await eventually(() => received.length).toBeGreaterThanOrEqual(51);
    // One more round trip through both nodes, so that a late duplicate would have arrived.
    await sender.publishAsync(topic, JSON.stringify({ text: 'm52' }), { qos: 1 });
    await eventually(() => received.at(-1)).toBe(52);
    expect(received).toEqual(Array.from({ length: 52 }, (_, i) => i + 1));
  });

  it('delivers to a persistent session, after its node stopped, on the other node, everything in order', async () => {
    const room = `offline-${run}`;
    const clientId = `member-${run}`;
    const member = await connect(a, 'member', { clientId, clean: false });
    await member.subscribeAsync(`chat/rooms/${room}`, { qos: 1 });
    const observer = await connect(b, 'observer');
    const presence = collect(observer, `chat/presence/${room}`);
    await observer.subscribeAsync(`chat/presence/${room}`);
    await eventually(
      async () =>
        (await b.api.inject({ url: `/api/rooms/${room}/presence`, headers: { authorization: `Bearer ${await b.token('x')}` } })).json().members,
    ).toEqual([{ user: user('member'), name: 'MEMBER' }]);

    // Node B queues for an offline session only once the subscription broadcast from node A has
    // reached its copy of the subscription table (Aedes cluster behaviour; history covers the window).
    const persistence = aedesInternals(b.node.aedes).persistence;
    await eventually(async () => (await persistence.subscriptionsByTopic(`chat/rooms/${room}`)).map((s) => s.clientId)).toContain(
      `${user('member')}:${clientId}`,
    ); // keyed by user and client id

    await a.stop(); // the member's node goes away; its members go offline
    await expect.poll(() => presence.at(-1), { timeout: 10_000 }).toEqual({ user: user('member'), name: 'MEMBER', state: 'offline' });

    const sender = await connect(b, 'sender');
    for (let i = 1; i <= 10; i++) await sender.publishAsync(`chat/rooms/${room}`, JSON.stringify({ text: `m${i}`, ref: `r${i}` }), { qos: 1 });

    const received: Record<string, unknown>[] = [];
    await b.connect({ clientId, clean: false, password: await b.token(user('member'), ['trader'], 'MEMBER') }, (t, p) => {
      if (t === `chat/rooms/${room}`) received.push(JSON.parse(p.toString()));
    });
    await expect.poll(() => received.map((m) => m.seq), { timeout: 10_000 }).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(received.map((m) => [m.seq, m.text, m.user])).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, `m${i + 1}`, user('sender')]));
  });
});
