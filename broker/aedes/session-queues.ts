import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { redisScript } from '../../platform/redis-script.js';
import { aedesInternals, type Aedes, type Client, type InternalPacket, type PersistenceInternals, type StoredSubscription } from './internals.js';

const require = createRequire(import.meta.url);
const AedesPacket = require('aedes-packet') as new (original: object) => InternalPacket;

export interface QueueBound {
  /** MQTT_MAX_QUEUED_MESSAGES: messages kept per persistent session. */
  max: number;
  /** How many of a session's oldest queued messages the bound just dropped. */
  dropped(count: number): void;
}

/** What the broker may do to a stored session from outside Aedes. */
export interface SessionQueues {
  /** Removes a persistent session whole: its subscriptions (on every node) and its queue. */
  forget(clientId: string): Promise<void>;
  /** The client ids of every session with stored subscriptions (in Redis: the whole cluster's). */
  stored(): Promise<string[]>;
}

/**
 * Bounds each persistent session's queue of QoS > 0 messages to `bound.max`, dropping the oldest.
 * Aedes queues a message for every persistent session subscribed to it, connected or not
 * (aedes.js enqueueOffline → persistence.outgoingEnqueueCombi), and removes it on PUBACK
 * (outgoingClearMessageId); a client away or not acknowledging grows its queue without limit.
 * Installed before anything else wraps the persistence's outgoing calls.
 *
 * In memory the queues are kept here (aedes-persistence keeps its own in a private field, which
 * cannot be trimmed); in Redis, aedes-persistence-redis' list `outgoing:{client id}` is trimmed
 * after each enqueue. `store` is the Redis connection that persistence uses (commands on one
 * connection run in order: the trim follows the enqueue it bounds).
 */
export function boundSessionQueues(aedes: Aedes, bound: QueueBound, store: Redis | undefined): SessionQueues {
  const { persistence } = aedesInternals(aedes);
  const forgetQueue = store ? trimRedisQueues(persistence, bound, store) : keepQueuesInMemory(persistence, bound);
  return {
    async forget(clientId) {
      await persistence.cleanSubscriptions({ id: clientId });
      await forgetQueue(clientId);
    },
    // aedes-persistence-redis' set of sessions with subscriptions; a node in memory starts with none.
    stored: async () => (store ? store.smembers('clients') : []),
  };
}

/** aedes-persistence-redis' key of a session's queue (asyncPersistence.js outgoingKey). */
const redisQueueKey = (clientId: string) => `outgoing:${encodeURIComponent(clientId)}`;

// KEYS: the queue; ARGV: max. Returns how many of the oldest entries were dropped.
const TRIM = `
local over = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[1])
if over <= 0 then return 0 end
redis.call('LTRIM', KEYS[1], over, -1)
return over`;

/**
 * A dropped entry's message is not un-counted: aedes-persistence-redis frees a message when every
 * session it was queued for has acknowledged it, and a late PUBACK of a dropped one still counts
 * (a decrement here would then free it for sessions that still hold it). Messages no session frees
 * expire with the persistence's packet TTL (cluster-backends.ts).
 */
function trimRedisQueues(persistence: PersistenceInternals, bound: QueueBound, store: Redis): (clientId: string) => Promise<unknown> {
  const trim = redisScript(store, 'ticktalkQueueTrim', 1, TRIM);
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  const trimAll = async (subs: StoredSubscription[]) => {
    const dropped = await Promise.all(subs.map((sub) => trim(redisQueueKey(sub.clientId), bound.max) as Promise<number>));
    const total = dropped.reduce((a, b) => a + b, 0);
    if (total > 0) bound.dropped(total);
  };
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    await enqueueCombi(subs, packet);
    if (subs.length > 0) await trimAll(subs);
  };
  persistence.outgoingEnqueue = (sub, packet) => persistence.outgoingEnqueueCombi([sub], packet);
  return (clientId) => store.del(redisQueueKey(clientId));
}

/**
 * aedes-persistence's in-memory queues (asyncPersistence.js outgoing*), same steps, bounded. One
 * difference: updating a message the bound dropped is not an error (it is still being delivered).
 */
function keepQueuesInMemory(persistence: PersistenceInternals, bound: QueueBound): (clientId: string) => Promise<unknown> {
  const queues = new Map<string, InternalPacket[]>();
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    for (const sub of subs) {
      const queue = queues.get(sub.clientId) ?? [];
      queues.set(sub.clientId, queue);
      queue.push(new AedesPacket(packet));
      if (queue.length > bound.max) bound.dropped(queue.splice(0, queue.length - bound.max).length);
    }
  };
  persistence.outgoingEnqueue = (sub, packet) => persistence.outgoingEnqueueCombi([sub], packet);
  persistence.outgoingUpdate = async (client, packet) => {
    const queue = queues.get(client.id) ?? [];
    for (let i = 0; i < queue.length; i++) {
      const queued = queue[i];
      if (queued.brokerId === packet.brokerId) {
        if (queued.brokerCounter === packet.brokerCounter) {
          queued.messageId = packet.messageId;
          return;
        }
      } else if (queued.messageId === packet.messageId) {
        // A QoS 2 message moving on to PUBREL replaces its entry (packet ids are unique per session).
        queue[i] = packet;
        return;
      }
    }
  };
  persistence.outgoingClearMessageId = async (client, packet) => {
    const queue = queues.get(client.id);
    const at = queue?.findIndex((queued) => queued.messageId === packet.messageId) ?? -1;
    if (!queue || at < 0) return undefined;
    const [cleared] = queue.splice(at, 1);
    if (queue.length === 0) queues.delete(client.id);
    return cleared;
  };
  persistence.outgoingStream = (client: Client) => Readable.from([...(queues.get(client.id) ?? [])]);
  return async (clientId) => queues.delete(clientId);
}
