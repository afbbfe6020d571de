import type { Redis } from 'ioredis';
import { redisScript, type RedisScript } from '../platform/redis-script.js';
import { departure, distinctMembers, type Departure, type PresenceEntry, type PresenceMember, type PresenceStore } from './presence-store.js';

/**
 * Keys (under the prefix):
 *   presence:room:{room}  hash  `{node}|{client}` → {"user","name"}
 *   presence:node:{node}  set   `{room}|{client}`  (what to clear when the node dies)
 *   presence:alive:{node} string with a TTL, refreshed by the node's heartbeat
 *   presence:nodes        set of node ids that have entries
 * Node ids and room names contain no `|`, so splitting at the first one is unambiguous.
 */
const REMOVE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return {v, redis.call('HVALS', KEYS[1])}
`;

export class RedisPresenceStore implements PresenceStore {
  private readonly removeScript: RedisScript;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** How long a node counts as alive after its last heartbeat. */
    private readonly aliveMs: number,
  ) {
    this.removeScript = redisScript(redis, 'ticktalkPresenceRemove', 2, REMOVE);
  }

  private roomKey = (room: string) => `${this.prefix}presence:room:${room}`;
  private nodeKey = (node: string) => `${this.prefix}presence:node:${node}`;
  private aliveKey = (node: string) => `${this.prefix}presence:alive:${node}`;
  private get nodesKey() {
    return `${this.prefix}presence:nodes`;
  }

  async add(e: PresenceEntry): Promise<void> {
    await this.redis
      .multi()
      .hset(this.roomKey(e.room), `${e.node}|${e.client}`, JSON.stringify({ user: e.user, name: e.name }))
      .sadd(this.nodeKey(e.node), `${e.room}|${e.client}`)
      .sadd(this.nodesKey, e.node)
      .exec();
  }

  async remove(room: string, node: string, client: string): Promise<Departure | null> {
    const result = (await this.removeScript(this.roomKey(room), this.nodeKey(node), `${node}|${client}`, `${room}|${client}`)) as
      [string, string[]] | null;
    if (!result) return null;
    const [left, remaining] = result;
    return departure(
      room,
      JSON.parse(left) as PresenceMember,
      remaining.map((r) => JSON.parse(r) as PresenceMember),
    );
  }

  async members(room: string): Promise<PresenceMember[]> {
    const entries = Object.entries(await this.redis.hgetall(this.roomKey(room)));
    const nodes = [...new Set(entries.map(([field]) => field.slice(0, field.indexOf('|'))))];
    if (nodes.length === 0) return [];
    const alive = await this.redis.mget(...nodes.map(this.aliveKey));
    const live = new Set(nodes.filter((_, i) => alive[i] !== null));
    // Entries of a node that died but was not reaped yet are not shown as online.
    return distinctMembers(entries.filter(([field]) => live.has(field.slice(0, field.indexOf('|')))).map(([, v]) => JSON.parse(v) as PresenceMember));
  }

  async clearNode(node: string): Promise<Departure[]> {
    const out: Departure[] = [];
    for (const member of await this.redis.smembers(this.nodeKey(node))) {
      const bar = member.indexOf('|');
      const d = await this.remove(member.slice(0, bar), node, member.slice(bar + 1));
      if (d) out.push(d);
    }
    await this.redis.multi().del(this.nodeKey(node)).srem(this.nodesKey, node).exec();
    return out;
  }

  async heartbeat(node: string): Promise<void> {
    await this.redis.multi().set(this.aliveKey(node), '1', 'PX', this.aliveMs).sadd(this.nodesKey, node).exec();
  }

  async reapDeadNodes(self: string): Promise<Departure[]> {
    const out: Departure[] = [];
    for (const node of await this.redis.smembers(this.nodesKey)) {
      if (node === self || (await this.redis.exists(this.aliveKey(node))) === 1) continue;
      // Exactly one survivor clears a dead node, so its members go offline once.
      const claimed = await this.redis.set(`${this.prefix}presence:reap:${node}`, '1', 'PX', this.aliveMs, 'NX');
      if (claimed === 'OK') out.push(...(await this.clearNode(node)));
    }
    return out;
  }
}
