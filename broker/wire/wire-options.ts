import type { Aedes, Client } from '../aedes/internals.js';
import type { Logger } from '../../platform/logger.js';
import type { RedisConnections } from '../../platform/redis.js';
import type { Metrics } from '../../platform/metrics.js';
import type { ChatIntake } from './qos1-frames.js';

export interface WireLimits {
  /** Bytes a client's transport may buffer before its ticks conflate. */
  backlogBytes: number;
  /** Bytes queued for a backed-up client (chat, acks, one tick per topic) before it is disconnected. */
  maxQueuedBytes: number;
  /** Topics whose subscriber list is cached. */
  maxCachedTopics: number;
  /** Interval of retained-tick stores into the persistence. */
  retainFlushMs: number;
  /** Largest tick publish taken off the wire; bigger ones go to Aedes. */
  maxTickFrame: number;
  /** Ticks gather this long (ms) and leave as each symbol's latest, one write per client; 0: every tick, once per turn. */
  writeWindowMs: number;
  /** How far the window stretches while the node is saturated (see TickWindow). */
  maxWriteWindowMs: number;
}

export const DEFAULT_LIMITS: WireLimits = {
  backlogBytes: 256 * 1024,
  maxQueuedBytes: 4 * 1024 * 1024,
  maxCachedTopics: 10_000,
  retainFlushMs: 50,
  maxTickFrame: 4096,
  writeWindowMs: 5,
  maxWriteWindowMs: 50,
};

export interface WireLayerOptions {
  aedes: Aedes;
  log: Logger;
  metrics: Metrics;
  nodeId: string;
  /** Asked once per client, right after it is authenticated: may it publish ticks? */
  mayPublishTicks(client: Client): boolean;
  chatIntake?: ChatIntake;
  /**
   * Take clients' PUBACKs off the wire too and clear the acknowledged message as Aedes' handler
   * would (persistence, then the 'ack' event): a subscriber acks every QoS 1 message it gets, and
   * Aedes' parser and stream plumbing cost more than the clearing itself.
   */
  takeAcks?: boolean;
  /** Cluster mode: ticks travel between nodes in batches over this Redis. */
  cluster?: { redis: RedisConnections; channel?: string; intervalMs?: number; maxBatchBytes?: number };
  limits?: Partial<WireLimits>;
}

/** The topic family the wire layer carries itself. */
export const TICK_ROOT = 'ticks';
export const TICK_PREFIX = `${TICK_ROOT}/`;
