import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hs256Auth } from '../platform/auth.js';
import type { ClientInfo } from '../broker/extensions.js';
import type { Identity } from '../protocol/identity.js';
import { chatRoutes } from './http-routes.js';
import type { ChatService } from './service.js';
import { chatServiceOnPglite, type Published } from './testing/service.js';

/** The chat service through the two surfaces the broker and the web role use, on PGlite. */
describe('ChatService', () => {
  let chat: ChatService;
  let close: () => Promise<void>;
  let published: Published[];
  let app: FastifyInstance;
  let now = 1_763_769_600_000;
  const auth = new Hs256Auth('service-test-secret-0123456789');

  const alice: Identity = { sub: 'alice', name: 'Alice', roles: ['trader'] };
  const bob: Identity = { sub: 'bob', name: 'Bob', roles: ['trader'] };
  const mia: Identity = { sub: 'mia', name: 'Mia', roles: ['trader', 'moderator'] };
  const nora: Identity = { sub: 'nora', name: 'Nora', roles: ['trader'] };
  const client = (who: Identity, id = `${who.sub}-1`): ClientInfo => ({ id, who, node: 'n1' });
  const send = async (who: Identity, topic: string, body: unknown, flags: { qos: 0 | 1; retain: boolean } = { qos: 1, retain: false }) => {
    const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const out = await chat.onClientPublish(client(who), { topic, payload, ...flags });
    // A refusal is acked and dropped: nothing forwarded (the MQTT 5 PUBACK reason is tested end to end).
    return Buffer.isBuffer(out) ? JSON.parse(out.toString()) : null;
  };
  const errorsOf = (sub: string) => published.filter((p) => p.topic === `users/${sub}/errors`).map((p) => p.payload);
  const tokenOf = (who: Identity) => auth.issue({ sub: who.sub, name: who.name, roles: who.roles }, 600);
  const api = async (who: Identity | null, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
    const headers = who ? { authorization: `Bearer ${await tokenOf(who)}` } : {};
    const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, body: res.json() };
  };

  beforeAll(async () => {
    const built = await chatServiceOnPglite({ outbox: false, burst: 200, maxLength: 20, now: () => now });
    ({ service: chat, published, close } = built);
    app = Fastify();
    await app.register(chatRoutes, { chat, auth, guest: true, maxLength: 20 });
  });
  afterAll(async () => {
    await app.close();
    await close();
  });

  describe('publish path', () => {
    it('stamps who speaks from the connection, whatever the payload claims', async () => {
      const out = await send(alice, 'chat/rooms/stamp', { text: 'hi', ref: 'c-1', user: 'mallory', name: 'M', seq: 99, ts: 1, id: 'x' });
      expect(out).toEqual({
        type: 'message',
        id: expect.any(String),
        room: 'stamp',
        seq: 1,
        user: 'alice',
        name: 'Alice',
        text: 'hi',
        ts: now,
        ref: 'c-1',
      });
      expect(await send(bob, 'chat/rooms/stamp', { text: 'yo' })).toMatchObject({ seq: 2, user: 'bob' });
    });

    it("refuses U+0000 (PostgreSQL text cannot hold it) without failing anyone else's message", async () => {
      const [bad, good] = await Promise.all([
        send(nora, 'chat/rooms/nul', { text: 'a\u0000b', ref: 'nul-1' }),
        send(alice, 'chat/rooms/nul', { text: 'fine' }),
      ]);
      expect(bad).toBeNull();
      expect(good).toMatchObject({ seq: 1, text: 'fine' });
      expect(errorsOf('nora').at(-1)).toMatchObject({ ref: 'nul-1', code: 'invalid_payload', message: expect.stringMatching(/U\+0000/) });
    });

    it("refuses a lone surrogate spelled as a JSON escape (PostgreSQL JSON refuses it) without failing anyone else's message", async () => {
      const [bad, good] = await Promise.all([
        send(nora, 'chat/rooms/lone', '{"text":"a\\ud800b","ref":"lone-1"}'),
        send(alice, 'chat/rooms/lone', { text: 'fine' }),
      ]);
      expect(bad).toBeNull();
      expect(good).toMatchObject({ seq: 1, text: 'fine' });
      expect(errorsOf('nora').at(-1)).toMatchObject({
        ref: 'lone-1',
        code: 'invalid_payload',
        message: 'text: text must be well-formed Unicode (no lone surrogates)',
      });
    });

    it('acks a retried ref without forwarding it again, and stores it once', async () => {
      expect(await send(alice, 'chat/rooms/retry', { text: 'once', ref: 'r-9' })).toMatchObject({ seq: 1 });
      expect(await send(alice, 'chat/rooms/retry', { text: 'once', ref: 'r-9' })).toBeNull();
      expect(errorsOf('alice')).toEqual([]);
      expect((await chat.history({ kind: 'room', key: 'retry', room: 'retry' }, { limit: 10 })).messages).toHaveLength(1);
    });

    it('answers bad input on users/{sub}/errors and stores nothing', async () => {
      const bad: [unknown, string][] = [
        ['not json', 'payload must be JSON'],
        [{ ref: 'b-1' }, 'text'],
        [{ text: '   ', ref: 'b-2' }, 'text must not be empty'],
        [{ text: 'x'.repeat(21), ref: 'b-3' }, 'at most 20 characters'],
        [{ text: 'ok', ref: 'r'.repeat(65) }, 'ref must be at most 64'],
        [[1, 2], 'expected object'],
      ];
      for (const [body] of bad) expect(await send(bob, 'chat/rooms/bad', body)).toBeNull();
      const errors = errorsOf('bob') as { ref: string | null; code: string; message: string }[];
      expect(errors.map((e) => e.code)).toEqual(Array(bad.length).fill('invalid_payload'));
      bad.forEach(([, message], i) => expect(errors[i].message).toContain(message));
      expect(errors.map((e) => e.ref)).toEqual([null, 'b-1', 'b-2', 'b-3', null, null]);
      expect((await chat.history({ kind: 'room', key: 'bad', room: 'bad' }, { limit: 10 })).messages).toEqual([]);
    });

    it('refuses retained and QoS 0 chat messages, which could not keep the delivery promise', async () => {
      expect(await send(bob, 'chat/rooms/flags', { text: 'sticky', ref: 'f-1' }, { qos: 1, retain: true })).toBeNull();
      expect(await send(bob, 'chat/rooms/flags', { text: 'lossy', ref: 'f-2' }, { qos: 0, retain: false })).toBeNull();
      expect(await send(bob, 'chat/typing/flags', {}, { qos: 0, retain: true })).toBeNull();
      expect(errorsOf('bob').slice(-3)).toEqual([
        { ref: 'f-1', code: 'invalid_payload', message: 'chat publishes must not be retained' },
        { ref: 'f-2', code: 'invalid_payload', message: 'publish chat messages with QoS 1' },
        { ref: null, code: 'invalid_payload', message: 'chat publishes must not be retained' },
      ]);
      expect(await send(bob, 'chat/typing/flags', {}, { qos: 0, retain: false })).toEqual({ user: 'bob', name: 'Bob' });
      expect((await chat.history({ kind: 'room', key: 'flags', room: 'flags' }, { limit: 10 })).messages).toEqual([]);
    });

    it('keeps DMs to their two users and numbers them per pair', async () => {
      expect(await send(alice, 'chat/dm/alice/bob', { text: 'psst' })).toMatchObject({ room: 'dm:alice:bob', seq: 1, user: 'alice' });
      expect(await send(bob, 'chat/dm/alice/bob', { text: 'yes?' })).toMatchObject({ room: 'dm:alice:bob', seq: 2, user: 'bob' });
      expect(await send(mia, 'chat/dm/alice/bob', { text: 'hi', ref: 'snoop' })).toBeNull();
      expect(errorsOf('mia').at(-1)).toEqual({ ref: 'snoop', code: 'forbidden', message: 'not your conversation' });
      expect(await send(alice, 'chat/rooms/Bad Room', { text: 'x' })).toBeNull();
      expect(errorsOf('alice').at(-1)).toMatchObject({ code: 'invalid_topic' });
    });

    it('re-stamps typing signals and never stores them', async () => {
      expect(await send(alice, 'chat/typing/lobby', { user: 'mallory' })).toEqual({ user: 'alice', name: 'Alice' });
      expect((await chat.rooms({ limit: 200 })).rooms.find((r) => r.room === 'lobby')).toEqual({ room: 'lobby', last_seq: 0 });
    });

    it('refuses a user over the rate limit, and a muted user, with a code', async () => {
      const carol: Identity = { sub: 'carol', name: 'Carol', roles: ['trader'] };
      const results = [];
      for (let i = 0; i < 202; i++) results.push(await send(carol, 'chat/rooms/flood', { text: `m${i}` }));
      expect(results.filter((r) => r === null)).toHaveLength(2);
      expect(errorsOf('carol').at(-1)).toMatchObject({ code: 'rate_limited' });
      now += 5_000;
      await chat.mute(mia, { kind: 'room', key: 'flood', room: 'flood' }, 'carol', now + 60_000);
      expect(await send(carol, 'chat/rooms/flood', { text: 'let me speak', ref: 'm-1' })).toBeNull();
      expect(errorsOf('carol').at(-1)).toMatchObject({ ref: 'm-1', code: 'muted' });
      expect(published.find((p) => p.topic === 'chat/rooms/flood' && (p.payload as { type: string }).type === 'mute')).toMatchObject({
        qos: 1,
        payload: { type: 'mute', room: 'flood', user: 'carol', until: now + 60_000, by: 'mia' },
      });
    });

    it('announces presence as members subscribe and drop', async () => {
      chat.onSubscribe(client(bob), ['chat/rooms/pres', 'chat/presence/pres', 'ticks/+']);
      expect((await api(alice, 'GET', '/api/rooms/pres/presence')).body).toEqual({ room: 'pres', members: [{ user: 'bob', name: 'Bob' }] });
      chat.onDisconnect(client(bob));
      expect((await api(alice, 'GET', '/api/rooms/pres/presence')).body).toEqual({ room: 'pres', members: [] });
      expect(published.filter((p) => p.topic === 'chat/presence/pres').map((p) => p.payload)).toEqual([
        { user: 'bob', name: 'Bob', state: 'online' },
        { user: 'bob', name: 'Bob', state: 'offline' },
      ]);
    });

    it('stores and delivers bot messages as bot:{user}', async () => {
      const { message } = await chat.postAsBot('lobby', { user: 'news', name: 'News' }, { text: 'NFP beat', ref: 'n-1' });
      expect(message).toMatchObject({ room: 'lobby', user: 'bot:news', name: 'News', text: 'NFP beat' });
      expect(published.at(-1)).toMatchObject({ topic: 'chat/rooms/lobby', qos: 1, payload: message });
    });
  });

  describe('HTTP API', () => {
    it('refuses requests without a valid token', async () => {
      expect(await api(null, 'GET', '/api/rooms')).toMatchObject({ status: 401 });
      const res = await app.inject({ method: 'GET', url: '/api/rooms', headers: { authorization: 'Bearer nonsense' } });
      expect(res.statusCode).toBe(401);
    });

    it('reads the auth scheme case-insensitively', async () => {
      const res = await app.inject({ method: 'GET', url: '/api/rooms', headers: { authorization: `bearer ${await tokenOf(bob)}` } });
      expect(res.statusCode).toBe(200);
    });

    it('pages history and recovers a gap by seq', async () => {
      for (let i = 1; i <= 50; i++) await send(alice, 'chat/rooms/hist', { text: `m${i}` });
      expect((await api(bob, 'GET', '/api/rooms')).body.rooms).toContainEqual({ room: 'hist', last_seq: 50 });
      const gap = await api(bob, 'GET', '/api/rooms/hist/messages?after=41&before=45');
      expect(gap.status).toBe(200);
      expect(gap.body.messages.map((m: { seq: number }) => m.seq)).toEqual([42, 43, 44]);
      expect(gap.body.has_more).toBe(false);
      const latest = await api(bob, 'GET', '/api/rooms/hist/messages?limit=5');
      expect(latest.body).toMatchObject({ has_more: true });
      expect(latest.body.messages.map((m: { text: string }) => m.text)).toEqual(['m46', 'm47', 'm48', 'm49', 'm50']);
    });

    it('answers nonsense parameters with 400 and a message', async () => {
      for (const url of [
        '/api/rooms/hist/messages?limit=500',
        '/api/rooms/hist/messages?before=abc',
        '/api/rooms/hist/messages?after=-1',
        '/api/rooms/hist/messages?after=9&before=3',
        '/api/rooms/NOT_A_ROOM/messages',
        '/api/dm/bad%20user/messages',
        '/api/dm/alice/messages',
      ]) {
        const res = await api(alice, 'GET', url);
        expect(res.status, url).toBe(400);
        expect(res.body.error, url).toEqual(expect.any(String));
      }
      for (const limit of ['0', '201', '-1']) {
        const res = await api(alice, 'GET', `/api/rooms/hist/messages?limit=${limit}`);
        expect(res.body.error, limit).toMatch(/limit: must be an integer from 1 to 200/);
      }
      expect((await api(alice, 'GET', '/api/rooms/hist/messages?limit=abc')).body.error).toMatch(/limit: must be a number/);
    });

    it('shows a DM only to its two users', async () => {
      const mine = await api(bob, 'GET', '/api/dm/alice/messages');
      expect(mine.body.messages.map((m: { text: string }) => m.text)).toEqual(['psst', 'yes?']);
      expect((await api(mia, 'GET', '/api/dm/alice/messages')).body.messages).toEqual([]);
    });

    it('lets the author edit within the window, and broadcasts the edit', async () => {
      const seq = (await send(alice, 'chat/rooms/edits', { text: 'tpyo' })).seq;
      expect((await api(bob, 'PATCH', `/api/rooms/edits/messages/${seq}`, { text: 'mine now' })).status).toBe(403);
      expect((await api(alice, 'PATCH', `/api/rooms/edits/messages/${seq}`, { text: '' })).status).toBe(400);
      const edited = await api(alice, 'PATCH', `/api/rooms/edits/messages/${seq}`, { text: 'typo' });
      expect(edited).toEqual({ status: 200, body: { type: 'edit', room: 'edits', seq, text: 'typo', edited_ts: now } });
      expect(published.at(-1)).toEqual({ topic: 'chat/rooms/edits', qos: 1, payload: edited.body });
      now += 61_000;
      expect(await api(alice, 'PATCH', `/api/rooms/edits/messages/${seq}`, { text: 'late' })).toMatchObject({
        status: 403,
        body: { code: 'edit_window_closed' },
      });
      expect((await api(alice, 'PATCH', '/api/rooms/edits/messages/999', { text: 'x' })).status).toBe(404);
    });

    it('lets the author or a moderator delete, leaving a tombstone in history', async () => {
      const seq = (await send(bob, 'chat/rooms/dels', { text: 'oops' })).seq;
      const other = (await send(bob, 'chat/rooms/dels', { text: 'rude' })).seq;
      expect((await api(alice, 'DELETE', `/api/rooms/dels/messages/${seq}`)).status).toBe(403);
      expect((await api(bob, 'DELETE', `/api/rooms/dels/messages/${seq}`)).body).toEqual({ type: 'delete', room: 'dels', seq, by: 'bob' });
      expect((await api(mia, 'DELETE', `/api/rooms/dels/messages/${other}`)).body).toMatchObject({ by: 'mia' });
      expect((await api(mia, 'DELETE', `/api/rooms/dels/messages/${other}`)).status).toBe(409);
      const { messages } = (await api(alice, 'GET', '/api/rooms/dels/messages')).body;
      expect(messages).toMatchObject([
        { seq, text: '', deleted: true, deleted_by: 'bob' },
        { seq: other, text: '', deleted: true, deleted_by: 'mia' },
      ]);
    });

    it('lets only moderators mute, with a time in the future', async () => {
      const until = new Date(now + 3_600_000).toISOString();
      expect((await api(alice, 'POST', '/api/rooms/lobby/mutes', { user: 'bob', until })).status).toBe(403);
      expect((await api(mia, 'POST', '/api/rooms/lobby/mutes', { user: 'bob', until: now - 1 })).status).toBe(400);
      expect((await api(mia, 'POST', '/api/rooms/lobby/mutes', { user: 'no such user!', until })).status).toBe(400);
      expect(await api(mia, 'POST', '/api/rooms/lobby/mutes', { user: 'bob', until })).toEqual({
        status: 201,
        body: { type: 'mute', room: 'lobby', user: 'bob', until: Date.parse(until), by: 'mia' },
      });
    });

    it('signs in guests with a token the API accepts', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/session', payload: { name: 'Guest Gus' } });
      expect(res.statusCode).toBe(200);
      const { token, user } = res.json();
      expect(user).toEqual({ sub: expect.stringMatching(/^guest-[0-9a-f]{16}$/), name: 'Guest Gus', roles: ['trader'] });
      expect(await auth.verify(token)).toEqual(user);
      expect((await app.inject({ method: 'POST', url: '/api/session', payload: { name: '' } })).statusCode).toBe(400);
    });

    it('says why there is no guest session when guest sign-in is off', async () => {
      const closed = Fastify();
      await closed.register(chatRoutes, { chat, auth, guest: false, maxLength: 20 });
      const res = await closed.inject({ method: 'POST', url: '/api/session', payload: { name: 'Guest Gus' } });
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toMatch(/AUTH_GUEST/);
      await closed.close();
    });
  });
});
