import type { Packet } from 'mqtt-packet';
import { isValidFilter } from '../topic-filter.js';
import { REASON } from './reasons.js';
import { parseSharedFilter } from '../shared-filter.js';
import { responseTopicViolation } from './publish-properties.js';
import type { Mqtt5Session, Refusal } from './session.js';

/** DISCONNECT reason 0x04: the client leaves but wants its will published (MQTT 5 §3.14.2.1). */
const DISCONNECT_WITH_WILL = 0x04;
/** Aedes' packet handler destroys the connection for a command it does not know, keeping the will. */
export const DISCONNECT_KEEPING_WILL = 'disconnect-keeping-will';

/** A packet the MQTT 5 rules refuse: the connection ends with a DISCONNECT carrying this reason. */
export type ProtocolViolation = Refusal;

/**
 * What an MQTT 5 client's packets mean beyond what Aedes (MQTT 3.1.1) reads: each one parsed is
 * seen here first, recorded in the session, and adjusted where Aedes must act differently.
 * Returns a violation when the packet breaks an MQTT 5 rule the server announced.
 */
export function observeInbound(
  session: Mqtt5Session,
  packet: Packet,
  subscribed: (filter: string) => boolean = () => false,
): ProtocolViolation | undefined {
  switch (packet.cmd) {
    case 'publish':
      return onPublish(packet) ?? (packet.qos > 0 ? session.publishReceived() : undefined);
    case 'subscribe':
      return onSubscribe(session, packet, subscribed);
    case 'unsubscribe':
      if (packet.messageId !== undefined) session.pendingUnsubscribes.set(packet.messageId, packet.unsubscriptions.length);
      for (const filter of packet.unsubscriptions) session.recordSubscription({ topic: filter });
      return undefined;
    case 'disconnect':
      return onDisconnect(session, packet);
    case 'auth':
      return { reasonCode: 0x8c, reason: 'enhanced authentication is not supported: sign in with a token as the password' };
    default:
      return undefined;
  }
}

/** What an invalid MQTT 5 topic filter is renamed to before Aedes sees it: refused by authorizeSubscribe, unrecorded. */
export const INVALID_FILTER_STAND_IN = '$ticktalk/invalid-filter/';

/** Aedes' bound on topic levels (it closes the connection over it). */
const MAX_TOPIC_LEVELS = 100;

/**
 * Aedes closes the connection for an invalid topic filter (and ticktalk for U+0000, MQTT-4.7.3-2):
 * an MQTT 5 client has SUBACK 0x8F (Topic Filter invalid) instead. Each such filter is recorded
 * with its reason and renamed to a stand-in (numbered: Aedes merges equal filters) that
 * authorizeSubscribe refuses, so the SUBACK keeps its place.
 */
function standInForInvalidFilters(session: Mqtt5Session, subscriptions: { topic: string }[]): void {
  subscriptions.forEach((sub, k) => {
    const why = invalidFilter(sub.topic);
    if (why === undefined) return;
    session.subscribeRefusals.set(sub.topic, { reasonCode: REASON.topicFilterInvalid, reason: `topic filter invalid: ${why}` });
    sub.topic = `${INVALID_FILTER_STAND_IN}${k}`;
  });
}

function invalidFilter(filter: string): string | undefined {
  if (filter.includes('\u0000')) return 'it contains U+0000';
  if (!isValidFilter(filter)) return `${JSON.stringify(filter)}: empty, or a wildcard that is not a whole level ('#' last only)`;
  if (filter.split('/').length > MAX_TOPIC_LEVELS) return `more than ${MAX_TOPIC_LEVELS} levels`;
  return undefined;
}

/**
 * Each filter's options as Aedes will store them with the subscription (aedes-persistence keeps the
 * whole object, so a resumed session gets its Subscription Identifier back), and Retain Handling:
 * 2 never sends retained messages, 1 only for a filter not already subscribed (MQTT-3.3.1-9..-11).
 */
function onSubscribe(
  session: Mqtt5Session,
  packet: Extract<Packet, { cmd: 'subscribe' }>,
  subscribed: (filter: string) => boolean,
): ProtocolViolation | undefined {
  const filters = packet.subscriptions.map((s) => s.topic);
  if (packet.messageId !== undefined) session.pendingSubscribes.set(packet.messageId, filters);
  standInForInvalidFilters(session, packet.subscriptions);
  const id = packet.properties?.subscriptionIdentifier;
  for (const sub of packet.subscriptions) {
    // MQTT-3.8.3-4: No Local on a shared subscription is a Protocol Error.
    if (sub.nl && parseSharedFilter(sub.topic)) return { reasonCode: 0x82, reason: 'no local is not allowed on a shared subscription' };
    if (id !== undefined) (sub as { subscriptionIdentifier?: number }).subscriptionIdentifier = id;
    if (sub.rh === 2 || (sub.rh === 1 && subscribed(sub.topic))) session.retainWithheld.add(sub.topic);
    else session.retainWithheld.delete(sub.topic);
  }
  return undefined;
}

function onPublish(packet: Extract<Packet, { cmd: 'publish' }>): ProtocolViolation | undefined {
  const props = packet.properties;
  if (!props) return undefined;
  // The CONNACK announced no Topic Alias Maximum: the client may not use one (MQTT-3.3.2-8).
  if (props.topicAlias !== undefined) return { reasonCode: 0x94, reason: 'topic alias not allowed: this server accepts none' };
  if (props.subscriptionIdentifier !== undefined)
    return { reasonCode: 0x82, reason: 'a PUBLISH from a client may not carry a subscription identifier' };
  const badResponseTopic = responseTopicViolation(props);
  if (badResponseTopic) return badResponseTopic;
  if (props.messageExpiryInterval !== undefined) {
    (packet as { messageExpiry?: number }).messageExpiry = Date.now() + props.messageExpiryInterval * 1000;
  }
  return undefined;
}

function onDisconnect(session: Mqtt5Session, packet: Extract<Packet, { cmd: 'disconnect' }>): ProtocolViolation | undefined {
  const expiry = packet.properties?.sessionExpiryInterval;
  if (expiry !== undefined) {
    // MQTT-3.14.2-2: a session that was to end with the connection cannot be extended at its end.
    if (session.sessionExpiryS === 0 && expiry > 0)
      return { reasonCode: 0x82, reason: 'session expiry cannot be set at DISCONNECT when CONNECT set 0' };
    session.sessionExpiryS = Math.min(expiry, session.server.maxSessionExpiryS);
  }
  if (packet.reasonCode === DISCONNECT_WITH_WILL) (packet as { cmd: string }).cmd = DISCONNECT_KEEPING_WILL;
  return undefined;
}
