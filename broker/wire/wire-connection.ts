import { Duplex } from 'node:stream';
import { clientInternals, type Client } from '../aedes/internals.js';
import { FrameSplitter, type CaptureRule, type SplitterOptions } from './frame-splitter.js';
import { pubackFrame, publishQos } from './mqtt-frame.js';
import { OrderedAcks } from './ordered-acks.js';
import { SubscriberWriter, type WriterLimits, type WriterStats } from './subscriber-writer.js';
import { DELIVERY_WITHHELD, PACKET_SINK, type OutboundPacket } from '../aedes/packet-sink.js';
import { DeliveryWindow } from '../mqtt5/delivery-window.js';
import { Mqtt5Encoder, type EncoderStats } from '../mqtt5/encoder.js';
import type { Mqtt5Session, Refusal } from '../mqtt5/session.js';

/** What the wire layer takes off a connection's wire: a feed's ticks, chat (extension) QoS 1 publishes, PUBACKs. */
export type CapturedKind = 'tick' | 'chat' | 'puback';

/** What a connection needs from the wire layer that owns it. */
export interface ConnectionHost {
  /** A publish or PUBACK taken off the wire (a view into the read buffer: copy anything kept). */
  onCapturedFrame(conn: WireConnection, frame: Buffer, kind: CapturedKind): void;
  /** The writer has something queued: flush it at the end of this turn. */
  /** `holdsAcks`: the writer has PUBACKs queued, which leave ahead of other writes in the turn. */
  markDirty(writer: SubscriberWriter, holdsAcks?: boolean): void;
  onClosed(conn: WireConnection): void;
  onSlowConsumer(conn: WireConnection): void;
}

export interface ConnectionOptions {
  splitter: SplitterOptions;
  writer: WriterLimits;
  stats: WriterStats;
  /** The writer's ticks wait for the client's maximum tick rate (see SubscriberWriter.limitTickRate). */
  onTicksHeld?: (writer: SubscriberWriter) => void;
}

/**
 * Packets taken off the wire and still being handled (publishes awaiting their ack, PUBACKs being
 * cleared), per connection, before it stops reading (TCP then holds the sender back). Aedes bounded
 * this itself by parsing one read at a time; a client pipelining packets faster than they are
 * handled would otherwise grow the broker's memory without bound.
 */
const MAX_PENDING = 1024;

/** After an orderly close, how long a peer gets to read our last bytes before the socket goes. */
const LINGER_MS = 2_000;

/**
 * The stream Aedes sees in place of the client's transport. Inbound, it forwards every frame except
 * the publishes the wire layer takes; outbound, whatever Aedes writes joins the same per-client
 * writer as the ticks, so Aedes never waits on a slow client (its write always completes at once)
 * and a frozen client can never hold a slot other clients need.
 */
export class WireConnection extends Duplex {
  readonly writer: SubscriberWriter;
  /** PUBACKs for the publishes the wire layer took, in arrival order. */
  readonly acks: OrderedAcks;
  private readonly splitter: FrameSplitter<CapturedKind>;
  private readPaused = false;
  private backlogPaused = false;
  /** Captured packets handed off whose handling has not finished (besides publishes awaiting acks). */
  private tracked = 0;
  private capturedSeen = false;
  /** Set by Aedes (`conn.client = this`). */
  declare client?: Client;
  /** The connection speaks MQTT 5 (set at its CONNECT): its session and the encoder of what leaves. */
  mqtt5: { session: Mqtt5Session; encoder: Mqtt5Encoder; window: DeliveryWindow } | undefined;
  [PACKET_SINK]?: (packet: OutboundPacket) => boolean;
  [DELIVERY_WITHHELD]?: (messageId: number) => void;

  constructor(
    readonly transport: Duplex,
    private readonly host: ConnectionHost,
    opts: ConnectionOptions,
  ) {
    // The writable side never applies backpressure to Aedes: the writer enforces the bound instead.
    super({ writableHighWaterMark: opts.writer.maxQueuedBytes + 1, allowHalfOpen: false });
    this.writer = new SubscriberWriter(transport, opts.writer, opts.stats, () => host.onSlowConsumer(this));
    this.writer.onTicksHeld = opts.onTicksHeld;
    this.acks = new OrderedAcks((messageId, refusal) => {
      this.mqtt5?.session.publishAnswered();
      // A refusal changes only an MQTT 5 PUBACK (3.1.1 has no place for it); success is the same 4 bytes in both.
      const mqtt5Ack = refusal && this.mqtt5?.encoder.puback(messageId, refusal);
      this.writer.addControl(mqtt5Ack || pubackFrame(messageId));
      host.markDirty(this.writer, true);
      this.resumeIfDrained();
    });
    this.splitter = new FrameSplitter<CapturedKind>(
      {
        passthrough: (bytes) => {
          if (!this.push(bytes)) this.readPaused = true;
        },
        captured: (frame, kind) => {
          this.capturedSeen = true;
          if (this.overReceiveMaximum(frame, kind)) return;
          host.onCapturedFrame(this, frame, kind);
        },
      },
      opts.splitter,
    );
    transport.on('data', (chunk: Buffer) => this.onData(chunk));
    transport.on('end', () => this.push(null));
    transport.on('error', (err) => this.destroy(err));
    transport.on('close', () => this.destroy());
  }

  /** The client's CONNECT is decided: take the publishes the rules describe, and PUBACKs when asked, from now on. */
  release(rules: readonly CaptureRule<CapturedKind>[], takeAcks: boolean): void {
    this.splitter.release(rules, takeAcks ? 'puback' : undefined);
    this.updateFlow();
  }

  /**
   * The client's CONNECT is MQTT 5: whatever Aedes writes arrives here as packets and leaves
   * encoded as MQTT 5, and the wire layer's tick frames are re-encoded as they are written.
   */
  useMqtt5(session: Mqtt5Session, stats: EncoderStats): void {
    const encoder = new Mqtt5Encoder(session, stats);
    const send = (packet: OutboundPacket): boolean => {
      const bytes = encoder.encode(packet);
      if (bytes) this.write(bytes);
      return bytes !== null;
    };
    const window = new DeliveryWindow(
      session.peer.receiveMaximum,
      session.server.maxQueuedMessages,
      send,
      (packet) => this[DELIVERY_WITHHELD]?.((packet as { messageId: number }).messageId),
      () => stats.withheld('queue_full'),
    );
    this.mqtt5 = { session, encoder, window };
    this.writer.encodeTicks = (batch) => encoder.tickFrames(batch);
    this[PACKET_SINK] = (packet) => {
      window.offer(packet);
      return true;
    };
  }

  /** An MQTT 5 client acknowledged a QoS 1/2 delivery: its Receive Maximum has room for the next. */
  deliveryAcknowledged(messageId: number): void {
    this.mqtt5?.window.acknowledged(messageId);
  }

  /** An MQTT 5 client's QoS 1/2 publish taken off the wire counts against the server's Receive Maximum. */
  private overReceiveMaximum(frame: Buffer, kind: CapturedKind): boolean {
    if (!this.mqtt5 || kind === 'puback' || publishQos(frame[0]) === 0) return false;
    const violation = this.mqtt5.session.publishReceived();
    if (violation) this.disconnect(violation);
    return violation !== undefined;
  }

  /**
   * Ends the connection for `refusal`: an MQTT 5 client first gets a DISCONNECT with its reason
   * code and string (MQTT 5 §3.14); an MQTT 3.1.1 client has no such packet and is just closed.
   */
  disconnect(refusal: Refusal): void {
    if (this.destroyed) return;
    const bytes = this.disconnectFrame(refusal);
    if (bytes) this.write(bytes);
    this.destroy();
  }

  /**
   * Ends a connection whose client stopped reading (queued output over the bound): what is queued is
   * dropped (3.1.1: the connection is destroyed with `err`, as before); an MQTT 5 client's
   * DISCONNECT goes straight to the transport, behind what the transport already holds.
   */
  dropSlowConsumer(refusal: Refusal, err: Error): void {
    if (this.destroyed) return;
    const bytes = this.disconnectFrame(refusal);
    if (!bytes) return void this.destroy(err);
    this.writer.close();
    this.transport.write(bytes);
    this.destroy();
  }

  private disconnectFrame(refusal: Refusal): Buffer | null | undefined {
    const packet = { cmd: 'disconnect', reasonCode: refusal.reasonCode, properties: { reasonString: refusal.reason } } as const;
    return this.mqtt5?.encoder.encode(packet);
  }

  /** Counts one handed-off packet against this connection's backlog bound; call the result when it is handled. */
  beginWork(): () => void {
    this.tracked++;
    return () => {
      this.tracked--;
      this.resumeIfDrained();
    };
  }

  /** Reading resumes once half of the backlog bound is handled (see updateFlow). */
  private resumeIfDrained(): void {
    if (this.backlogPaused && this.pending <= MAX_PENDING / 2) this.updateFlow();
  }

  private get pending(): number {
    return this.acks.pending + this.tracked;
  }

  override _read(): void {
    this.readPaused = false;
    this.updateFlow();
  }

  /**
   * Aedes writes every packet as several small buffers, corked until the next tick. They go straight
   * to the writer (the one queue, which never refuses), skipping the Writable stream's buffering,
   * corking and callbacks per piece, which cost more than the bytes.
   */
  override write(chunk: Buffer | string, encoding?: BufferEncoding | ((err?: Error | null) => void), done?: (err?: Error | null) => void): boolean {
    const callback = typeof encoding === 'function' ? encoding : done;
    if (this.destroyed || this.writableEnded) {
      if (callback) process.nextTick(callback, new Error('write after the connection closed'));
      return false;
    }
    this.writer.addControl(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk);
    this.host.markDirty(this.writer);
    if (callback) process.nextTick(callback);
    return true;
  }

  /** Nothing to hold back: write() hands every piece to the writer, which sends once per turn anyway. */
  override cork(): void {}

  override uncork(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.writer.addControl(chunk);
    this.host.markDirty(this.writer);
    done();
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    for (const { chunk } of chunks) this.writer.addControl(chunk);
    this.host.markDirty(this.writer);
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.writer.flush();
    this.transport.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.host.onClosed(this);
    if (err || this.transport.destroyed) {
      this.writer.close();
      this.transport.destroy();
    } else {
      // Aedes destroys right after writing e.g. a refusing CONNACK: let those bytes out first.
      this.writer.flush();
      this.writer.close();
      this.transport.end();
      setTimeout(() => this.transport.destroy(), LINGER_MS).unref();
    }
    done(err);
  }

  private onData(chunk: Buffer): void {
    try {
      this.splitter.feed(chunk);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (this.capturedSeen) {
      // Aedes never sees these packets, so keep its keepalive timer honest ourselves.
      this.capturedSeen = false;
      if (this.client) clientInternals(this.client)._keepaliveTimer?.refresh();
    }
    this.updateFlow();
  }

  private updateFlow(): void {
    if (this.destroyed) return;
    // Paused at the bound, resumed once half of it is handled.
    this.backlogPaused = this.pending >= (this.backlogPaused ? MAX_PENDING / 2 : MAX_PENDING);
    if (this.readPaused || this.backlogPaused || this.splitter.isHolding) this.transport.pause();
    else this.transport.resume();
  }
}
