import { aedesInternals, type Aedes, type Client } from '../aedes/internals.js';
import type { QoSForwarder } from '../aedes/qos-forward.js';
import type { ClientPublish } from '../extensions.js';
import type { Refusal } from '../mqtt5/session.js';
import { readPublish } from './mqtt-frame.js';
import type { WireConnection } from './wire-connection.js';

/** Where client and server QoS 1 publishes go on (see QoSForwarder). */
export type Forwarder = Pick<QoSForwarder, 'forward'>;

/**
 * QoS 1 publishes the broker's extensions own (chat), taken off the wire like ticks: Aedes' parser,
 * handler chain and PUBACK were most of the broker's CPU per chat message. Delivery to subscribers
 * still goes through Aedes (sessions, offline queues, the cluster).
 */
export interface ChatIntake {
  /** Topic prefixes whose QoS 1 publishes from this client are taken (none: Aedes parses them). */
  prefixesFor(client: Client): readonly string[];
  /** Largest frame taken: the broker's packet-size bound, so nothing bigger escapes its guard. */
  maxFrame: number;
  /**
   * Handles one publish, forwarding it through `forwarder` if it is to be delivered. `settle()`
   * sends its PUBACK (in arrival order), `settle(undefined, refusal)` one saying why it was refused
   * (MQTT 5 reason code and string; a plain PUBACK for 3.1.1); `settle(err)` closes the connection
   * without one, so the client sends the message again.
   */
  onPublish(client: Client, publish: ClientPublish, settle: (err?: Error, refusal?: Refusal) => void, forwarder: Forwarder): void;
}

/** A chat publish taken off the wire, handed to the extension that owns its prefix. */
export function takeChatPublish(conn: WireConnection, frame: Buffer, intake: ChatIntake | undefined, forwarder: Forwarder): void {
  const publish = readPublish(frame, conn.mqtt5 !== undefined);
  const client = conn.client;
  if (publish === null || publish.messageId === undefined || !client || !intake) {
    conn.destroy(new Error('malformed PUBLISH'));
    return;
  }
  const ack = conn.acks.reserve(publish.messageId);
  // The frame is a view into the read buffer: the payload outlives this call.
  const packet: ClientPublish = { topic: publish.topic, payload: Buffer.from(publish.payload), qos: 1, retain: publish.retain };
  intake.onPublish(client, packet, (err, refusal) => (err ? conn.destroy(err) : ack(refusal)), forwarder);
}

/** A subscriber's PUBACK taken off the wire: the steps of Aedes' `handlers/puback.js`, without its parser. */
export function takePuback(conn: WireConnection, frame: Buffer, aedes: Aedes): void {
  const client = conn.client;
  if (!client) return;
  const internals = aedesInternals(aedes);
  const handled = conn.beginWork();
  const messageId = frame.readUInt16BE(2);
  conn.deliveryAcknowledged(messageId);
  internals.persistence.outgoingClearMessageId(client, { messageId }).then(
    (acknowledged) => {
      handled();
      internals.emit('ack', acknowledged, client);
    },
    (err: Error) => {
      handled();
      client.emit('error', err);
    },
  );
}
