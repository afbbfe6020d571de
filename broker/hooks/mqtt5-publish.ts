import type { IPublishPacket } from 'mqtt-packet';
import { clientInternals, type Client } from '../aedes/internals.js';
import type { ClientAccess } from '../client-access.js';
import { dropClientProperties, publishPropertiesRefusal } from '../mqtt5/publish-properties.js';
import type { Refusal } from '../mqtt5/session.js';
import { WireConnection } from '../wire/wire-connection.js';

/** An MQTT 5 PUBLISH as Aedes passes it to authorizePublish: properties as parsed, expiry set by observeInbound. */
type Mqtt5Publish = Pick<IPublishPacket, 'topic' | 'payload' | 'qos' | 'messageId' | 'properties'> & { messageExpiry?: number };

/**
 * The publish properties rule of docs/protocol.md (MQTT 5, Properties), for a publish the ACL
 * allowed: on a topic an extension stamps (chat) the client's properties are dropped; elsewhere
 * they pass through unless refused (publishPropertiesRefusal). A refusal is recorded for the
 * PUBACK/PUBREC the encoder writes and returned;
 * the caller acks and drops the publish.
 */
export function refusePublishProperties(access: ClientAccess, client: Client, packet: Mqtt5Publish, stamped: boolean): Refusal | undefined {
  if (stamped) {
    dropClientProperties(packet);
    return undefined;
  }
  if (!packet.properties) return undefined;
  const refusal = publishPropertiesRefusal(packet.properties, packet.payload, (topic) => access.may(client, 'subscribe', topic));
  if (!refusal) return undefined;
  // The encoder puts it on the PUBACK/PUBREC (and a refused QoS 2 then ends: aedes/refused-qos2.ts).
  const conn = clientInternals(client).conn;
  if (packet.qos > 0 && packet.messageId !== undefined && conn instanceof WireConnection)
    conn.mqtt5?.session.publishRefusals.set(packet.messageId, refusal);
  return refusal;
}
