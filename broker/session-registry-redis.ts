import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisScript, type RedisScript } from '../platform/redis-script.js';
import type { Holder, OpenResult, SessionRegistry } from './session-registry.js';

/**
 * Keys (one Redis database per cluster, no key prefix):
 * - `ticktalk:conns:{user}` hash, owned client id → holder (`1`/`0` persistent, then the token, then
 *   for an MQTT 5 session `@` and its granted Session Expiry Interval in seconds):
 *   the user's connections across the cluster (its length is the per-user count);
 * - `ticktalk:node:{incarnation}` hash, owned client id → holder: what one node process holds, so
 *   another node can close its connections when it dies;
 * - `ticktalk:nodes` sorted set, incarnation → last heartbeat (Unix ms);
 * - `ticktalk:sessions:expiry` sorted set, owned client id → expiry (Unix ms) of a session whose
 *   client left;
 * - `ticktalk:sessions:removing:{client id}`, set while a node removes that session.
 * The scripts build some key names themselves (a dead node's users): fine on one Redis server or
 * a replicated one, not on Redis Cluster, which ticktalk does not use.
 */
const CONNS = 'ticktalk:conns:';
const NODE = 'ticktalk:node:';
const NODES = 'ticktalk:nodes';
const EXPIRY = 'ticktalk:sessions:expiry';
const REMOVING = 'ticktalk:sessions:removing:';

/** A removal that never reports back (its node died mid-way) stops holding reconnects after this. */
const REMOVING_TTL_MS = 30_000;
const REMOVING_POLL_MS = 50;
/** Stored sessions adopted per round trip (pipelined on one connection). */
const ADOPT_BATCH = 500;

// KEYS: conns:{user}, node:{me}, expiry, removing:{id}; ARGV: client id, holder, max per user
const OPEN = `
if not redis.call('HGET', KEYS[1], ARGV[1]) and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('EXISTS', KEYS[4])`;

// KEYS: conns:{user}, node:{me}, expiry; ARGV: client id, holder, expires at
const CLOSE = `
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if string.sub(ARGV[2], 1, 1) == '1' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]) end
return 1`;

// KEYS: expiry; ARGV: now, limit, removing prefix, removing ttl
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('SET', ARGV[3] .. id, '1', 'PX', tonumber(ARGV[4]))
end
return ids`;

// KEYS: conns:{user}, expiry; ARGV: client id, at
const RESCHEDULE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
return redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])`;

// KEYS: nodes, expiry; ARGV: me, now, dead before, expires at (MQTT 3.1.1), conns prefix, node prefix
const HEARTBEAT = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
for _, node in ipairs(dead) do
  local held = redis.call('HGETALL', ARGV[6] .. node)
  for i = 1, #held, 2 do
    local id, holder = held[i], held[i + 1]
    local conns = ARGV[5] .. string.match(id, '^([^:]*):')
    if redis.call('HGET', conns, id) == holder then
      redis.call('HDEL', conns, id)
      if string.sub(holder, 1, 1) == '1' then
        local expiryS = string.match(holder, '@(%d+)$')
        local at = expiryS and (tonumber(ARGV[2]) + tonumber(expiryS) * 1000) or ARGV[4]
        redis.call('ZADD', KEYS[2], at, id)
      end
    end
  end
  redis.call('DEL', ARGV[6] .. node)
  redis.call('ZREM', KEYS[1], node)
end
return #dead`;

/** The cluster's registry: every node sees every connection and session expiry through Redis. */
export class RedisSessionRegistry implements SessionRegistry {
  private readonly openScript: RedisScript;
  private readonly closeScript: RedisScript;
  private readonly claimScript: RedisScript;
  private readonly heartbeatScript: RedisScript;
  private readonly rescheduleScript: RedisScript;
  /** This node process: its id and a random part, so a node restarted under the same id is a new one. */
  private readonly incarnation: string;

  constructor(
    private readonly redis: Redis,
    nodeId: string,
  ) {
    this.incarnation = `${nodeId}/${randomBytes(6).toString('hex')}`;
    this.openScript = redisScript(redis, 'ticktalkSessionOpen', 4, OPEN);
    this.closeScript = redisScript(redis, 'ticktalkSessionClose', 3, CLOSE);
    this.claimScript = redisScript(redis, 'ticktalkSessionClaim', 1, CLAIM);
    this.heartbeatScript = redisScript(redis, 'ticktalkSessionHeartbeat', 2, HEARTBEAT);
    this.rescheduleScript = redisScript(redis, 'ticktalkSessionReschedule', 2, RESCHEDULE);
  }

  async open(h: Holder, maxPerUser: number): Promise<OpenResult> {
    const removing = REMOVING + h.clientId;
    const result = await this.openScript(CONNS + h.user, NODE + this.incarnation, EXPIRY, removing, h.clientId, holderOf(h), maxPerUser);
    if (result === -1) return 'too many connections';
    // Bounded: the marker expires even if the node removing the session died.
    for (let waited = 0; result === 1 && waited < REMOVING_TTL_MS && (await this.redis.exists(removing)) === 1; waited += REMOVING_POLL_MS) {
      await new Promise((r) => setTimeout(r, REMOVING_POLL_MS));
    }
    return 'opened';
  }

  async close(h: Holder, expiresAt: number): Promise<void> {
    await this.closeScript(CONNS + h.user, NODE + this.incarnation, EXPIRY, h.clientId, holderOf(h), expiresAt);
  }

  async claimExpired(now: number, limit: number): Promise<string[]> {
    return (await this.claimScript(EXPIRY, now, limit, REMOVING, REMOVING_TTL_MS)) as string[];
  }

  async adopt(clientIds: string[], expiresAt: number): Promise<void> {
    // Ids that are not owned (from before sessions were owned by users) belong to no one's count.
    const owned = clientIds.filter((id) => id.includes(':'));
    for (let i = 0; i < owned.length; i += ADOPT_BATCH) {
      await Promise.all(owned.slice(i, i + ADOPT_BATCH).map((clientId) => this.reschedule(clientId, expiresAt)));
    }
  }

  async reschedule(clientId: string, at: number): Promise<void> {
    await this.rescheduleScript(CONNS + userOf(clientId), EXPIRY, clientId, at);
  }

  async removed(clientId: string): Promise<void> {
    await this.redis.del(REMOVING + clientId);
  }

  async heartbeat(now: number, deadBefore: number, expiresAt: number): Promise<number> {
    return (await this.heartbeatScript(NODES, EXPIRY, this.incarnation, now, deadBefore, expiresAt, CONNS, NODE)) as number;
  }

  async waiting(): Promise<number> {
    return this.redis.zcard(EXPIRY);
  }
}

/** The user part of an owned client id (`{sub}:{client id}`). */
function userOf(clientId: string): string {
  return clientId.slice(0, clientId.indexOf(':'));
}

function holderOf(h: Holder): string {
  return `${h.persistent ? 1 : 0}${h.token}${h.expiryS === undefined ? '' : `@${h.expiryS}`}`;
}
