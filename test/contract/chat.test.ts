import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { nextMessage } from '../testing/app.js';
import { startTopology, TOPOLOGIES, type Topology } from '../testing/topology.js';

/**
 * docs/protocol.md#chat-messages-and-events (chat messages over MQTT) and #chat-api (HTTP API), as a client sees them,
 * on one node and on two nodes over Redis (clients spread over both, HTTP calls alternating).
 * A generous chat rate limit lets one user fill a history page quickly.
 */

let app: Topology;
let roomCounter = 0;
/** A fresh room per test, so seq expectations start at 1. */
const freshRoom = () => `c${Date.now().toString(36)}-${roomCounter++}`;

type Json = Record<string, unknown>;

function collect(client: MqttClient, topic: string): Json[] {
  const got: Json[] = [];
  client.on('message', (t, payload) => {
    if (t === topic) got.push(JSON.parse(payload.toString()));
  });
  return got;
}

async function user(sub: string, name?: string, roles?: string[]): Promise<MqttClient> {
  return app.connect({ password: await app.token(sub, roles, name) });
}

const say = (client: MqttClient, topic: string, body: Json) => client.publishAsync(topic, JSON.stringify(body), { qos: 1 });
/** After the expected deliveries arrived (over Redis in a cluster): time for any extra one to show. */
const settle = () => new Promise((r) => setTimeout(r, 300));

let apiCalls = 0;
/** An HTTP call to the nodes in turn: what one node stored, the other serves. */
async function api(method: string, path: string, sub: string, body?: Json, roles?: string[]): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${app.at(apiCalls++).httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${await app.token(sub, roles)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: (await res.json()) as Json };
}

describe.each(TOPOLOGIES)('%s', (kind) => {
  beforeAll(async () => {
    app = await startTopology(kind, { CHAT_RATE_PER_S: '1000', CHAT_BURST: '1000' }, ['broker', 'web'], { postgres: true });
  });
  afterAll(() => app?.stop());

  describe('protocol: chat messages and events', () => {
    it('stamps every field of the documented message; seq starts at 1 and has no gaps across authors', async () => {
      const room = freshRoom();
      const topic = `chat/rooms/${room}`;
      const bob = await user('bob', 'Bob');
      await bob.subscribeAsync(topic, { qos: 1 });
      const got = collect(bob, topic);
      const alice = await user('alice', 'Alice');

      const before = Date.now();
      await say(alice, topic, { text: 'hi', ref: 'c-1' });
      await say(bob, topic, { text: 'hello' });
      await say(alice, topic, { text: 'spoof', ref: 'c-2', user: 'bob', name: 'Bob', seq: 99, id: 'mine', ts: 1, type: 'delete' });
      await expect.poll(() => got.length).toBe(3);
      await settle();

      expect(got).toHaveLength(3);
      expect(got[0]).toEqual({
        type: 'message',
        id: expect.any(String),
        room,
        seq: 1,
        user: 'alice',
        name: 'Alice',
        text: 'hi',
        ts: expect.any(Number),
        ref: 'c-1',
      });
      expect(got[0].ts as number).toBeGreaterThanOrEqual(before - 1000);
      expect(got[1]).toMatchObject({ type: 'message', seq: 2, user: 'bob', name: 'Bob', text: 'hello' });
      expect(got[2]).toMatchObject({ type: 'message', seq: 3, user: 'alice', name: 'Alice', text: 'spoof', ref: 'c-2' });
      expect(got[2].id).not.toBe('mine');
      expect(new Set(got.map((m) => m.id)).size).toBe(3);
    });

    it('numbers each DM pair from 1, delivers only to the pair, and the same ref from another user is a new message', async () => {
      const a = `a${Date.now().toString(36)}`;
      const b = `b${Date.now().toString(36)}`;
      const topic = `chat/dm/${a}/${b}`;
      const alice = await user(a);
      const bob = await user(b);
      await bob.subscribeAsync(topic, { qos: 1 });
      const got = collect(bob, topic);
      await say(alice, topic, { text: 'one', ref: 'r1' });
      await say(bob, topic, { text: 'two', ref: 'r1' });
      await say(alice, topic, { text: 'three' });
      await expect.poll(() => got.length).toBe(3);
      await settle();
      expect(got.map((m) => [m.seq, m.user, m.text])).toEqual([
        [1, a, 'one'],
        [2, b, 'two'],
        [3, a, 'three'],
      ]);

      const carolSees = await api('GET', `/api/dm/${a}/messages`, 'carol');
      expect(carolSees).toEqual({ status: 200, json: { messages: [], has_more: false } });
      const bobSees = await api('GET', `/api/dm/${a}/messages`, b);
      expect((bobSees.json.messages as Json[]).map((m) => m.text)).toEqual(['one', 'two', 'three']);
    });

    it('the same ref from the same user in the same room is stored and forwarded once', async () => {
      const room = freshRoom();
      const topic = `chat/rooms/${room}`;
      const alice = await user('alice');
      await alice.subscribeAsync(topic, { qos: 1 });
      const got = collect(alice, topic);
      await say(alice, topic, { text: 'first', ref: 'retry-1' });
      await say(alice, topic, { text: 'first (retried)', ref: 'retry-1' });
      await say(alice, topic, { text: 'second', ref: 'retry-2' });
      await expect.poll(() => got.length).toBe(2);
      await settle();
      expect(got.map((m) => [m.seq, m.text])).toEqual([
        [1, 'first'],
        [2, 'second'],
      ]);
      const history = await api('GET', `/api/rooms/${room}/messages`, 'alice');
      expect((history.json.messages as Json[]).map((m) => m.text)).toEqual(['first', 'second']);
    });

    it('a rejected publish is acked, not forwarded, and answered on users/{sub}/errors with {ref,code,message}', async () => {
      const room = freshRoom();
      const topic = `chat/rooms/${room}`;
      const bob = await user('bob');
      await bob.subscribeAsync(topic, { qos: 1 });
      const forwarded = collect(bob, topic);
      const alice = await user('alice');
      await alice.subscribeAsync('users/alice/errors', { qos: 0 });
      const errors = collect(alice, 'users/alice/errors');

      await say(alice, topic, { text: '', ref: 'empty' }); // resolves only once PUBACK arrives
      await say(alice, topic, { text: 'x'.repeat(2001), ref: 'too-long' });
      await alice.publishAsync(topic, 'not json', { qos: 1 });
      await expect.poll(() => errors.length).toBe(3);
      await settle();
      expect(forwarded).toEqual([]);
      expect(errors).toHaveLength(3);
      for (const e of errors) expect(Object.keys(e).sort()).toEqual(['code', 'message', 'ref']);
      expect(errors.map((e) => e.ref)).toEqual(['empty', 'too-long', null]);
      for (const e of errors) expect(e.message).toEqual(expect.any(String));
    });

    it('edits and deletes are events on the room topic; only the author edits, the author or a moderator deletes', async () => {
      const room = freshRoom();
      const topic = `chat/rooms/${room}`;
      const watcher = await user('watcher');
      await watcher.subscribeAsync(topic, { qos: 1 });
      const got = collect(watcher, topic);
      const alice = await user('alice');
      const bob = await user('bob');
      await say(alice, topic, { text: 'mine' });
      await say(bob, topic, { text: 'his' });
      const path = `/api/rooms/${room}/messages`;

      expect((await api('PATCH', `${path}/1`, 'bob', { text: 'hijacked' })).status).toBe(403);
      expect((await api('PATCH', `${path}/1`, 'alice', { text: 'mine, edited' })).status).toBe(200);
      expect((await api('DELETE', `${path}/2`, 'alice')).status).toBe(403);
      expect((await api('DELETE', `${path}/2`, 'mod', undefined, ['moderator'])).status).toBe(200);
      await expect.poll(() => got.length).toBe(4);
      await settle();

      expect(got.slice(2)).toEqual([
        { type: 'edit', room, seq: 1, text: 'mine, edited', edited_ts: expect.any(Number) },
        { type: 'delete', room, seq: 2, by: 'mod' },
      ]);
      const history = (await api('GET', path, 'alice')).json.messages as Json[];
      expect(history[0]).toMatchObject({ seq: 1, text: 'mine, edited' });
      expect(history[1]).toMatchObject({ seq: 2, deleted: true });
      expect(history[1].text).not.toBe('his');
    });

    it('a moderator mutes (a trader may not); a muted user is refused with an error', async () => {
      const room = freshRoom();
      const topic = `chat/rooms/${room}`;
      const until = Date.now() + 60_000;
      expect((await api('POST', `/api/rooms/${room}/mutes`, 'alice', { user: 'bob', until })).status).toBe(403);
      expect((await api('POST', `/api/rooms/${room}/mutes`, 'mod', { user: 'bob', until }, ['moderator'])).status).toBeLessThan(300);

      const bob = await user('bob');
      await bob.subscribeAsync('users/bob/errors', { qos: 0 });
      const error = nextMessage(bob, 'users/bob/errors');
      await say(bob, topic, { text: 'can I speak?', ref: 'muted-1' });
      expect(JSON.parse((await error).payload.toString())).toMatchObject({ ref: 'muted-1', code: expect.any(String), message: expect.any(String) });
      expect((await api('GET', `/api/rooms/${room}/messages`, 'alice')).json.messages).toEqual([]);
    });

    it('a persistent session receives on reconnect every QoS 1 message published while it was away', async () => {
      const room = freshRoom();
      const topic = `chat/rooms/${room}`;
      const clientId = `contract-persistent-${Date.now()}`;
      const token = await app.token('perry');
      const first = await app.connect({ password: token, clientId, clean: false });
      await first.subscribeAsync(topic, { qos: 1 });
      await first.endAsync();

      const zoe = await user('zoe');
      for (let i = 1; i <= 5; i++) await say(zoe, topic, { text: `while away ${i}` });

      // Listen before CONNACK: the stored messages follow it immediately.
      const again = mqtt.connect(app.mqttUrl, { username: 'perry', password: token, clientId, clean: false, reconnectPeriod: 0 });
      try {
        const got = collect(again, topic);
        await expect.poll(() => got.length).toBe(5);
        expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
      } finally {
        await again.endAsync(true);
      }
    });
  });

  describe('protocol: chat API', () => {
    it('pages history ascending by seq with before/after/limit ≤ 200 and has_more', async () => {
      const room = freshRoom();
      const topic = `chat/rooms/${room}`;
      const alice = await user('alice');
      for (let i = 1; i <= 205; i++) await say(alice, topic, { text: `m${i}` });
      const page = async (query: string) => {
        const { status, json } = await api('GET', `/api/rooms/${room}/messages${query}`, 'bob');
        expect(status).toBe(200);
        const seqs = (json.messages as Json[]).map((m) => m.seq as number);
        return {
          first: seqs[0],
          last: seqs.at(-1),
          count: seqs.length,
          ascending: seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1),
          has_more: json.has_more,
        };
      };
      expect(await page('?limit=200')).toEqual({ first: 6, last: 205, count: 200, ascending: true, has_more: true });
      expect(await page('?limit=5')).toEqual({ first: 201, last: 205, count: 5, ascending: true, has_more: true });
      expect(await page('?before=6')).toEqual({ first: 1, last: 5, count: 5, ascending: true, has_more: false });
      expect(await page('?before=100&limit=10')).toEqual({ first: 90, last: 99, count: 10, ascending: true, has_more: true });
      expect(await page('?after=100&limit=10')).toEqual({ first: 101, last: 110, count: 10, ascending: true, has_more: true });
      expect(await page('?after=200')).toEqual({ first: 201, last: 205, count: 5, ascending: true, has_more: false });

      const rooms = (await api('GET', `/api/rooms?q=${room}`, 'bob')).json.rooms as Json[];
      expect(rooms).toContainEqual({ room, last_seq: 205 });
    });

    it('pages the room list by name (limit 50 by default, ≤ 200, has_more and next), finds rooms by prefix, and refuses nonsense with 400', async () => {
      const prefix = `rl${Date.now().toString(36)}-`;
      const names = Array.from({ length: 53 }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
      const alice = await user('alice');
      for (const name of names) await say(alice, `chat/rooms/${name}`, { text: 'first' });
      const rooms = async (query: string) => {
        const { status, json } = await api('GET', `/api/rooms?${query}`, 'bob');
        expect(status, query).toBe(200);
        return {
          names: (json.rooms as Json[]).map((r) => r.room as string),
          has_more: json.has_more,
          next: json.next as string | undefined,
          first: (json.rooms as Json[])[0],
        };
      };

      const byDefault = await rooms(`q=${prefix}`);
      expect(byDefault).toMatchObject({ names: names.slice(0, 50), has_more: true, next: names[49], first: { room: names[0], last_seq: 1 } });
      expect(await rooms(`q=${prefix}&after=${byDefault.next}`)).toMatchObject({ names: names.slice(50), has_more: false, next: undefined });
      expect((await rooms(`q=${prefix}&limit=200`)).names).toEqual(names);
      // Any case, surrounding blanks trimmed.
      expect(await rooms(`q=%20${prefix.toUpperCase()}5&limit=2`)).toMatchObject({
        names: [`${prefix}50`, `${prefix}51`],
        has_more: true,
        next: `${prefix}51`,
      });
      expect(await rooms(`q=${prefix}zz`)).toMatchObject({ names: [], has_more: false });
      const all = await rooms('limit=1');
      expect(all).toMatchObject({ names: [expect.any(String)], has_more: true });

      for (const query of [
        'limit=0',
        'limit=201',
        'limit=abc',
        'limit=2.5',
        'q=no%20spaces',
        'q=semi;colon',
        `q=${'a'.repeat(65)}`,
        'after=NOT_A_ROOM',
      ]) {
        const { status, json } = await api('GET', `/api/rooms?${query}`, 'bob');
        expect(status, query).toBe(400);
        expect(json.error, query).toEqual(expect.any(String));
      }
      expect((await api('GET', '/api/rooms?limit=0', 'bob')).json.error).toMatch(/limit: must be an integer from 1 to 200/);
    });

    it('says without sign-in whether guest sign-in is on, so a page offers only what works', async () => {
      const res = await fetch(`${app.httpUrl}/api/session/options`);
      expect(res.status).toBe(200);
      // This app has AUTH_JWT_SECRET set and AUTH_GUEST unset: guest sign-in is off.
      expect(await res.json()).toEqual({ guest: false });
      expect(
        (await fetch(`${app.httpUrl}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })).status,
      ).toBe(403);
    });

    it('presence: joining a room is announced and listed; leaving is announced and unlisted', async () => {
      const room = freshRoom();
      const watcher = await user('watcher');
      await watcher.subscribeAsync(`chat/presence/${room}`, { qos: 0 });
      const events = collect(watcher, `chat/presence/${room}`);
      const dan = await user('dan', 'Dan');
      await dan.subscribeAsync(`chat/rooms/${room}`, { qos: 1 });
      await expect.poll(() => events).toEqual([{ user: 'dan', name: 'Dan', state: 'online' }]);
      expect(JSON.stringify((await api('GET', `/api/rooms/${room}/presence`, 'watcher')).json)).toContain('"dan"');

      await dan.endAsync();
      await expect.poll(() => events.at(-1)).toEqual({ user: 'dan', name: 'Dan', state: 'offline' });
      expect(JSON.stringify((await api('GET', `/api/rooms/${room}/presence`, 'watcher')).json)).not.toContain('"dan"');
    });
  });
});
