import { aedesInternals, type Aedes, type Client } from './internals.js';

/**
 * Aedes stores a persistent session's SUBSCRIBE as the packet's whole filter list, refused filters
 * included (lib/handlers/subscribe.js storeSubscriptions), and would later queue and deliver QoS 1
 * messages on them without asking the ACL again. Only filters this node granted reach the persistence.
 */
export function storeGrantedOnly(aedes: Aedes, granted: (client: Client, topic: string) => boolean): void {
  const { persistence } = aedesInternals(aedes);
  const add = persistence.addSubscriptions.bind(persistence);
  persistence.addSubscriptions = (client, subs) => add(client, subs.filter((sub) => granted(client, sub.topic)));
}
