import type { Packet } from 'mqtt-packet';
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
export function observeInbound(session: Mqtt5Session, packet: Packet): ProtocolViolation | undefined {
  switch (packet.cmd) {
    case 'publish':
      return onPublish(packet) ?? (packet.qos > 0 ? session.publishReceived() : undefined);
    case 'subscribe': {
      const filters = packet.subscriptions.map((s) => s.topic);
      if (packet.messageId !== undefined) session.pendingSubscribes.set(packet.messageId, filters);
      const id = packet.properties?.subscriptionIdentifier;
      for (const filter of filters) {
        if (id !== undefined) session.subscriptionIds.set(filter, id);
        else session.subscriptionIds.delete(filter);
      }
      return undefined;
    }
    case 'unsubscribe':
      if (packet.messageId !== undefined) session.pendingUnsubscribes.set(packet.messageId, packet.unsubscriptions.length);
      for (const filter of packet.unsubscriptions) session.subscriptionIds.delete(filter);
      return undefined;
    case 'disconnect':
      return onDisconnect(session, packet);
    case 'auth':
      return { reasonCode: 0x8c, reason: 'enhanced authentication is not supported: sign in with a token as the password' };
    default:
      return undefined;
  }
}

function onPublish(packet: Extract<Packet, { cmd: 'publish' }>): ProtocolViolation | undefined {
  const props = packet.properties;
  if (!props) return undefined;
  // The CONNACK announced no Topic Alias Maximum: the client may not use one (MQTT-3.3.2-8).
  if (props.topicAlias !== undefined) return { reasonCode: 0x94, reason: 'topic alias not allowed: this server accepts none' };
  if (props.subscriptionIdentifier !== undefined)
    return { reasonCode: 0x82, reason: 'a PUBLISH from a client may not carry a subscription identifier' };
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
