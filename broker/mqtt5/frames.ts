import { PUBLISH_TYPE, writeRemainingLength } from '../wire/mqtt-frame.js';

/** Topic Alias property identifier (MQTT 5 §3.3.2.3.4). */
const TOPIC_ALIAS = 0x23;

/**
 * An MQTT 5 QoS 0 PUBLISH (pure): `alias` 0 sends the topic and no properties; otherwise the alias
 * goes as the only property, with the topic when it is being introduced and an empty topic after.
 * Built per client for tick deliveries, where mqtt-packet's general encoder costs too much.
 */
export function aliasedPublishFrame(topic: string, payload: Buffer, retain: boolean, alias: number): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const propertiesLength = alias === 0 ? 0 : 3;
  const remaining = 2 + topicLength + 1 + propertiesLength + payload.length;
  const frame = Buffer.allocUnsafe(1 + remainingLengthSize(remaining) + remaining);
  frame[0] = (PUBLISH_TYPE << 4) | (retain ? 1 : 0);
  let at = writeRemainingLength(frame, remaining, 1);
  at = frame.writeUInt16BE(topicLength, at);
  at += frame.write(topic, at, 'utf8');
  frame[at++] = propertiesLength;
  if (alias !== 0) {
    frame[at++] = TOPIC_ALIAS;
    at = frame.writeUInt16BE(alias, at);
  }
  payload.copy(frame, at);
  return frame;
}

function remainingLengthSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}
