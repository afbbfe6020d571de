import { clientInternals, type Client } from '../aedes/internals.js';
import type { HandoverPolicy } from '../aedes/session-handover.js';
import type { Mqtt5Session } from '../mqtt5/session.js';
import { WireConnection } from '../wire/wire-connection.js';

/** DISCONNECT reason 0x8E (MQTT 5 §3.14.2.1): another connection with the same client id took over. */
const SESSION_TAKEN_OVER = { reasonCode: 0x8e, reason: 'session taken over' };

function mqtt5Of(client: Client): Mqtt5Session | undefined {
  const { conn } = clientInternals(client);
  return conn instanceof WireConnection ? conn.mqtt5?.session : undefined;
}

/** MQTT 5's answers for SessionHandover; an MQTT 3.1.1 connection keeps Aedes' behaviour. */
export const handoverPolicy: HandoverPolicy = {
  cleanStart: (client) => mqtt5Of(client)?.cleanStart ?? client.clean,
  willDelayS: (client) => {
    const session = mqtt5Of(client);
    if (!session) return 0;
    const will = (client as { will?: { properties?: { willDelayInterval?: number } } }).will;
    // MQTT 5 §3.1.3.2.2: the will goes after its delay or when the session ends, whichever is first.
    return Math.min(will?.properties?.willDelayInterval ?? 0, session.sessionExpiryS);
  },
  takenOver: (client) => {
    const { conn } = clientInternals(client);
    if (conn instanceof WireConnection && conn.mqtt5) conn.disconnect(SESSION_TAKEN_OVER);
  },
};
