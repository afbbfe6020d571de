import { aedesInternals, type Aedes } from './internals.js';

/**
 * MQTT-3.3.1-1, MQTT-4.4.0-1: a QoS 1/2 message re-sent to a resumed session after being sent
 * before (it has a packet id: a node sent it and never saw the PUBACK, e.g. it died) carries DUP=1.
 * Aedes re-sends a session's queue with DUP=0 (lib/handlers/connect.js emptyQueue).
 */
export function flagResends(aedes: Aedes): void {
  const { persistence } = aedesInternals(aedes);
  const stream = persistence.outgoingStream.bind(persistence);
  persistence.outgoingStream = (client) => {
    const queued = stream(client);
    return (async function* flagged() {
      for await (const packet of queued) {
        if (packet.messageId !== undefined && packet.messageId !== null) packet.dup = true;
        yield packet;
      }
    })();
  };
}
