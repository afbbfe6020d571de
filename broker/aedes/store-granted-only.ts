import { aedesInternals, type Aedes, type Client } from './internals.js';

type Sub = { topic: string; qos: number };

/** One client's stores: the last one scheduled, whether it has taken its filters, and those waiting. */
interface ClientStores {
  pending: Map<string, Sub>;
  tail: Promise<unknown>;
  started: boolean;
}

/**
 * Aedes stores a persistent session's SUBSCRIBE as the packet's whole filter list, refused filters
 * included, once per granted filter (lib/handlers/subscribe.js storeSubscriptions), and would later
 * queue and deliver QoS 1 messages on them without asking the ACL again: only filters this node
 * granted reach the persistence (bug (a)).
 *
 * aedes-persistence-redis answers each store when its broadcast comes back, waiting under the key
 * client id + first topic (aedes-persistence broadcastPersistence.js): concurrent stores of one
 * client with the same first topic overwrite each other's waiter, and all but one never answer, so
 * the SUBACK never goes (bug (d)). A client's stores therefore run one at a time; the filters asked
 * for meanwhile are merged into the next one.
 */
export function storeGrantedOnly(aedes: Aedes, granted: (client: Client, topic: string) => boolean): void {
  const { persistence } = aedesInternals(aedes);
  const add = persistence.addSubscriptions.bind(persistence);
  const stores = new Map<string, ClientStores>();

  const schedule = (client: Client, after: Promise<unknown>): ClientStores => {
    const st: ClientStores = { pending: new Map(), tail: after, started: false };
    // After a turn: a SUBSCRIBE's filters, authorized one after the other, go in one store.
    st.tail = after
      .catch(() => {})
      .then(() => {
        st.started = true;
        const subs = [...st.pending.values()];
        st.pending.clear();
        return subs.length > 0 ? add(client, subs) : undefined;
      });
    stores.set(client.id, st);
    void st.tail.catch(() => {}).then(() => stores.get(client.id) === st && stores.delete(client.id));
    return st;
  };

  persistence.addSubscriptions = (client, subs) => {
    const current = stores.get(client.id);
    const st = current === undefined || current.started ? schedule(client, current?.tail ?? Promise.resolve()) : current;
    for (const sub of subs) if (granted(client, sub.topic)) st.pending.set(sub.topic, sub);
    return st.tail;
  };
}
