/**
 * The few MQTT 3.1.1 wire details the wire layer needs (pure). Tick frames are built once per tick
 * and the same bytes go to every subscriber.
 */

export const PUBLISH_TYPE = 3;
export const CONNECT_TYPE = 1;
/** PUBACK's fixed-header byte (type 4, no flags); its remaining length is always 2. */
export const PUBACK_FIRST_BYTE = 0x40;
const RETAIN_BIT = 0x01;
const DUP_BIT = 0x08;

/** Bytes of the remaining-length varint for `n`. */
export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}

/** A QoS 0 PUBLISH frame for `topic` carrying `payload`. */
export function publishFrame(topic: string, payload: string | Buffer, retain: boolean): Buffer {
  return qosPublishFrame(topic, payload, 0, retain, false, 0);
}

/** A PUBLISH frame; the packet id is written for QoS 1 and 2 only. */
export function qosPublishFrame(topic: string, payload: string | Buffer, qos: number, retain: boolean, dup: boolean, messageId: number): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const payloadLength = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const idLength = qos > 0 ? 2 : 0;
  const remaining = 2 + topicLength + idLength + payloadLength;
  const frame = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining);
  frame[0] = (PUBLISH_TYPE << 4) | (dup ? DUP_BIT : 0) | (qos << 1) | (retain ? RETAIN_BIT : 0);
  let at = writeRemainingLength(frame, remaining, 1);
  frame.writeUInt16BE(topicLength, at);
  at += 2;
  at += frame.write(topic, at, 'utf8');
  if (idLength > 0) at = frame.writeUInt16BE(messageId, at);
  if (typeof payload === 'string') frame.write(payload, at, 'utf8');
  else payload.copy(frame, at);
  return frame;
}

/** Writes `n` as the remaining-length varint at `at`; returns the position after it. */
export function writeRemainingLength(frame: Buffer, n: number, at: number): number {
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    frame[at++] = byte;
  } while (n > 0);
  return at;
}

/** Where a frame's variable header starts (after the fixed header), or -1 if the varint is bad. */
export function bodyOffset(frame: Buffer): number {
  for (let i = 1; i < 5 && i < frame.length; i++) {
    if ((frame[i] & 0x80) === 0) return i + 1;
  }
  return -1;
}

/** Total length of the complete frame at the start of `bytes`, or -1 when it is cut short. */
export function frameLength(bytes: Buffer): number {
  const body = bodyOffset(bytes);
  if (body < 0) return -1;
  let remaining = 0;
  for (let k = body - 1; k >= 1; k--) remaining = remaining * 128 + (bytes[k] & 0x7f);
  return body + remaining <= bytes.length ? body + remaining : -1;
}

export interface PublishView {
  topic: string;
  /** A view into the frame, not a copy. */
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  /** Present for QoS 1. */
  messageId?: number;
}

/** QoS of a PUBLISH frame's first byte (3 is malformed). */
export function publishQos(firstByte: number): number {
  return (firstByte & 0x06) >> 1;
}

/**
 * Topic, payload and QoS of a complete QoS 0 or 1 PUBLISH frame, or null when it is not one. An
 * MQTT 5 frame (`mqtt5`) has properties after the packet id: they are skipped, not read.
 */
export function readPublish(frame: Buffer, mqtt5 = false): PublishView | null {
  if (frame[0] >> 4 !== PUBLISH_TYPE) return null;
  const qos = publishQos(frame[0]);
  if (qos > 1) return null;
  const body = bodyOffset(frame);
  if (body < 0 || body + 2 > frame.length) return null;
  const topicEnd = body + 2 + frame.readUInt16BE(body);
  let payloadStart = topicEnd + (qos === 1 ? 2 : 0);
  if (mqtt5) payloadStart = skipProperties(frame, payloadStart);
  if (payloadStart < 0 || payloadStart > frame.length) return null;
  const topic = frame.toString('utf8', body + 2, topicEnd);
  const payload = frame.subarray(payloadStart);
  const retain = (frame[0] & RETAIN_BIT) !== 0;
  return qos === 1 ? { topic, payload, qos: 1, retain, messageId: frame.readUInt16BE(topicEnd) } : { topic, payload, qos: 0, retain };
}

/** Where an MQTT 5 property block starting at `at` ends, or -1 when its length is malformed. */
function skipProperties(frame: Buffer, at: number): number {
  const length = readVarint(frame, at);
  return length === undefined ? -1 : length.next + length.value;
}

/** The variable byte integer at `at` (MQTT 5 §1.5.5) and where the bytes after it start; undefined when malformed or cut short. */
export function readVarint(frame: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0, i = at; i < at + 4 && i < frame.length; i++, shift += 7) {
    value += (frame[i] & 0x7f) * 2 ** shift;
    if ((frame[i] & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

/** PUBACK for a QoS 1 publish. */
export function pubackFrame(messageId: number): Buffer {
  const frame = Buffer.from([0x40, 0x02, 0, 0]);
  frame.writeUInt16BE(messageId, 2);
  return frame;
}

/** True when the frame is a PUBLISH whose topic starts with `prefix` (ASCII), without decoding it. */
export function publishTopicStartsWith(frame: Buffer, prefix: Buffer): boolean {
  const body = bodyOffset(frame);
  if (body < 0 || body + 2 + prefix.length > frame.length) return false;
  if (frame.readUInt16BE(body) < prefix.length) return false;
  return frame.compare(prefix, 0, prefix.length, body + 2, body + 2 + prefix.length) === 0;
}
