import { isUtf8 } from 'node:buffer';
import type { IPublishPacket } from 'mqtt-packet';
import type { Refusal } from './session.js';

type PublishProperties = NonNullable<IPublishPacket['properties']>;

/** PUBACK/PUBREC reason codes of the refusals below (MQTT 5 §3.4.2.1). */
const NOT_AUTHORIZED = 0x87;
const PAYLOAD_FORMAT_INVALID = 0x99;
const PROTOCOL_ERROR = 0x82;

/**
 * A Response Topic that is not a topic name (empty, wildcards, U+0000) breaks MQTT-3.3.2-13/-14:
 * the connection ends with DISCONNECT 0x82. Checked for every PUBLISH Aedes parses.
 */
export function responseTopicViolation(props: PublishProperties): Refusal | undefined {
  const topic = props.responseTopic;
  if (topic === undefined) return undefined;
  if (topic.length === 0 || /[+#]/.test(topic) || topic.includes('\u0000')) {
    return { reasonCode: PROTOCOL_ERROR, reason: 'the response topic must be a topic name (no wildcards)' };
  }
  return undefined;
}

/**
 * Why an MQTT 5 publish the ACL allowed is refused for its properties, or undefined:
 * - Payload Format Indicator 1 (mqtt-packet reads it as `true`) on a payload that is not UTF-8: 0x99 (the server may check, §3.3.2.3.2);
 * - a Response Topic its publisher may not subscribe to: 0x87. A receiver answering there would
 *   publish where the requester cannot read: the property would steer it to write for someone else.
 */
export function publishPropertiesRefusal(
  props: PublishProperties,
  payload: Buffer | string,
  mayReadResponses: (topic: string) => boolean,
): Refusal | undefined {
  if (props.payloadFormatIndicator === true && Buffer.isBuffer(payload) && !isUtf8(payload)) {
    return { reasonCode: PAYLOAD_FORMAT_INVALID, reason: 'payload format indicator 1 but the payload is not UTF-8' };
  }
  if (props.responseTopic !== undefined && !mayReadResponses(props.responseTopic)) {
    return { reasonCode: NOT_AUTHORIZED, reason: `response topic ${props.responseTopic}: you may not subscribe to it` };
  }
  return undefined;
}

/**
 * A publish an extension stamps (chat): the stamped payload is the whole message, stored and
 * replayed from history without properties, so live receivers get none either (nor an expiry).
 */
export function dropClientProperties(packet: { properties?: unknown; messageExpiry?: number }): void {
  delete packet.properties;
  delete packet.messageExpiry;
}
