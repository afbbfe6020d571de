import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { privateRedis, type PrivateRedis } from '../test/testing/private-redis.js';
import { MemorySessionRegistry, type Holder, type SessionRegistry } from './session-registry.js';
import { RedisSessionRegistry } from './session-registry-redis.js';

/**
 * One suite against both registries (in memory, and in Redis as a cluster shares it), then what only
 * a cluster has: two nodes' registries over one Redis server of this suite's own, and a node that
 * dies holding connections.
 */
let server: PrivateRedis;
let redis: Redis;
beforeAll(async () => {
  server = await privateRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.dispose();
});

let tokens = 0;
const holder = (user: string, id: string, persistent = true): Holder => ({ clientId: `${user}:${id}`, user, persistent, token: `t${++tokens}` });

/** The contract every registry keeps; each test on a fresh registry from `make`. */
function registryContract(name: string, make: () => Promise<SessionRegistry>) {
  describe(name, () => {
    let reg: SessionRegistry;
    beforeEach(async () => {
      reg = await make();
    });
    const registry = () => reg;
    registrySlots(registry);
    registryExpiry(registry);
    registryRecovery(registry);
  });
}

/** MQTT_MAX_CONNECTIONS_PER_USER: slots taken and freed. */
function registrySlots(registry: () => SessionRegistry) {
  it('counts a user’s client ids up to the bound; a takeover of one is not counted twice', async () => {
    const reg = registry();
    expect(await reg.open(holder('u', 'a'), 2)).toBe('opened');
    expect(await reg.open(holder('u', 'b'), 2)).toBe('opened');
    expect(await reg.open(holder('u', 'c'), 2)).toBe('too many connections');
    expect(await reg.open(holder('u', 'a'), 2)).toBe('opened');
    expect(await reg.open(holder('v', 'a'), 2)).toBe('opened');
  });

  it('frees a slot when a connection closes, but not when a taken-over one does', async () => {
    const reg = registry();
    const first = holder('u', 'a');
    await reg.open(first, 1);
    const takeover = holder('u', 'a');
    await reg.open(takeover, 1);
    await reg.close(first, 0);
    expect(await reg.open(holder('u', 'b'), 1)).toBe('too many connections');
    await reg.close(takeover, 0);
    expect(await reg.open(holder('u', 'b'), 1)).toBe('opened');
  });
}

/** Persistent sessions expiring, and a reconnect racing the removal. */
function registryExpiry(registry: () => SessionRegistry) {
  it('expires a persistent session at its time, once, unless its client came back', async () => {
    const reg = registry();
    const gone = holder('u', 'gone');
    const back = holder('u', 'back');
    const clean = holder('u', 'clean', false);
    for (const h of [gone, back, clean]) await reg.open(h, 10);
    for (const h of [gone, back, clean]) await reg.close(h, 1_000);
    expect(await reg.waiting()).toBe(2);
    await reg.open(holder('u', 'back'), 10);
    expect(await reg.claimExpired(999, 10)).toEqual([]);
    expect(await reg.claimExpired(1_000, 10)).toEqual(['u:gone']);
    expect(await reg.claimExpired(5_000, 10)).toEqual([]);
    expect(await reg.waiting()).toBe(0);
  });

  it('holds a reconnect until the removal of its session is done', async () => {
    const reg = registry();
    const h = holder('u', 'racing');
    await reg.open(h, 10);
    await reg.close(h, 1);
    expect(await reg.claimExpired(2, 10)).toEqual(['u:racing']);
    let opened = false;
    const reopening = reg.open(holder('u', 'racing'), 10).then(() => (opened = true));
    await new Promise((r) => setTimeout(r, 150));
    expect(opened).toBe(false);
    await reg.removed('u:racing');
    await reopening;
    expect(opened).toBe(true);
  });
}

/** Sessions a restarted node finds stored, and removals that failed. */
function registryRecovery(registry: () => SessionRegistry) {
  it('adopts stored sessions it never saw, leaving connected and waiting ones as they are', async () => {
    const reg = registry();
    await reg.open(holder('u', 'online'), 10);
    const waiting = holder('u', 'waiting');
    await reg.open(waiting, 10);
    await reg.close(waiting, 50);
    await reg.adopt(['u:online', 'u:waiting', 'u:old'], 100);
    expect(await reg.claimExpired(60, 10)).toEqual(['u:waiting']);
    expect(await reg.claimExpired(100, 10)).toEqual(['u:old']);
  });

  it('reschedules a removal that failed, unless the client is back', async () => {
    const reg = registry();
    const h = holder('u', 'retry');
    await reg.open(h, 10);
    await reg.close(h, 1);
    expect(await reg.claimExpired(2, 10)).toEqual(['u:retry']);
    await reg.reschedule('u:retry', 10);
    await reg.removed('u:retry');
    expect(await reg.claimExpired(10, 10)).toEqual(['u:retry']);
    await reg.removed('u:retry');
    await reg.open(holder('u', 'retry'), 10);
    await reg.reschedule('u:retry', 20);
    expect(await reg.claimExpired(20, 10)).toEqual([]);
  });
}

registryContract('memory session registry', async () => new MemorySessionRegistry());
registryContract('Redis session registry', async () => {
  await redis.flushdb();
  return new RedisSessionRegistry(redis, 'node');
});

describe('Redis session registry shared by two nodes', () => {
  beforeEach(() => redis.flushdb());

  it('counts a user across nodes, and each expiry is claimed by one node', async () => {
    const a = new RedisSessionRegistry(redis, 'a');
    const b = new RedisSessionRegistry(redis, 'b');
    const onA = holder('w', 'phone');
    await a.open(onA, 2);
    await b.open(holder('w', 'tablet'), 2);
    expect(await a.open(holder('w', 'laptop'), 2)).toBe('too many connections');
    await a.close(onA, 1);
    const claims = await Promise.all([a.claimExpired(5, 10), b.claimExpired(5, 10)]);
    expect(claims.flat()).toEqual(['w:phone']);
  });

  it('does not expire a session that left node A after node B took it over', async () => {
    const a = new RedisSessionRegistry(redis, 'a');
    const b = new RedisSessionRegistry(redis, 'b');
    const onA = holder('w', 'phone');
    await a.open(onA, 5);
    await b.open(holder('w', 'phone'), 5);
    await a.close(onA, 1);
    expect(await a.claimExpired(5, 10)).toEqual([]);
    expect(await a.waiting()).toBe(0);
  });

  it('closes the connections of a node whose heartbeat stopped: slots freed, persistent sessions set to expire', async () => {
    const dead = new RedisSessionRegistry(redis, 'dead');
    const live = new RedisSessionRegistry(redis, 'live');
    await dead.heartbeat(1_000, 0, 0);
    await dead.open(holder('d', 'kept', true), 2);
    await dead.open(holder('d', 'clean', false), 2);
    const movedOn = holder('d', 'moved');
    await dead.open(movedOn, 3);
    // Taken over on the live node before the dead one was noticed: stays the live node's.
    await live.open(holder('d', 'moved'), 3);

    expect(await live.heartbeat(2_000, 500, 9_000)).toBe(0);
    expect(await live.heartbeat(20_000, 5_000, 29_000)).toBe(1);
    expect(await live.open(holder('d', 'new-1'), 3)).toBe('opened');
    expect(await live.open(holder('d', 'new-2'), 3)).toBe('opened');
    expect(await live.open(holder('d', 'new-3'), 3)).toBe('too many connections');
    expect(await live.claimExpired(29_000, 10)).toEqual(['d:kept']);
    expect(await live.heartbeat(21_000, 5_000, 30_000)).toBe(0);
  });

  it("gives a dead node's MQTT 5 sessions their own granted expiry, the others MQTT_SESSION_EXPIRY_S", async () => {
    const dead = new RedisSessionRegistry(redis, 'dead');
    const live = new RedisSessionRegistry(redis, 'live');
    await dead.heartbeat(1_000, 0, 0);
    await dead.open({ ...holder('e', 'v5-short'), expiryS: 2 }, 5);
    await dead.open({ ...holder('e', 'v5-zero'), expiryS: 0 }, 5);
    await dead.open(holder('e', 'v3'), 5);
    expect(await live.heartbeat(20_000, 5_000, 29_000)).toBe(1);
    expect(await live.claimExpired(20_000, 10)).toEqual(['e:v5-zero']);
    expect(await live.claimExpired(22_000, 10)).toEqual(['e:v5-short']);
    expect(await live.claimExpired(28_999, 10)).toEqual([]);
    expect(await live.claimExpired(29_000, 10)).toEqual(['e:v3']);
  });

  it('closes an MQTT 5 connection whose holder carries its expiry (same holder at open and close)', async () => {
    const a = new RedisSessionRegistry(redis, 'a');
    const v5 = { ...holder('f', 'v5'), expiryS: 60 };
    await a.open(v5, 1);
    await a.close(v5, 7);
    expect(await a.claimExpired(7, 10)).toEqual(['f:v5']);
  });
});
