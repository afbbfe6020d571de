import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from '../../platform/logger.js';
import type { RedisConnections } from '../../platform/redis.js';
import { ChatOrder, type ChatOrderOptions } from './chat-order.js';
import type { EmitterInternals, InternalPacket, PersistenceInternals } from './internals.js';

const require = createRequire(import.meta.url);

interface RedisEmitter extends EmitterInternals {
  state: { on(event: 'error', listener: (err: Error) => void): unknown };
  /** mqemitter-redis 7.2.1: hands a message that came from Redis to this node's subscribers. */
  _emit(packet: InternalPacket, cb?: () => void): unknown;
  close(cb?: () => void): unknown;
}

export interface ClusterOptions {
  /** How long a queued message outlives any session that could still take it (seconds). */
  queuedMessageTtlS: number;
  chatOrder: ChatOrderOptions;
}

interface RedisPersistence extends PersistenceInternals {
  /** Without a callback it returns the promise (the callback form waits for an event Aedes 1.x never emits). */
  destroy(): Promise<void>;
}

export interface ClusterBackends {
  mq: EmitterInternals;
  persistence: PersistenceInternals;
  /** The session store's own connection (its queues are trimmed on it, in order with its writes). */
  store: Redis;
  /** Both emitter links up: messages cross nodes (readiness). */
  connected(): boolean;
  close(): Promise<void>;
}

/** How often the emitter's own errors reach the log while Redis stays away. */
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * Aedes' cluster wiring: mqemitter-redis carries messages between nodes, aedes-persistence-redis
 * holds sessions, subscriptions and retained messages. Their connections come from `redis` (its
 * error policy; its close never rejects, where mqemitter-redis' bare quit promise would surface as
 * an unhandled rejection at shutdown).
 */
export function clusterBackends(redis: RedisConnections, log: Logger, opts: ClusterOptions): ClusterBackends {
  const mqemitterRedis = require('mqemitter-redis') as (opts: object) => RedisEmitter;
  const persistenceRedis = require('aedes-persistence-redis') as (opts: object) => RedisPersistence;
  const links = [redis.connect('cluster-pub', { enableAutoPipelining: true }), redis.connect('cluster-sub', { enableAutoPipelining: true })];
  const mq = mqemitterRedis({ pubConn: links[0], subConn: links[1] });
  let lastErrorLog = -Infinity;
  mq.state.on('error', (err) => {
    if (performance.now() - lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    lastErrorLog = performance.now();
    log.warn({ err: err.message }, 'cluster redis unavailable; retrying');
  });
  orderChat(mq, opts.chatOrder);
  // The session store gets a connection of its own, not the emitter's. A queued message no session
  // frees (dropped by the queue bound, or in a session that expired) expires after the TTL.
  const store = redis.connect('sessions');
  const persistence = persistenceRedis({ conn: store, maxSessionDelivery: 10_000, packetTTL: () => opts.queuedMessageTtlS });
  return {
    mq,
    persistence,
    store,
    connected: () => links.every((c) => c.status === 'ready'),
    // Aedes closes the emitter itself; the persistence is ours to release.
    close: () => persistence.destroy(),
  };
}

/** Messages from Redis reach this node's subscribers in each conversation's `seq` order (chat-order.ts). */
function orderChat(mq: RedisEmitter, opts: ChatOrderOptions): void {
  if (typeof mq._emit !== 'function') throw new Error('mqemitter-redis: _emit is not a function (ticktalk is tested with mqemitter-redis 7.2.1)');
  const deliverHere = mq._emit.bind(mq);
  const order = new ChatOrder((packet) => deliverHere(packet), opts);
  mq._emit = (packet, cb) => {
    order.take(packet);
    cb?.();
  };
  // Whatever still waits goes to the subscribers that are left before the emitter closes.
  const close = mq.close.bind(mq);
  mq.close = (cb) => {
    order.flush();
    return close(cb);
  };
}
