import { CONNECT_TYPE, PUBACK_FIRST_BYTE, PUBLISH_TYPE, publishQos, publishTopicStartsWith } from './mqtt-frame.js';

export interface SplitterSink<K extends string> {
  /** Bytes for Aedes, in wire order. Often a view into the chunk being fed. */
  passthrough(bytes: Buffer): void;
  /** A complete PUBLISH frame a capture rule matched, or a PUBACK. A view: valid during the call only. */
  captured(frame: Buffer, kind: K): void;
}

/** Which publishes a released connection has taken off the wire instead of passed to Aedes. */
export interface CaptureRule<K extends string> {
  kind: K;
  /** ASCII topic prefix, e.g. `ticks/`. */
  prefix: string;
  /** QoS levels taken (QoS 2 never is: its handshake stays with Aedes). */
  qos: readonly (0 | 1)[];
  /** Largest frame taken; anything bigger goes to Aedes (and its packet-size guard). */
  maxFrame: number;
}

interface CompiledRule<K extends string> {
  kind: K;
  prefix: Buffer;
  qosMask: number;
  maxFrame: number;
}

export class HeldBytesOverflowError extends Error {
  constructor(limit: number) {
    super(`more than ${limit} bytes arrived before CONNECT was decided`);
    this.name = 'HeldBytesOverflowError';
  }
}

export interface SplitterOptions {
  /** Bytes held between CONNECT and its decision (the socket is paused meanwhile). */
  maxHeldBytes: number;
}

type Mode = 'awaiting-connect' | 'held' | 'scan' | 'open';

/**
 * Splits one connection's inbound byte stream into what Aedes must parse and what the wire layer
 * takes (pure state machine). Until the client is authenticated it passes the CONNECT to Aedes and
 * holds what follows; `release(rules)` then makes it capture the publishes the rules describe from
 * that point on, and `release([])` makes it a plain pass-through (no scanning cost).
 * Only fixed headers are read; bodies of frames for Aedes are never copied.
 */
export class FrameSplitter<K extends string> {
  private mode: Mode = 'awaiting-connect';
  private held: Buffer[] = [];
  private heldBytes = 0;
  private rules: CompiledRule<K>[] = [];
  /** Kind reported for PUBACK frames, when they are taken too. */
  private ackKind: K | undefined;
  /** Largest frame any rule takes, and the QoS levels any rule takes (bit per level). */
  private captureLimit = 0;
  private qosMask = 0;
  /** Fixed header of the frame being read; `carried` of its bytes came in earlier chunks. */
  private readonly header = Buffer.alloc(5);
  private headerLength = 0;
  private carried = 0;
  private passRemaining = 0;
  private passingConnect = false;
  /**
   * A captured frame arriving over several reads: copies of the bytes received so far. Memory
   * follows what the peer actually sent, not the length its header claims.
   */
  private assembly: { parts: Buffer[]; total: number; received: number } | null = null;
  /** While a chunk is fed: the position read up to, and where the bytes not yet handed to Aedes start. */
  private at = 0;
  private passFrom = 0;

  constructor(
    private readonly sink: SplitterSink<K>,
    private readonly opts: SplitterOptions,
  ) {}

  get isHolding(): boolean {
    return this.mode === 'held';
  }

  /**
   * The CONNECT was decided: capture what the rules describe, and PUBACKs as `ackKind` when given
   * (nothing to capture: pass everything through).
   */
  release(rules: readonly CaptureRule<K>[], ackKind?: K): void {
    if (this.mode !== 'held' && this.mode !== 'awaiting-connect') return;
    this.rules = rules.map((r) => ({
      kind: r.kind,
      prefix: Buffer.from(r.prefix),
      qosMask: r.qos.reduce<number>((mask, q) => mask | (1 << q), 0),
      maxFrame: r.maxFrame,
    }));
    this.captureLimit = Math.max(0, ...rules.map((r) => r.maxFrame));
    this.qosMask = this.rules.reduce((mask, r) => mask | r.qosMask, 0);
    this.ackKind = ackKind;
    this.mode = this.rules.length > 0 || ackKind !== undefined ? 'scan' : 'open';
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const chunk of held) this.feed(chunk);
  }

  feed(chunk: Buffer): void {
    if (this.mode === 'held') return this.hold(chunk);
    if (this.mode === 'open' && this.headerLength === 0 && this.passRemaining === 0 && this.assembly === null) {
      this.sink.passthrough(chunk);
      return;
    }
    this.at = 0;
    this.passFrom = 0;
    while (this.at < chunk.length) {
      const stop = this.passRemaining > 0 ? this.skipPassed(chunk) : this.assembly !== null ? this.assemble(chunk) : this.readHeaderByte(chunk);
      if (stop) return;
    }
    if (this.headerLength > 0) {
      // Mid-header: keep it back until we know whether the frame is ours.
      this.flushPass(chunk, chunk.length - (this.headerLength - this.carried));
      this.carried = this.headerLength;
    } else {
      this.flushPass(chunk, chunk.length);
    }
  }

  /** Body bytes of a frame for Aedes. Like every step of feed: true when the rest of the chunk is dealt with. */
  private skipPassed(chunk: Buffer): boolean {
    const n = Math.min(this.passRemaining, chunk.length - this.at);
    this.passRemaining -= n;
    this.at += n;
    return this.passRemaining === 0 && this.holdAfterFrame(chunk);
  }

  /** Bytes of a captured frame that arrives over several reads. */
  private assemble(chunk: Buffer): boolean {
    const assembly = this.assembly!;
    const n = Math.min(assembly.total - assembly.received, chunk.length - this.at);
    assembly.parts.push(Buffer.from(chunk.subarray(this.at, this.at + n)));
    assembly.received += n;
    this.at += n;
    this.passFrom = this.at;
    if (assembly.received === assembly.total) {
      const frame = Buffer.concat(assembly.parts, assembly.total);
      this.assembly = null;
      this.finishCapture(frame);
    }
    return false;
  }

  private readHeaderByte(chunk: Buffer): boolean {
    const byte = chunk[this.at++];
    this.header[this.headerLength++] = byte;
    if (this.headerLength === 1) return false;
    if (byte & 0x80) {
      if (this.headerLength < 5) return false;
      // A malformed length: stop interpreting and let Aedes' parser refuse the connection.
      this.unparseable(chunk, this.passFrom);
      return true;
    }
    return this.onFixedHeader(chunk);
  }

  /** A whole fixed header is read: the frame is passed to Aedes or captured. */
  private onFixedHeader(chunk: Buffer): boolean {
    const headerLength = this.headerLength;
    const carried = this.carried;
    let remaining = 0;
    for (let k = headerLength - 1; k >= 1; k--) remaining = remaining * 128 + (this.header[k] & 0x7f);
    const first = this.header[0];
    const total = headerLength + remaining;
    this.headerLength = 0;
    this.carried = 0;
    if (!this.takes(first, remaining, total)) return this.passFrame(chunk, first, remaining, carried);
    const frameStart = this.at - (headerLength - carried);
    this.flushPass(chunk, frameStart);
    if (carried === 0 && frameStart + total <= chunk.length) {
      this.at = frameStart + total;
      this.passFrom = this.at;
      this.finishCapture(chunk.subarray(frameStart, this.at));
      return false;
    }
    this.assembly = { parts: [Buffer.from(this.header.subarray(0, headerLength))], total, received: headerLength };
    this.passFrom = this.at;
    return false;
  }

  private takes(first: number, remaining: number, total: number): boolean {
    return (
      this.mode === 'scan' &&
      ((first >> 4 === PUBLISH_TYPE && (this.qosMask & (1 << publishQos(first))) !== 0 && total <= this.captureLimit) ||
        (first === PUBACK_FIRST_BYTE && remaining === 2 && this.ackKind !== undefined))
    );
  }

  private passFrame(chunk: Buffer, first: number, remaining: number, carried: number): boolean {
    // Header bytes from earlier chunks were held back; this chunk's part is in the pass range.
    if (carried > 0) this.sink.passthrough(Buffer.from(this.header.subarray(0, carried)));
    this.passingConnect = first >> 4 === CONNECT_TYPE;
    this.passRemaining = remaining;
    return remaining === 0 && this.holdAfterFrame(chunk);
  }

  /** After a frame for Aedes: once the CONNECT went through, the rest of the chunk is held. */
  private holdAfterFrame(chunk: Buffer): boolean {
    if (!this.frameDone()) return false;
    this.flushPass(chunk, this.at);
    if (this.at < chunk.length) this.hold(chunk.subarray(this.at));
    return true;
  }

  /** Hands Aedes the bytes of the chunk from the last pass point up to `end`. */
  private flushPass(chunk: Buffer, end: number): void {
    if (end > this.passFrom) this.sink.passthrough(chunk.subarray(this.passFrom, end));
    this.passFrom = end;
  }

  /** Returns true when the splitter now holds input (the CONNECT just went through). */
  private frameDone(): boolean {
    if (this.passingConnect && this.mode === 'awaiting-connect') {
      this.passingConnect = false;
      this.mode = 'held';
      return true;
    }
    return false;
  }

  private finishCapture(frame: Buffer): void {
    if (frame[0] === PUBACK_FIRST_BYTE) {
      this.sink.captured(frame, this.ackKind!);
      return;
    }
    const qosBit = 1 << publishQos(frame[0]);
    for (const rule of this.rules) {
      if ((rule.qosMask & qosBit) !== 0 && frame.length <= rule.maxFrame && publishTopicStartsWith(frame, rule.prefix)) {
        this.sink.captured(frame, rule.kind);
        return;
      }
    }
    this.sink.passthrough(frame);
  }

  private unparseable(chunk: Buffer, passFrom: number): void {
    this.mode = 'open';
    if (this.carried > 0) this.sink.passthrough(Buffer.from(this.header.subarray(0, this.carried)));
    this.headerLength = 0;
    this.carried = 0;
    this.sink.passthrough(chunk.subarray(passFrom));
  }

  private hold(chunk: Buffer): void {
    this.heldBytes += chunk.length;
    if (this.heldBytes > this.opts.maxHeldBytes) throw new HeldBytesOverflowError(this.opts.maxHeldBytes);
    this.held.push(chunk);
  }
}
