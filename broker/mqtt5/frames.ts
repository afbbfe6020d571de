import { bodyOffset, PUBLISH_TYPE, readVarint, varintSize, writeRemainingLength } from '../wire/mqtt-frame.js';

/** Topic Alias property identifier (MQTT 5 §3.3.2.3.4). */
const TOPIC_ALIAS = 0x23;

/**
 * An MQTT 5 QoS 0 PUBLISH (pure): `alias` 0 sends the topic and no alias; otherwise the alias goes
 * as a property, with the topic when it is being introduced and an empty topic after. `expiryS`:
 * the Message Expiry Interval left, as a property too. Built per client for tick deliveries, where
 * mqtt-packet's general encoder costs too much.
 */
export function aliasedPublishFrame(topic: string, payload: Buffer, retain: boolean, alias: number, expiryS?: number): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const propertiesLength = (alias === 0 ? 0 : 3) + (expiryS === undefined ? 0 : 5);
  const remaining = 2 + topicLength + 1 + propertiesLength + payload.length;
  const frame = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining);
  frame[0] = (PUBLISH_TYPE << 4) | (retain ? 1 : 0);
  let at = writeRemainingLength(frame, remaining, 1);
  at = frame.writeUInt16BE(topicLength, at);
  at += frame.write(topic, at, 'utf8');
  frame[at++] = propertiesLength;
  if (expiryS !== undefined) {
    frame[at++] = MESSAGE_EXPIRY_INTERVAL;
    at = frame.writeUInt32BE(expiryS, at);
  }
  if (alias !== 0) {
    frame[at++] = TOPIC_ALIAS;
    at = frame.writeUInt16BE(alias, at);
  }
  payload.copy(frame, at);
  return frame;
}

/** Message Expiry Interval property identifier (MQTT 5 §3.3.2.3.3). */
const MESSAGE_EXPIRY_INTERVAL = 0x02;

/**
 * The Message Expiry Interval (s) of an MQTT 5 QoS 0/1 PUBLISH frame, or undefined when it has
 * none (or its properties are malformed: the frame's reader refuses those). Read for frames the
 * wire layer takes off the wire, whose properties are otherwise skipped.
 */
export function publishExpiryInterval(frame: Buffer): number | undefined {
  let at = bodyOffset(frame);
  if (at < 0 || at + 2 > frame.length) return undefined;
  at += 2 + frame.readUInt16BE(at) + ((frame[0] & 0x06) !== 0 ? 2 : 0);
  const block = readVarint(frame, at);
  if (block === undefined) return undefined;
  const end = Math.min(frame.length, block.next + block.value);
  at = block.next;
  while (at < end) {
    const id = frame[at++];
    if (id === MESSAGE_EXPIRY_INTERVAL) return at + 4 <= end ? frame.readUInt32BE(at) : undefined;
    const size = propertySize(frame, id, at);
    if (size < 0) return undefined;
    at += size;
  }
  return undefined;
}

/** Bytes of a PUBLISH property's value at `at` (after its identifier), -1 when unknown. */
function propertySize(frame: Buffer, id: number, at: number): number {
  switch (id) {
    case 0x01:
      return 1;
    case 0x23:
      return 2;
    case 0x03:
    case 0x08:
    case 0x09:
      return at + 2 <= frame.length ? 2 + frame.readUInt16BE(at) : -1;
    case 0x26: {
      if (at + 2 > frame.length) return -1;
      const key = 2 + frame.readUInt16BE(at);
      return at + key + 2 <= frame.length ? key + 2 + frame.readUInt16BE(at + key) : -1;
    }
    case 0x0b: {
      const id = readVarint(frame, at);
      return id === undefined ? -1 : id.next - at;
    }
    default:
      return -1;
  }
}
