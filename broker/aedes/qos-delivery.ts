import { clientInternals, type Client, type ClientInternals, type InternalPacket } from './internals.js';
import { qosPublishFrame } from '../wire/mqtt-frame.js';
import { DELIVERY_WITHHELD, PACKET_SINK, type OutboundPacket, type PacketSinkStream } from './packet-sink.js';

const noop = () => {};

/**
 * Aedes' QoS 1 delivery to one client, without its per-message setImmediate, packet copies and
 * piecewise stream writes: each message becomes one frame handed to the client's writer. The steps
 * and their order are Aedes' (lib/client.js deliverQoS): no-local, de-duplication across
 * overlapping subscriptions, the broker's authorizeForward, a packet id from the client's counter,
 * QoS capped at the subscription's, and for a persistent session the outgoing queue updated first.
 */
export function installQoSDelivery(client: Client): void {
  const c = clientInternals(client);
  // Only an MQTT 5 connection calls it (its encoder withholds what the client cannot take).
  (c.conn as PacketSinkStream)[DELIVERY_WITHHELD] = (messageId) => {
    if (c.clean === false) c.broker.persistence.outgoingClearMessageId(client, { messageId }).then(noop, noop);
  };
  c.deliverQoS = (original, cb) => {
    if (original.qos === 0) return c.deliver0(original, cb);
    const forward =
      original.clientId === c.id && original.nl ? undefined : dedupe(c, original) ? c.broker.authorizeForward(client, original) : undefined;
    if (!forward) {
      if (c.clean === false) c.broker.persistence.outgoingClearMessageId(client, original).then(noop, noop);
      process.nextTick(cb);
      return;
    }
    const messageId = forward.messageId || nextId(c);
    const sub = c.subscriptions[forward.topic];
    const qos = sub && (sub.qos || 0) < forward.qos ? sub.qos : forward.qos;
    const write = (err?: unknown) => {
      if (err) c.emit('error', err as Error);
      else if (c.connecting || c.connected) writeDelivery(c, forward, qos, messageId);
      else c.emit('error', new Error('connection closed'));
      process.nextTick(cb);
    };
    if (c.clean || forward.retain) return write();
    const packet = queuedCopy(forward, qos, messageId);
    c.broker.persistence.outgoingUpdate(client, packet).then(() => write(), write);
  };
}

/** The message as the session's outgoing store keeps it until the client acknowledges it. */
function queuedCopy(forward: InternalPacket, qos: number, messageId: number): InternalPacket {
  const { cmd, brokerId, brokerCounter, topic, payload, retain, properties, messageExpiry } = forward;
  const packet: InternalPacket = { cmd, brokerId, brokerCounter, topic, payload, qos, retain, dup: forward.dup ?? false, messageId };
  if (properties) packet.properties = properties;
  if (messageExpiry !== undefined) packet.messageExpiry = messageExpiry;
  return packet;
}

/** One frame to the client's writer; an MQTT 5 connection encodes the packet itself (properties, expiry). */
function writeDelivery(c: ClientInternals, packet: InternalPacket, qos: number, messageId: number): void {
  const sink = (c.conn as PacketSinkStream)[PACKET_SINK];
  if (!sink) {
    c.conn.write(qosPublishFrame(packet.topic, packet.payload, qos, packet.retain, packet.dup === true, messageId));
    return;
  }
  const { topic, payload, retain, properties, messageExpiry } = packet;
  sink({ cmd: 'publish', topic, payload, qos, retain, dup: packet.dup === true, messageId, properties, messageExpiry } as OutboundPacket);
}

function nextId(c: ClientInternals): number {
  const id = c._nextId;
  c._nextId = id >= 65535 ? 1 : id + 1;
  return id;
}

/** Keys of the last messages each client was given at QoS 1/2 (see dedupe). */
const recentlyDelivered = new WeakMap<ClientInternals, Set<string>>();
/**
 * Copies of one message for one client (a filter each) are delivered back to back, in one pass of
 * the emitter over the matching subscriptions (or one after the other from a resume's held list).
 */
const RECENT_KEYS = 32;

/**
 * Drops a copy of a message this client was just given (overlapping subscriptions), as Aedes does.
 * Aedes keeps only the highest brokerCounter delivered per broker and drops anything lower, but a
 * node's packets reach the emitter out of counter order: a QoS 1 publish takes its counter before
 * it is queued for persistent sessions (Redis), a QoS 0 one (typing) emits at once; a chat message
 * published with a typing signal was never delivered live (bug (f), broker/README.md). So a QoS 1/2
 * copy is dropped only when it is one of the last messages given to this client; the high-water
 * mark stays for Aedes' QoS 0 delivery (deliver0), which a QoS 1 delivery of the same message
 * through an overlapping QoS 0 subscription must still find.
 */
function dedupe(c: ClientInternals, packet: InternalPacket): boolean {
  const id = packet.brokerId;
  if (!id) return true;
  const counter = packet.brokerCounter ?? 0;
  // Just given through a QoS 0 subscription (Aedes' deliver0 raised the mark to this message).
  if (c.duplicates[id] === counter) return false;
  let recent = recentlyDelivered.get(c);
  if (!recent) recentlyDelivered.set(c, (recent = new Set()));
  const key = `${id}\u0000${counter}`;
  if (recent.has(key)) return false;
  recent.add(key);
  if (recent.size > RECENT_KEYS) recent.delete(recent.values().next().value!);
  if ((c.duplicates[id] ?? 0) < counter) c.duplicates[id] = counter;
  return true;
}
