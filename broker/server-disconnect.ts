import { clientInternals, type Client } from './aedes/internals.js';
import type { Refusal } from './mqtt5/session.js';
import { WireConnection } from './wire/wire-connection.js';

/**
 * The server ends a client's connection for `refusal`: an MQTT 5 client first gets a DISCONNECT
 * with its reason code and string; an MQTT 3.1.1 client is closed exactly as before (Aedes'
 * `client.close()`: its will is published either way, as for any connection the server ends).
 */
export function endConnection(client: Client, refusal: Refusal): void {
  const { conn } = clientInternals(client);
  if (conn instanceof WireConnection && conn.mqtt5) conn.disconnect(refusal);
  else client.close();
}
