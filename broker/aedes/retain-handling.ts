import { Readable } from 'node:stream';
import { aedesInternals, type Aedes, type Client } from './internals.js';

/** Whether the retained messages of `filter`, just subscribed by `client`, must not be sent. */
export type RetainedWithheld = (client: Client, filter: string) => boolean;

/**
 * MQTT 5 Retain Handling (§3.8.3.1: 1 = retained messages only for a new subscription, 2 = never).
 * Aedes 1.2.0 keeps `rh` on the subscription but always sends the retained messages: right after
 * emitting `'subscribe'` (lib/handlers/subscribe.js completeSubscribe) it reads them with
 * `persistence.createRetainedStreamCombi(filters)`, in the same turn. The subscriber is noted on
 * the event and the filters whose retained messages are withheld are left out of that read.
 */
export function honourRetainHandling(aedes: Aedes, withheld: RetainedWithheld): void {
  const persistence = aedesInternals(aedes).persistence;
  const read = persistence.createRetainedStreamCombi.bind(persistence);
  let subscriber: Client | undefined;
  aedes.on('subscribe', (_subs, client) => {
    subscriber = client;
  });
  persistence.createRetainedStreamCombi = (filters) => {
    const client = subscriber;
    subscriber = undefined;
    if (client === undefined) return read(filters);
    const sent = filters.filter((filter) => !withheld(client, filter));
    return sent.length > 0 ? read(sent) : Readable.from([]);
  };
}
