import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextMessage } from '../test/testing/app.js';
import { chatRuntime } from './role.js';
import { collect, startChatTopology } from './testing/app.js';
import { TOPOLOGIES } from '../test/testing/topology.js';

/** A loaded CI machine can take a while to route a message: poll generously (never a speed assertion). */
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 });

const TYPING_PER_S = 2;
const GUESTS_PER_MIN = 3;
const CHAT_BURST = 3;

/**
 * What one client can make the node do to everyone else, over real sockets and real HTTP: on one node,
 * and on two over Redis with the clients spread and HTTP calls alternating (the limits hold across
 * the cluster; counters are summed over the nodes).
 */
describe.each(TOPOLOGIES)('chat abuse limits (%s)', (kind) => {
  let app: Awaited<ReturnType<typeof startChatTopology>>;
  let httpCalls = 0;
  const connect = async (sub: string, name: string, roles = ['trader']) => app.connect({ password: await app.token(sub, roles, name) });
  const http = async (method: string, path: string, sub: string | null, body?: unknown, roles = ['trader']) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (sub) headers.authorization = `Bearer ${await app.token(sub, roles, sub)}`;
    const res = await fetch(`${app.at(httpCalls++).httpUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };
  const metricOf = async (node: { httpUrl: string }, name: string) => {
    const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`ticktalk_${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  /** Over every node (undefined where no node has it yet). */
  const metric = async (name: string) => {
    const values = (await Promise.all(app.nodes.map((node) => metricOf(node, name)))).filter((v) => v !== undefined);
    return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
  };

  beforeAll(async () => {
    app = await startChatTopology(kind, {
      AUTH_GUEST: 'on',
      AUTH_GUEST_PER_IP_PER_MIN: String(GUESTS_PER_MIN),
      CHAT_TYPING_PER_S: String(TYPING_PER_S),
      CHAT_BURST: String(CHAT_BURST),
      CHAT_RATE_PER_S: '0.01',
    });
  });
  afterAll(() => app?.stop());

  it('forwards a few typing signals per second per user and room; the rest are acked, dropped and counted', async () => {
    const watcher = await connect('watcher', 'Watcher');
    const typing = collect(watcher, 'chat/typing/busy');
    const sentinel = collect(watcher, 'chat/typing/quiet');
    await watcher.subscribeAsync(['chat/typing/busy', 'chat/typing/quiet'], { qos: 0 });

    const typist = await connect('typist', 'Typist');
    const started = performance.now();
    for (let i = 0; i < 50; i++) typist.publish('chat/typing/busy', '{}');
    // Another room has its own allowance, and arrives after every earlier signal of the same client.
    typist.publish('chat/typing/quiet', '{}');
    await eventually(() => sentinel.length).toBe(1);
    const seconds = (performance.now() - started) / 1000;

    expect(typing.length).toBeGreaterThanOrEqual(1);
    expect(typing.length).toBeLessThanOrEqual(TYPING_PER_S + Math.ceil(seconds * TYPING_PER_S));
    expect(typing[0]).toEqual({ user: 'typist', name: 'Typist' });
    await eventually(() => metric('chat_typing_throttled_total')).toBe(50 - typing.length);
  });

  it(`gives ${GUESTS_PER_MIN} guest sessions a minute per address, then 429 with Retry-After and a message`, async () => {
    for (let i = 0; i < GUESTS_PER_MIN; i++) expect((await http('POST', '/api/session', null, { name: `Guest ${i}` })).status).toBe(200);
    const refused = await http('POST', '/api/session', null, { name: 'One too many' });
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ code: 'rate_limited', error: expect.stringMatching(/guest sessions/) });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    expect(await metric('auth_guest_refused_total')).toBe(1);
  });

  it('refuses an edit by a muted author with the code a muted post gets', async () => {
    const author = await connect('muffled', 'Muffled');
    await author.publishAsync('chat/rooms/muted-edit', JSON.stringify({ text: 'before the mute' }), { qos: 1 });
    const mute = await http('POST', '/api/rooms/muted-edit/mutes', 'mod', { user: 'muffled', until: Date.now() + 3_600_000 }, [
      'trader',
      'moderator',
    ]);
    expect(mute.status).toBe(201);
    const edit = await http('PATCH', '/api/rooms/muted-edit/messages/1', 'muffled', { text: 'rewritten while muted' });
    expect(edit).toMatchObject({ status: 403, body: { code: 'muted' } });
    const history = await http('GET', '/api/rooms/muted-edit/messages', 'mod');
    expect(history.body.messages).toMatchObject([{ seq: 1, text: 'before the mute' }]);
  });

  it('rate-limits edits with the chat limiter: 429 with Retry-After once the allowance is spent', async () => {
    const author = await connect('reviser', 'Reviser');
    await author.publishAsync('chat/rooms/edits', JSON.stringify({ text: 'v0' }), { qos: 1 });
    const statuses = [];
    for (let i = 1; i <= CHAT_BURST; i++) statuses.push((await http('PATCH', '/api/rooms/edits/messages/1', 'reviser', { text: `v${i}` })).status);
    // The post took one token of the burst, so the last edit is one too many.
    expect(statuses).toEqual([...Array<number>(CHAT_BURST - 1).fill(200), 429]);
    const refused = await http('PATCH', '/api/rooms/edits/messages/1', 'reviser', { text: 'again' });
    expect(refused.body).toMatchObject({ code: 'rate_limited' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('refuses a mute until a date beyond 10 years (or one JavaScript cannot represent) with 400', async () => {
    const mod = (until: unknown) => http('POST', '/api/rooms/lobby/mutes', 'mod', { user: 'someone', until }, ['trader', 'moderator']);
    for (const until of [8.64e15 + 1, 1e15, Date.now() + 11 * 365 * 24 * 3600 * 1000]) {
      expect(await mod(until)).toMatchObject({ status: 400, body: { code: 'invalid_payload', error: expect.stringMatching(/until/) } });
    }
    expect((await mod(Date.now() + 9 * 365 * 24 * 3600 * 1000)).status).toBe(201);
  });

  it('answers a user muted until an unprintable date (stored before the bound) with a muted error, and keeps the connection', async () => {
    const { store } = await chatRuntime(app.ctx);
    await store.mute('forever', 'stuck', 8.64e15 + 1, 'mod');
    const stuck = await connect('stuck', 'Stuck');
    await stuck.subscribeAsync('users/stuck/errors', { qos: 0 });
    const error = nextMessage(stuck, 'users/stuck/errors');
    // Acked, not retransmitted forever: the publish resolves and the error names the mute.
    const acked = stuck.publishAsync('chat/rooms/forever', JSON.stringify({ text: 'hello?', ref: 'f-1' }), { qos: 1 });
    await Promise.race([acked, new Promise((_, reject) => setTimeout(() => reject(new Error('publish never acked')), 10_000))]);
    expect(JSON.parse((await error).payload.toString())).toEqual({ ref: 'f-1', code: 'muted', message: 'you are muted here until further notice' });
    expect(stuck.connected).toBe(true);
  });
});
