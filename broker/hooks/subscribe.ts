import { topicFamily } from '../../protocol/topics.js';
import type { Aedes, AedesOptions, Client } from '../aedes/internals.js';
import type { RetainedWithheld } from '../aedes/retain-handling.js';
import type { ClientAccess, ClientState } from '../client-access.js';
import type { BrokerExtension } from '../extensions.js';
import { INVALID_FILTER_STAND_IN } from '../mqtt5/inbound.js';
import { REASON } from '../mqtt5/reasons.js';
import type { Refusal } from '../mqtt5/session.js';
import { parseSharedFilter } from '../shared-filter.js';
import { mqtt5SessionOf } from './mqtt5-connect.js';

/**
 * SUBSCRIBE (and a resumed session's restored subscriptions): the ACL and the subscription cap
 * decide each filter, a shared one (`$share/{group}/{filter}`) on its inner filter; granted
 * filters are remembered, with their MQTT 5 options for an MQTT 5 client.
 */
export function authorizeSubscribe(access: ClientAccess, maxSubscriptions: number): Required<AedesOptions>['authorizeSubscribe'] {
  return (client, sub, done) => {
    // MQTT-4.7.3-2: a topic filter with U+0000 is malformed; the connection is closed (MQTT 5: refused in its SUBACK, see inbound.ts).
    if (sub.topic.includes('\u0000')) return done(new Error('topic filter contains U+0000'));
    // An MQTT 5 filter refused before Aedes saw it: its SUBACK reason is recorded already.
    if (sub.topic.startsWith(INVALID_FILTER_STAND_IN)) return done(null, null);
    const st = access.get(client);
    const shared = parseSharedFilter(sub.topic);
    const refused =
      (shared === undefined ? undefined : sharedRefusal(shared)) ??
      subscribeRefusal(access, client, st, shared?.filter ?? sub.topic, maxSubscriptions);
    if (refused) {
      access.refused('subscribe');
      mqtt5SessionOf(client)?.subscribeRefusals.set(sub.topic, refused);
      return done(null, null);
    }
    st!.filters.add(sub.topic);
    mqtt5SessionOf(client)?.recordSubscription(sub);
    done(null, sub);
  };
}

/** Why `filter` is refused, as an MQTT 5 SUBACK reason (3.1.1 clients get 0x80 either way). */
function subscribeRefusal(access: ClientAccess, client: Client, st: ClientState | undefined, filter: string, max: number): Refusal | undefined {
  const why = st === undefined ? 'not authorized' : access.subscribeRefusal(client, st, filter);
  if (why === 'quota exceeded') {
    return { reasonCode: REASON.quotaExceeded, reason: `quota exceeded: at most ${max} subscriptions per connection` };
  }
  if (why === 'not authorized') return { reasonCode: REASON.notAuthorized, reason: `not authorized to subscribe to ${filter}` };
  return undefined;
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
