import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import type { MqttClient } from 'mqtt';
import { nextMessage, TEST_SECRET } from '../testing/app.js';
import { startTopology, TOPOLOGIES, type Topology } from '../testing/topology.js';

/**
 * docs/protocol.md#identity and #topics (topics, ACL, retained market data), checked from outside:
 * real MQTT packets and HTTP requests against the composed process, on one node and on two nodes
 * over Redis (clients spread over both).
 */

const key = new TextEncoder().encode(TEST_SECRET);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

/** SUBACK return codes, without the client library turning 0x80 into an exception. */
function granted(client: MqttClient, topic: string, qos: 0 | 1 = 1): Promise<number> {
  return new Promise((resolve) => {
    client.subscribe(topic, { qos }, (err, grants) => {
      const fromError = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted?.[0];
      resolve(fromError ?? grants?.[0]?.qos ?? -1);
    });
  });
}

/** Every message a client receives on topics matching `prefix`. */
function received(client: MqttClient, prefix: string): { topic: string; retain: boolean; body: string }[] {
  const got: { topic: string; retain: boolean; body: string }[] = [];
  client.on('message', (topic, payload, packet) => {
    if (topic.startsWith(prefix)) got.push({ topic, retain: packet.retain, body: payload.toString() });
  });
  return got;
}

const tick = (symbol: string) => JSON.stringify({ symbol, time_msc: Date.now(), bid: 1.1, ask: 1.2, last: 0, volume: 0, flags: 6 });
const settle = () => new Promise((r) => setTimeout(r, 300));

describe.each(TOPOLOGIES)('%s', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind, {}, ['broker', 'web'], { postgres: true });
  });
  afterAll(() => app?.stop());

  describe('protocol: identity', () => {
    const refusedTokens: [string, () => Promise<string>][] = [
      [
        'expired',
        () =>
          new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject('alice')
            .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
            .sign(key),
      ],
      [
        'signed with another secret',
        () =>
          new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject('alice')
            .setExpirationTime('1h')
            .sign(new TextEncoder().encode('another-secret-0123456789')),
      ],
      ['unsigned (alg none)', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'eve', roles: ['admin'], exp: inAnHour() })}.`],
      ['without exp', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').sign(key)],
      [
        'with a sub outside [A-Za-z0-9_.-]',
        () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bad sub!').setExpirationTime('1h').sign(key),
      ],
      ['not a JWT', async () => 'hello'],
    ];

    it.each(refusedTokens)('MQTT: a token %s is refused with CONNACK 5', async (_label, make) => {
      await expect(app.connect({ password: await make() })).rejects.toMatchObject({ code: 5 });
    });

    it.each(refusedTokens)('HTTP: a token %s gets 401', async (_label, make) => {
      const res = await fetch(`${app.httpUrl}/api/rooms`, { headers: { authorization: `Bearer ${await make()}` } });
      expect(res.status).toBe(401);
    });

    it('MQTT: a valid token as CONNECT password is accepted whatever the username', async () => {
      const client = await app.connect({ username: 'anything-at-all', password: await app.token('alice') });
      expect(client.connected).toBe(true);
    });

    it('HTTP: the API needs a Bearer token (none → 401, valid → 200)', async () => {
      for (const path of ['/api/rooms', '/api/rooms/lobby/messages', '/api/dm/bob/messages', '/api/rooms/lobby/presence']) {
        expect((await fetch(`${app.httpUrl}${path}`)).status).toBe(401);
        expect((await fetch(`${app.httpUrl}${path}`, { headers: { authorization: 'Basic YTpi' } })).status).toBe(401);
        expect((await fetch(`${app.httpUrl}${path}`, { headers: { authorization: `Bearer ${await app.token('alice')}` } })).status).toBe(200);
      }
    });
  });

  describe('protocol: topics and access rules', () => {
    it('forbidden subscriptions get SUBACK 0x80; market data is open to anonymous clients', async () => {
      const anon = await app.connect();
      for (const t of ['ticks/EURUSD', 'ticks/+', 'candles/EURUSD/1', 'candles/#']) expect(await granted(anon, t, 0), t).toBe(0);
      for (const t of ['#', 'chat/#', 'chat/dm/+/+', 'chat/rooms/lobby', 'chat/typing/lobby', 'users/alice/errors', '$SYS/#']) {
        expect(await granted(anon, t), t).toBe(0x80);
      }

      const alice = await app.connect({ password: await app.token('alice') });
      for (const t of ['chat/rooms/lobby', 'chat/dm/alice/bob', 'chat/typing/lobby', 'chat/presence/lobby', 'users/alice/errors']) {
        expect(await granted(alice, t), t).not.toBe(0x80);
      }
      for (const t of ['#', 'chat/#', 'chat/dm/+/+', 'chat/dm/bob/carol', 'chat/dm/bob/alice', 'users/bob/errors', 'users/+/errors', '$SYS/#']) {
        expect(await granted(alice, t), t).toBe(0x80);
      }
    });

    it('$SYS is for admin only', async () => {
      const admin = await app.connect({ password: await app.token('root', ['admin']) });
      expect(await granted(admin, '$SYS/#', 0)).toBe(0);
      const moderator = await app.connect({ password: await app.token('mod', ['moderator', 'feed']) });
      expect(await granted(moderator, '$SYS/#', 0)).toBe(0x80);
    });

    it('ticks from clients without the feed role are never forwarded (nor retained); a feed tick is, retained for late subscribers', async () => {
      const watcher = await app.connect({ password: await app.token('root', ['admin']) });
      await watcher.subscribeAsync('ticks/+', { qos: 0 });
      const seen = received(watcher, 'ticks/');

      const anon = await app.connect();
      await anon.publishAsync('ticks/QANON', tick('QANON'), { qos: 1 });
      const trader = await app.connect({ password: await app.token('carol') });
      await trader.publishAsync('ticks/QTRADER', tick('QTRADER'), { qos: 1, retain: true });
      const feed = await app.connect({ password: await app.token('feeder', ['feed']) });
      await feed.publishAsync('ticks/QFEED', tick('QFEED'), { qos: 0 });
      await expect.poll(() => seen.length).toBe(1);
      await settle();
      expect(seen.map((m) => m.topic)).toEqual(['ticks/QFEED']);
      expect(seen[0].retain).toBe(false);

      const late = await app.connect();
      const lateSeen = received(late, 'ticks/');
      await late.subscribeAsync(['ticks/QANON', 'ticks/QTRADER', 'ticks/QFEED'], { qos: 0 });
      await settle();
      expect(lateSeen.map((m) => [m.topic, m.retain])).toEqual([['ticks/QFEED', true]]);
      expect(JSON.parse(lateSeen[0].body)).toMatchObject({ symbol: 'QFEED', bid: 1.1, ask: 1.2 });
    });

    it('only the broker publishes presence and user errors; a feed cannot write candles', async () => {
      const alice = await app.connect({ password: await app.token('alice') });
      await alice.subscribeAsync(['users/alice/errors', 'chat/presence/lobby'], { qos: 0 });
      const anon = await app.connect();
      await anon.subscribeAsync('candles/QFEED/1', { qos: 0 });
      const seenByAlice = received(alice, '');
      const seenByAnon = received(anon, 'candles/');

      const carol = await app.connect({ password: await app.token('carol') });
      await carol.publishAsync('users/alice/errors', JSON.stringify({ ref: 'x', code: 'spoof', message: 'spoof' }), { qos: 1 });
      await carol.publishAsync('chat/presence/lobby', JSON.stringify({ user: 'bob', name: 'Bob', state: 'online' }), { qos: 1 });
      const feed = await app.connect({ password: await app.token('feeder', ['feed']) });
      await feed.publishAsync('candles/QFEED/1', JSON.stringify({ time: 60, open: 1, high: 1, low: 1, close: 1, volume: 1 }), { qos: 1 });
      await settle();
      expect(seenByAlice).toEqual([]);
      expect(seenByAnon).toEqual([]);
    });

    it('typing is stamped by the broker with the authenticated user (a spoofed user is replaced)', async () => {
      const bob = await app.connect({ password: await app.token('bob', undefined, 'Bob') });
      await bob.subscribeAsync('chat/typing/lobby', { qos: 0 });
      const typing = nextMessage(bob, 'chat/typing/lobby');
      const carol = await app.connect({ password: await app.token('carol', undefined, 'Carol') });
      await carol.publishAsync('chat/typing/lobby', JSON.stringify({ user: 'bob', name: 'Bob' }), { qos: 0 });
      expect(JSON.parse((await typing).payload.toString())).toEqual({ user: 'carol', name: 'Carol' });
    });
  });
});
