import { clientInternals, type Client } from './internals.js';

/**
 * An MQTT 5 client's QoS 2 publish was refused with a PUBREC reason code of 0x80 or more: the
 * exchange ends there (MQTT 5 §4.3.3: the client sends no PUBREL and may reuse the packet id). Aedes
 * stored the message (renamed away, see dropped.ts) and holds an inbound slot for it until a PUBREL;
 * both are released now as its PUBREL handler (lib/handlers/pubrel.js) would, so the next publish
 * reusing the id is not taken for a duplicate (qos2-once.ts) and the slots do not run out.
 */
export function endRefusedQoS2(client: Client, messageId: number): void {
  const c = clientInternals(client);
  c.broker.persistence.incomingDelPacket(client, { messageId }).then(
    () => c._inboundInflight.delete(messageId),
    // Still stored: the slot stays taken, as Aedes does when its own delete fails.
    () => undefined,
  );
}
