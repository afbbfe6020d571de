import { topicFamily } from '../../protocol/topics.js';
import type { Aedes, AedesOptions, Client } from '../aedes/internals.js';
import type { RetainedWithheld } from '../aedes/retain-handling.js';
import type { ClientAccess } from '../client-access.js';
import type { BrokerExtension } from '../extensions.js';
import type { Refusal } from '../mqtt5/session.js';
import { parseSharedFilter } from '../shared-filter.js';
import { mqtt5SessionOf } from './mqtt5-connect.js';

/**
 * SUBSCRIBE (and a resumed session's restored subscriptions): the ACL and the subscription cap
 * decide each filter, a shared one (`$share/{group}/{filter}`) on its inner filter; granted
 * filters are remembered, with their MQTT 5 options for an MQTT 5 client.
 */
export function authorizeSubscribe(access: ClientAccess): Required<AedesOptions>['authorizeSubscribe'] {
  return (client, sub, done) => {
    // MQTT-4.7.3-2: a topic filter with U+0000 is malformed; the connection is closed.
    if (sub.topic.includes('\u0000')) return done(new Error('topic filter contains U+0000'));
    const st = access.get(client);
    const shared = parseSharedFilter(sub.topic);
    const refusal = shared === undefined ? undefined : sharedRefusal(shared);
    if (st === undefined || refusal !== undefined || !access.maySubscribe(client, st, shared?.filter ?? sub.topic)) {
      access.refused('subscribe');
      if (refusal !== undefined) mqtt5SessionOf(client)?.subscribeRefusals.set(sub.topic, refusal);
      return done(null, null);
    }
    st.filters.add(sub.topic);
    mqtt5SessionOf(client)?.recordSubscription(sub);
    done(null, sub);
  };
}

/**
 * Why a shared filter is refused: malformed (MQTT-4.8.2-1, -2), or on `ticks/`, which the wire
 * layer fans out to every subscriber without Aedes' emitter (no group could take them).
 */
function sharedRefusal(shared: ReturnType<typeof parseSharedFilter>): Refusal | undefined {
  if (shared === null) return { reasonCode: 0x8f, reason: 'a shared subscription is $share/{name}/{filter}, the name without wildcards' };
  if (shared !== undefined && topicFamily(shared.filter) === 'ticks')
    return { reasonCode: 0x9e, reason: 'shared subscriptions are not available on ticks/: subscribe to them directly' };
  return undefined;
}

/** MQTT 5 Retain Handling: the filters an MQTT 5 SUBSCRIBE asked to get no retained messages for (read once). */
export const retainedWithheld: RetainedWithheld = (client: Client, filter: string) => {
  const session = mqtt5SessionOf(client);
  if (session === undefined || !session.retainWithheld.has(filter)) return false;
  session.retainWithheld.delete(filter);
  return true;
};

/** Extensions hear of granted subscriptions, unsubscriptions and disconnects; unsubscribed filters are forgotten. */
export function reportSubscriptions(aedes: Aedes, access: ClientAccess, extensions: readonly BrokerExtension[]): void {
  aedes.on('subscribe', (subs, client) => {
    // Aedes reports refused filters too (granted 0x80): extensions only hear of granted ones.
    const topics = subs.filter((s) => (s.qos as number) !== 128).map((s) => s.topic);
    if (topics.length === 0) return;
    for (const ext of extensions) ext.onSubscribe?.(access.info(client), topics);
  });
  aedes.on('unsubscribe', (topics, client) => {
    const st = access.get(client);
    for (const t of topics) st?.filters.delete(t);
    for (const ext of extensions) ext.onUnsubscribe?.(access.info(client), topics);
  });
  aedes.on('clientDisconnect', (client) => {
    for (const ext of extensions) ext.onDisconnect?.(access.info(client));
  });
}
