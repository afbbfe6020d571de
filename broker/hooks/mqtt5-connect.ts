import type { IConnectPacket, Packet } from 'mqtt-packet';
import type { Config } from '../../protocol/config.js';
import { clientInternals, type Client } from '../aedes/internals.js';
import { endRefusedQoS2 } from '../aedes/refused-qos2.js';
import type { EncoderStats } from '../mqtt5/encoder.js';
import { DISCONNECT_KEEPING_WILL, observeInbound } from '../mqtt5/inbound.js';
import { Mqtt5Session, type ServerLimits } from '../mqtt5/session.js';
import { WireConnection } from '../wire/wire-connection.js';

export function serverLimits(config: Config, sharedSubscriptions: boolean): ServerLimits {
  return {
    receiveMaximum: config.MQTT_RECEIVE_MAXIMUM,
    maxQueuedMessages: config.MQTT_MAX_QUEUED_MESSAGES,
    maximumPacketSize: config.MQTT_MAX_PACKET,
    maxKeepaliveS: config.MQTT_MAX_KEEPALIVE_S,
    maxSessionExpiryS: config.MQTT_SESSION_EXPIRY_S,
    sharedSubscriptions,
  };
}

/**
 * In preConnect, for an MQTT 5 CONNECT: the connection gets its MQTT 5 session and encoder, the
 * parser keeps reading MQTT 5, every parsed packet is seen by observeInbound before Aedes handles
 * it, and Aedes (which refuses protocol level 5) is shown a 3.1.1 CONNECT with the session's
 * client id, keepalive and `clean`. Returns the session, or undefined when the transport is not
 * one the wire layer fronts.
 */
export function startMqtt5(client: Client, packet: IConnectPacket, limits: ServerLimits, stats: EncoderStats): Mqtt5Session | undefined {
  const c = clientInternals(client);
  const conn = c.conn;
  if (!(conn instanceof WireConnection)) return undefined;
  const session = Mqtt5Session.fromConnect(packet, limits);
  // Anonymous clients never keep a session, so Clean Start 0 has nothing to resume: without a
  // Session Expiry Interval there is nothing to keep either (with one: refused, "anonymous session").
  if (!packet.password?.length && !session.persistent) packet.clean = true;
  conn.useMqtt5(session, stats);
  if (typeof session.maxTickRate === 'number') conn.writer.limitTickRate(session.maxTickRate);
  session.endRefusedQoS2 = (messageId) => endRefusedQoS2(client, messageId);
  c._parser.settings = { protocolVersion: 5 };
  c._parser.prependListener('packet', (parsed: Packet) => {
    const violation = observeInbound(session, parsed, (filter) => c.subscriptions[filter] !== undefined);
    if (parsed.cmd === 'puback' || parsed.cmd === 'pubcomp' || (parsed.cmd === 'pubrec' && (parsed.reasonCode ?? 0) >= 0x80)) {
      conn.deliveryAcknowledged(parsed.messageId ?? 0);
    }
    if (!violation) return;
    // Aedes handles the packet after this listener: as an unknown command, which closes the connection (will kept).
    (parsed as { cmd: string }).cmd = DISCONNECT_KEEPING_WILL;
    conn.disconnect(violation);
  });
  packet.protocolVersion = 4;
  return session;
}

/** The MQTT 5 session of a client's connection, or undefined for MQTT 3.1.1. */
export function mqtt5SessionOf(client: Client): Mqtt5Session | undefined {
  const { conn } = clientInternals(client);
  return conn instanceof WireConnection ? conn.mqtt5?.session : undefined;
}
