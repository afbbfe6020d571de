import { aedesInternals, type Aedes, type StoredSubscription } from './internals.js';

/**
 * A persistent session holding overlapping filters (a moderator's `chat/rooms/+` and
 * `chat/rooms/lobby`) is listed once per matching filter by `subscriptionsByTopic`, and Aedes
 * queues a message once per entry (aedes.js enqueueOffline, and ticktalk's QoSForwarder): the
 * session got every message twice on resuming, where live delivery de-duplicates (bug (g),
 * broker/README.md). Each session is queued a message once, at the highest QoS of its matching filters.
 */
export function queueOncePerSession(aedes: Aedes): void {
  const { persistence } = aedesInternals(aedes);
  const enqueue = persistence.outgoingEnqueueCombi.bind(persistence);
  persistence.outgoingEnqueueCombi = (subs, packet) => enqueue(onePerClient(subs), packet);
}

function onePerClient(subs: StoredSubscription[]): StoredSubscription[] {
  if (subs.length < 2) return subs;
  const byClient = new Map<string, StoredSubscription>();
  for (const sub of subs) {
    const kept = byClient.get(sub.clientId);
    if (!kept || kept.qos < sub.qos) byClient.set(sub.clientId, sub);
  }
  return byClient.size === subs.length ? subs : [...byClient.values()];
}
