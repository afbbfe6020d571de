import { clientInternals, type Client } from './internals.js';

/**
 * A QoS 2 publish answered with a PUBREC reason code of 0x80 or more ends there: the client sends
 * no PUBREL (MQTT 5 §4.3.3). Aedes stored it and reserved its packet id until a PUBREL
 * (lib/handlers/publish.js), so this does what its PUBREL handler would: without it the id would
 * stay taken, and the client's next QoS 2 publish with that id would be taken for a resend of the
 * refused one (acknowledged, never handled: qos2-once.ts) and count against maxInflightInbound.
 */
export function forgetRefusedQoS2(client: Client, messageId: number): void {
  const c = clientInternals(client);
  c.broker.persistence.incomingDelPacket(client, { messageId }).then(
    () => c._inboundInflight.delete(messageId),
    // Not stored (the connection closed first): there is nothing to forget.
    () => undefined,
  );
}
