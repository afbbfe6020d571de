import { parseSharedFilter } from '../shared-filter.js';
import { aedesInternals, type Aedes, type Deliver, type InternalPacket } from './internals.js';

type Done = (err?: Error) => void;

/**
 * Which node delivers a message to a group: the first to claim the message's identity for the
 * group wins. Undefined on a single node (every member is here).
 */
export type ShareClaim = (key: string) => Promise<boolean>;

/** How long a claim is kept: far longer than a message takes to reach every node. */
export const SHARE_CLAIM_TTL_MS = 60_000;

/** One group on this node: its members' delivery functions and the emitter listener they share. */
interface Group {
  key: string;
  filter: string;
  members: Deliver[];
  next: number;
  listener: Deliver;
}

const noop = () => {};

/**
 * MQTT 5 shared subscriptions (§4.8.2), which Aedes 1.2.0 does not have. Aedes handles a
 * `$share/{group}/{filter}` SUBSCRIBE like any filter (ACL through authorizeSubscribe, stored in
 * the session, per-client delivery function with QoS, no-local, retain-as-published) and then calls
 * `aedes.subscribe('$share/…', func)`: that call and its unsubscribe are replaced here. Each group
 * has one emitter listener per node on the inner filter, and its members' functions; a message is
 * given to one member, round robin. In a cluster every node with members gets the message; the
 * node that first claims it in Redis (`SET NX` on group + broker id + broker counter, Aedes'
 * identity of a message) delivers it, the others drop it: each message reaches exactly one member
 * of the group in the cluster while Redis answers, none when it does not.
 */
export function installSharedSubscriptions(aedes: Aedes, claim: ShareClaim | undefined): void {
  const broker = aedesInternals(aedes);
  const groups = new Map<string, Group>();
  const subscribe = broker.subscribe.bind(broker);
  const unsubscribe = broker.unsubscribe.bind(broker);

  const deliverToOne = (group: Group, packet: InternalPacket, cb: () => void) => {
    if (group.members.length === 0) return cb();
    const member = group.members[group.next++ % group.members.length];
    member(packet, cb);
  };

  const listenerFor = (group: Group): Deliver => {
    const leadingWildcard = group.filter.startsWith('+') || group.filter.startsWith('#');
    return (packet, cb) => {
      // MQTT-4.7.2-1: `$` topics never match a filter starting with a wildcard.
      if (leadingWildcard && packet.topic.startsWith('$')) return cb();
      if (!claim) return deliverToOne(group, packet, cb);
      // The emitter does not wait for Redis: claims answer in the order they were asked.
      cb();
      claim(`${group.key}:${packet.brokerId}:${packet.brokerCounter}`).then((won) => won && deliverToOne(group, packet, noop), noop);
    };
  };

  broker.subscribe = (topic: string, func: Deliver, done: Done = noop) => {
    const shared = parseSharedFilter(topic);
    if (!shared) return subscribe(topic, func, done);
    const existing = groups.get(topic);
    if (existing) {
      existing.members.push(func);
      return process.nextTick(done);
    }
    const group: Group = { key: topic, filter: shared.filter, members: [func], next: 0, listener: noop };
    group.listener = listenerFor(group);
    groups.set(topic, group);
    subscribe(shared.filter, group.listener, done);
  };

  broker.unsubscribe = (topic: string, func: Deliver, done: Done = noop) => {
    const group = parseSharedFilter(topic) ? groups.get(topic) : undefined;
    if (!group) return unsubscribe(topic, func, done);
    const at = group.members.indexOf(func);
    if (at >= 0) group.members.splice(at, 1);
    if (group.members.length > 0) return process.nextTick(done);
    groups.delete(topic);
    unsubscribe(group.filter, group.listener, done);
  };
}
