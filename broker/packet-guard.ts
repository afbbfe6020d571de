import type { Duplex } from 'node:stream';

export class PacketTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`MQTT packet of ${size} bytes exceeds the ${limit}-byte limit`);
    this.name = 'PacketTooLargeError';
  }
}

/**
 * Incremental MQTT frame-boundary scanner: reads only fixed headers (type byte + remaining-length
 * varint) and skips bodies, so it can refuse an oversized or malformed length before a single body
 * byte is buffered. Pure state machine: feed it chunks, it throws on the first bad frame.
 */
export class FrameScanner {
  private skip = 0;
  private type = 0;
  private headerBytes = 0;
  private length = 0;
  private multiplier = 1;

  /** `mqtt5()`: the connection speaks MQTT 5, whose acks and DISCONNECT may carry a reason and properties, and which has AUTH. */
  constructor(
    private readonly maxPacket: number,
    private readonly mqtt5: () => boolean = () => false,
  ) {}

  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++];
      if (this.headerBytes === 0) {
        // Packet type 0 and 15 are reserved in MQTT 3.1.1.
        const type = byte >> 4;
        if (type === 0 || (type === 15 && !this.mqtt5())) throw new Error(`malformed packet: reserved type ${type}`);
        checkFlags(type, byte & 0x0f);
        this.type = type;
        this.headerBytes = 1;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.headerBytes++;
      if (this.headerBytes > 5) throw new Error('malformed packet: remaining length over 4 bytes');
      if (byte & 0x80) continue;
      const total = this.headerBytes + this.length;
      if (total > this.maxPacket) throw new PacketTooLargeError(total, this.maxPacket);
      if (!this.mqtt5()) checkLength(this.type, this.length);
      else if ((this.type === 8 || this.type === 10) && this.length <= 3)
        throw new Error('malformed packet: SUBSCRIBE/UNSUBSCRIBE without a topic filter');
      this.skip = this.length;
      this.headerBytes = 0;
    }
  }
}

/** MQTT-2.2.2-1/2: fixed-header flags are fixed for every type but PUBLISH (whose QoS 3 is MQTT-3.3.1-4). */
function checkFlags(type: number, flags: number): void {
  if (type === 3) {
    if ((flags & 0x06) === 0x06) throw new Error('malformed packet: PUBLISH with QoS 3');
    return;
  }
  const expected = type === 6 || type === 8 || type === 10 ? 0x02 : 0x00;
  if (flags !== expected) throw new Error(`malformed packet: type ${type} with flags ${flags}`);
}

/**
 * Lengths fixed by the spec: PINGREQ/PINGRESP/DISCONNECT carry nothing; acks carry a packet id;
 * SUBSCRIBE and UNSUBSCRIBE need at least one topic filter (MQTT-3.8.3-3, MQTT-3.10.3-2).
 */
function checkLength(type: number, length: number): void {
  if ((type === 12 || type === 13 || type === 14) && length !== 0) throw new Error(`malformed packet: type ${type} with a body`);
  if (type >= 4 && type <= 7 && length !== 2) throw new Error(`malformed packet: ack of ${length} bytes`);
  if ((type === 8 || type === 10) && length <= 2) throw new Error('malformed packet: SUBSCRIBE/UNSUBSCRIBE without a topic filter');
}

/**
 * Watches a connection's inbound bytes without sitting in the data path: with Aedes reading in
 * 'readable' mode, a 'data' listener sees each chunk as Aedes reads it, before it is parsed.
 * A bad frame destroys the connection (that client only).
 */
export function guardPackets(conn: Duplex, maxPacket: number, onViolation: (err: Error) => void, mqtt5?: () => boolean): void {
  const scanner = new FrameScanner(maxPacket, mqtt5);
  conn.on('data', (chunk: Buffer) => {
    try {
      scanner.feed(chunk);
    } catch (err) {
      onViolation(err as Error);
      conn.destroy();
    }
  });
}
