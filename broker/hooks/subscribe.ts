import type { Aedes, AedesOptions } from '../aedes/internals.js';
import type { ClientAccess } from '../client-access.js';
import type { BrokerExtension } from '../extensions.js';

/** SUBSCRIBE: the ACL and the subscription cap decide each filter; granted filters are remembered. */
export function authorizeSubscribe(access: ClientAccess): Required<AedesOptions>['authorizeSubscribe'] {
  return (client, sub, done) => {
    // MQTT-4.7.3-2: a topic filter with U+0000 is malformed; the connection is closed.
    if (sub.topic.includes('\u0000')) return done(new Error('topic filter contains U+0000'));
    const st = access.get(client);
    if (st === undefined || !access.maySubscribe(client, st, sub.topic)) {
      access.refused('subscribe');
      return done(null, null);
    }
    st.filters.add(sub.topic);
    done(null, sub);
  };
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
