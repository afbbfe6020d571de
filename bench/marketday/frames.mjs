// The MQTT frames the market-day clients need beyond ../ticks/mqtt-wire.mjs: QoS 1 publish, PUBACK,
// and a reader that hands over every frame (topic and payload of publishes).
import { remainingLength, utf8 } from '../ticks/mqtt-wire.mjs';

export function qos1PublishFrame(topic, payload, messageId) {
  const t = Buffer.from(topic);
  const head = Buffer.alloc(4);
  head.writeUInt16BE(t.length, 0);
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  const body = Buffer.concat([head.subarray(0, 2), t, id, Buffer.from(payload)]);
  return Buffer.concat([Buffer.from([0x32]), remainingLength(body.length), body]);
}

/** MQTT 5: the property block (length 0) follows the packet id. */
export function qos1Publish5Frame(topic, payload, messageId) {
  const t = Buffer.from(topic);
  const head = Buffer.from([t.length >> 8, t.length & 0xff]);
  const id = Buffer.from([messageId >> 8, messageId & 0xff, 0]);
  const body = Buffer.concat([head, t, id, Buffer.from(payload)]);
  return Buffer.concat([Buffer.from([0x32]), remainingLength(body.length), body]);
}

/**
 * MQTT 5 CONNECT (clean start, session ending with the connection) accepting `topicAliasMaximum`
 * aliases, and asking for at most `maxTickRate` tick writes a second when given (user property).
 */
export function connect5Frame({ clientId, username, password, keepalive, topicAliasMaximum, maxTickRate }) {
  const properties = Buffer.concat([
    Buffer.from([0x22, topicAliasMaximum >> 8, topicAliasMaximum & 0xff]),
    ...(maxTickRate ? [Buffer.from([0x26]), utf8('max-tick-rate'), utf8(String(maxTickRate))] : []),
  ]);
  const body = Buffer.concat([
    utf8('MQTT'),
    Buffer.from([5, 0xc2, keepalive >> 8, keepalive & 0xff, properties.length]),
    properties,
    utf8(clientId),
    utf8(username),
    utf8(password),
  ]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

export function pubackFrame(messageId) {
  const f = Buffer.from([0x40, 0x02, 0, 0]);
  f.writeUInt16BE(messageId, 2);
  return f;
}

const TICKS = 'ticks/';
const TICKS_FIRST_BYTE = TICKS.charCodeAt(0);

/**
 * Splits an inbound stream into frames: `onPublish(topic, payload, qos, messageId)` for PUBLISH (the topic of
 * every tick is just `ticks/`),
 * `onOther(type, frame)` for the rest. Buffers are views: copy what is kept.
 */
export class FrameReader {
  /** `mqtt5`: publishes carry properties; a topic alias stands for the topic it was introduced with. */
  constructor(onPublish, onOther, mqtt5 = false) {
    this.onPublish = onPublish;
    this.onOther = onOther;
    this.carry = null;
    this.aliases = mqtt5 ? new Map() : null;
  }

  feed(chunk) {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    let at = 0;
    while (at < buf.length) {
      const end = frameEnd(buf, at);
      if (end < 0) {
        this.carry = Buffer.from(buf.subarray(at));
        return;
      }
      this.dispatch(buf, at, end);
      at = end;
    }
  }

  dispatch(buf, at, end) {
    const type = buf[at] >> 4;
    if (type !== 3) return this.onOther(type, buf.subarray(at, end));
    let i = at + 1;
    while (buf[i] & 0x80) i++;
    i++;
    const topicLength = buf.readUInt16BE(i);
    // Ticks are most of the traffic: their topic is never decoded (one string each would cost the load more than the broker).
    let topic = topicLength === 0 ? '' : buf[i + 2] === TICKS_FIRST_BYTE ? TICKS : buf.toString('latin1', i + 2, i + 2 + topicLength);
    const qos = (buf[at] >> 1) & 3;
    let p = i + 2 + topicLength;
    const messageId = qos > 0 ? buf.readUInt16BE(p) : 0;
    if (qos > 0) p += 2;
    if (this.aliases) [topic, p] = this.readProperties(buf, p, topic);
    this.onPublish(topic, buf.subarray(p, end), qos, messageId);
  }

  /** MQTT 5: skips the property block, resolving a Topic Alias (ticktalk sends it as the only property). */
  readProperties(buf, p, topic) {
    const length = buf[p];
    if (length === 3 && buf[p + 1] === 0x23) {
      const alias = buf.readUInt16BE(p + 2);
      if (topic === '') topic = this.aliases.get(alias) ?? '';
      else this.aliases.set(alias, topic);
    }
    // Property blocks here stay under 128 bytes: one length byte.
    return [topic, p + 1 + length];
  }
}

/** Where the frame starting at `at` ends, or -1 when it is not all here yet. */
function frameEnd(buf, at) {
  let i = at + 1;
  let remaining = 0;
  let mul = 1;
  while (i < buf.length && i < at + 5) {
    const b = buf[i++];
    remaining += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return i + remaining <= buf.length ? i + remaining : -1;
  }
  return -1;
}

/** SUBSCRIBE with a QoS per filter: `[[filter, qos], …]` (MQTT 5: an empty property block after the id). */
export function subscribeFrame(messageId, filters, mqtt5 = false) {
  const parts = [Buffer.from(mqtt5 ? [messageId >> 8, messageId & 0xff, 0] : [messageId >> 8, messageId & 0xff])];
  for (const [filter, qos] of filters) {
    const f = Buffer.from(filter);
    parts.push(Buffer.from([f.length >> 8, f.length & 0xff]), f, Buffer.from([qos]));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x82]), remainingLength(body.length), body]);
}
