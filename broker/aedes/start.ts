import { createRequire } from 'node:module';
import { Aedes } from 'aedes';
import type { Logger } from '../../platform/logger.js';
import type { ClusterBackends } from './cluster-backends.js';
import { swallowDropped } from './dropped.js';
import { checkAedesInternals, type AedesOptions, type Client, type EmitterInternals } from './internals.js';
import { decideQoS2Once } from './qos2-once.js';
import { queueOncePerSession } from './queue-once.js';
import { flagResends } from './resend-dup.js';
import { orderResumedSessions } from './resume-order.js';
import { boundSessionQueues, type QueueBound, type SessionQueues } from './session-queues.js';
import { storeGrantedOnly } from './store-granted-only.js';
import { installPacketSinks } from './packet-sink.js';
import { honourRetainHandling, type RetainedWithheld } from './retain-handling.js';
import { installSharedSubscriptions, SHARE_CLAIM_TTL_MS, type ShareClaim } from './shared-subscriptions.js';
import { honourRetainedExpiry } from './retained-expiry.js';
import { SessionHandover, type HandoverPolicy } from './session-handover.js';

const require = createRequire(import.meta.url);

export type AedesHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizeSubscribe' | 'authorizePublish' | 'authorizeForward'>>;

export interface AedesSetup {
  id: string;
  /** Redis emitter and session store; without them, Aedes' in-memory ones (a single node). */
  backends?: ClusterBackends;
  hooks: AedesHooks;
  /** Whether this node granted `client` the filter `topic`: only those are stored in sessions. */
  granted(client: Client, topic: string): boolean;
  /** MQTT 5 Retain Handling: filters of a SUBSCRIBE whose retained messages are not sent. */
  retainedWithheld: RetainedWithheld;
  /** MQTT_MAX_QUEUED_MESSAGES and its metric. */
  queues: QueueBound;
  /** Between this node's heartbeats; another node takes over its wills 3 to 7 of them after it dies. */
  heartbeatMs: number;
  /** Takeovers (MQTT 5 DISCONNECT 0x8E) and delayed wills (MQTT 5 Will Delay Interval). */
  handover: HandoverPolicy;
  log: Logger;
}

/**
 * One Aedes broker with ticktalk's hooks and overrides, after checking that the internals the
 * overrides rely on are there (a changed Aedes fails here, naming the internal).
 */
export async function startAedes(setup: AedesSetup): Promise<{ aedes: Aedes; sessions: SessionQueues }> {
  installPacketSinks();
  const mq = setup.backends?.mq ?? (require('mqemitter') as () => EmitterInternals)();
  swallowDropped(mq);
  const handover = new SessionHandover(setup.handover);
  const aedes = await Aedes.createBroker({
    id: setup.id,
    mq,
    persistence: setup.backends?.persistence,
    concurrency: 1000,
    connectTimeout: 10_000,
    heartbeatInterval: setup.heartbeatMs,
    maxClientsIdLength: 256,
    queueLimit: 1000,
    ...setup.hooks,
    authorizePublish: handover.authorizePublish(decideQoS2Once(setup.hooks.authorizePublish)),
  });
  try {
    checkAedesInternals(aedes);
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  }
  handover.attach(aedes);
  (aedes as unknown as NodeJS.EventEmitter).once('closed', () => handover.stop());
  storeGrantedOnly(aedes, (client, topic) => setup.granted(client, topic));
  honourRetainHandling(aedes, setup.retainedWithheld);
  installSharedSubscriptions(aedes, setup.backends && shareClaim(setup.backends.store));
  // The bound first: it installs the queue calls (in memory) that the next two wrap, and
  // orderResumedSessions wraps the queue's stream as installed here.
  const sessions = boundSessionQueues(aedes, setup.queues, setup.backends?.store);
  queueOncePerSession(aedes);
  flagResends(aedes);
  orderResumedSessions(aedes);
  honourRetainedExpiry(aedes);
  // Aedes reports failures of its session store here (offline queueing, the periodic will sweep);
  // unheard, the event would end the process.
  (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => setup.log.error({ err }, 'broker persistence error'));
  aedes.on('clientError', (client, err) => setup.log.debug({ client: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (client, err) => setup.log.debug({ client: client?.id, err: err.message }, 'connection error'));
  return { aedes, sessions };
}

/** A message's delivery to a shared group is claimed in Redis by the first node to ask (SET NX). */
function shareClaim(redis: NonNullable<AedesSetup['backends']>['store']): ShareClaim {
  return async (key) => (await redis.set(`ticktalk:share:${key}`, '1', 'PX', SHARE_CLAIM_TTL_MS, 'NX')) === 'OK';
}
