import type { Aedes, AedesOptions, Client } from '../aedes/internals.js';
import type { ClientAccess, ClientState } from '../client-access.js';
import type { BrokerExtension } from '../extensions.js';
import { INVALID_FILTER_STAND_IN } from '../mqtt5/inbound.js';
import { REASON } from '../mqtt5/reasons.js';
import type { Refusal } from '../mqtt5/session.js';
import { mqtt5SessionOf } from './mqtt5-connect.js';

/** SUBSCRIBE: the ACL and the subscription cap decide each filter; granted filters are remembered. */
export function authorizeSubscribe(access: ClientAccess, maxSubscriptions: number): Required<AedesOptions>['authorizeSubscribe'] {
  return (client, sub, done) => {
    // MQTT-4.7.3-2: a topic filter with U+0000 is malformed; the connection is closed (MQTT 5: refused in its SUBACK, see inbound.ts).
    if (sub.topic.includes('\u0000')) return done(new Error('topic filter contains U+0000'));
    // An MQTT 5 filter refused before Aedes saw it: its SUBACK reason is recorded already.
    if (sub.topic.startsWith(INVALID_FILTER_STAND_IN)) return done(null, null);
    const st = access.get(client);
    const refused = subscribeRefusal(access, client, st, sub.topic, maxSubscriptions);
    if (refused) {
      access.refused('subscribe');
      mqtt5SessionOf(client)?.subscribeRefusals.set(sub.topic, refused);
      return done(null, null);
    }
    st!.filters.add(sub.topic);
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
