// Minimal MQTT 3.1.1 framing for the load generator: it must be cheaper than the brokers it drives.

export function remainingLength(n) {
  const out = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** An MQTT UTF-8 string: two length bytes, then the bytes. */
export function utf8(s) {
  const b = Buffer.from(s);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

export function connectFrame({ clientId, username, password, keepalive = 60 }) {
  let flags = 0x02; // clean session
  const payload = [utf8(clientId)];
  if (username !== undefined) {
    flags |= 0x80;
    payload.push(utf8(username));
  }
  if (password !== undefined) {
    flags |= 0x40;
    payload.push(utf8(password));
  }
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(keepalive);
  const body = Buffer.concat([utf8('MQTT'), Buffer.from([4, flags]), ka, ...payload]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

export function subscribeFrame(messageId, filters) {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  const body = Buffer.concat([id, ...filters.map((f) => Buffer.concat([utf8(f), Buffer.from([0])]))]);
  return Buffer.concat([Buffer.from([0x82]), remainingLength(body.length), body]);
}

export function publishFrame(topic, payload) {
  const body = Buffer.concat([utf8(topic), Buffer.from(payload)]);
  return Buffer.concat([Buffer.from([0x30]), remainingLength(body.length), body]);
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);

const VOLUME_KEY = Buffer.from('"volume":');

/** The integer after `"volume":` in buf[from, end), or -1 without one. */
function stampIn(buf, from, end) {
  const k = buf.indexOf(VOLUME_KEY, from);
  if (k === -1 || k >= end) return -1;
  let v = 0;
  for (let p = k + VOLUME_KEY.length; p < end; p++) {
    const c = buf[p];
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  return v;
}

/**
 * Splits an inbound byte stream into frames. Counts PUBLISH frames; with `onStamp` it also reads the
 * integer after `"volume":` in each payload (the load generator's send time, in microseconds).
 */
export class FrameReader {
  constructor({ onStamp, onOther } = {}) {
    this.publishes = 0;
    this.onStamp = onStamp;
    this.onOther = onOther;
    this.carry = null;
  }

  feed(chunk) {
    let buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    let at = 0;
    const len = buf.length;
    while (at < len) {
      let i = at + 1;
      let remaining = 0;
      let mul = 1;
      let complete = false;
      while (i < len && i < at + 5) {
        const b = buf[i++];
        remaining += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || i + remaining > len) {
        this.carry = Buffer.from(buf.subarray(at));
        return;
      }
      const type = buf[at] >> 4;
      const end = i + remaining;
      if (type === 3) {
        this.publishes++;
        if (this.onStamp) {
          const stamp = stampIn(buf, i, end);
          if (stamp !== -1) this.onStamp(stamp);
        }
      } else if (this.onOther) {
        this.onOther(type, buf.subarray(at, end));
      }
      at = end;
    }
  }
}
