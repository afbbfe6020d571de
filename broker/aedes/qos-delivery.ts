import { clientInternals, type Client, type ClientInternals, type InternalPacket } from './internals.js';
import { qosPublishFrame } from '../wire/mqtt-frame.js';

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
      else if (c.connecting || c.connected)
        c.conn.write(qosPublishFrame(forward.topic, forward.payload, qos, forward.retain, forward.dup === true, messageId));
      else c.emit('error', new Error('connection closed'));
      process.nextTick(cb);
    };
    if (c.clean || forward.retain) return write();
    const packet: InternalPacket = {
      cmd: forward.cmd,
      brokerId: forward.brokerId,
      brokerCounter: forward.brokerCounter,
      topic: forward.topic,
      payload: forward.payload,
      qos,
      retain: forward.retain,
      dup: forward.dup ?? false,
      messageId,
    };
    c.broker.persistence.outgoingUpdate(client, packet).then(() => write(), write);
  };
}

function nextId(c: ClientInternals): number {
  const id = c._nextId;
  c._nextId = id >= 65535 ? 1 : id + 1;
  return id;
}

/** Drops a packet this client already got (overlapping subscriptions, cluster echoes), as Aedes does. */
function dedupe(c: ClientInternals, packet: InternalPacket): boolean {
  const id = packet.brokerId;
  if (!id) return true;
  const counter = packet.brokerCounter ?? 0;
  if ((c.duplicates[id] ?? 0) >= counter) return false;
  c.duplicates[id] = counter;
  return true;
}
