import type { Writable } from 'node:stream';
import { OutboundQueue } from './outbound-queue.js';

export interface WriterLimits {
  /** Bytes the transport may buffer before the subscriber counts as backed up (ticks conflate). */
  backlogBytes: number;
  /**
   * Bytes that may wait behind a backed-up transport before it is cut off: control bytes (chat,
   * acks) are never dropped, and even conflated ticks add up when a feed has very many symbols.
   */
  maxQueuedBytes: number;
}

export interface WriterStats {
  /** Tick frames handed to subscribers, conflated ones included. */
  routed: number;
  /** Tick frames replaced by a newer one while the subscriber was backed up. */
  conflated: number;
  /** Tick frames replaced by a newer one while held to the client's own maximum tick rate. */
  rateConflated: number;
}

/** Up to this many queued bytes are copied into one buffer rather than written as a vector. */
const COALESCE_BYTES = 64 * 1024;

/**
 * The only thing that writes to a client's transport. Everything queued in one turn of the event
 * loop leaves in one write (or one corked writev), which is what makes fan-out cheap; a transport
 * that stops draining never makes anyone wait: its ticks conflate, and once what waits for it
 * passes the limit it is disconnected (`onOverflow`).
 */
export class SubscriberWriter {
  private readonly queue = new OutboundQueue();
  private backedUp = false;
  private closed = false;
  /** The least time between two writes carrying ticks (ms): the client's own maximum tick rate; 0: none. */
  private tickIntervalMs = 0;
  private lastTickWriteAt = -Infinity;
  /** Told when ticks stay queued because the client's maximum tick rate holds them (see ticksDueAt). */
  onTicksHeld: ((writer: SubscriberWriter) => void) | undefined;
  /** Set for an MQTT 5 client: its tick frames re-encoded as they are written (aliases stay in wire order). */
  encodeTicks: ((batch: Buffer) => Buffer) | undefined;
  private readonly onDrain = () => {
    this.backedUp = false;
    this.flush();
  };

  constructor(
    private readonly sink: Writable,
    private readonly limits: WriterLimits,
    private readonly stats: WriterStats,
    private readonly onOverflow: () => void,
  ) {}

  get isBackedUp(): boolean {
    return this.backedUp;
  }

  get queuedBytes(): number {
    return this.queue.bytes;
  }

  /**
   * At most `perSecond` writes carrying ticks (each with the latest of every symbol that changed);
   * undefined: as often as the write window allows (Lightstreamer's max frequency, per connection).
   */
  limitTickRate(perSecond: number | undefined): void {
    this.tickIntervalMs = perSecond ? 1000 / perSecond : 0;
  }

  /** When ticks held by the maximum tick rate may be written (performance.now() ms); undefined when none are held. */
  get ticksDueAt(): number | undefined {
    return this.tickIntervalMs > 0 && this.queue.hasTicks ? this.lastTickWriteAt + this.tickIntervalMs : undefined;
  }

  offerTicks(topic: string, batch: Buffer, latest: Buffer, frames: number): void {
    if (this.closed) return;
    this.stats.routed += frames;
    // A rate-limited client keeps only the latest tick per symbol until its next write, as a backed-up one does.
    const conflated = this.queue.addTicks(topic, batch, latest, frames, this.backedUp || this.tickIntervalMs > 0);
    if (this.backedUp) this.stats.conflated += conflated;
    else this.stats.rateConflated += conflated;
    this.checkBound();
  }

  addControl(bytes: Buffer): void {
    if (this.closed) return;
    this.queue.addControl(bytes);
    this.checkBound();
  }

  /** Only a backed-up client is held to the bound: a reading one gets the whole turn in one write. */
  private checkBound(): void {
    if (this.backedUp && this.queue.bytes > this.limits.maxQueuedBytes) this.onOverflow();
  }

  /**
   * Write what is queued unless the transport is backed up (then 'drain' flushes). Ticks the
   * client's maximum tick rate holds stay queued (onTicksHeld); control bytes never wait for them.
   */
  flush(): void {
    if (this.closed || this.backedUp || this.queue.isEmpty) return;
    if (this.sink.destroyed || !this.sink.writable) return;
    const holdTicks = this.ticksHeld();
    if (holdTicks && !this.queue.hasControl) return;
    const queued = this.queue.bytes;
    const parts = holdTicks ? this.queue.takeControl() : this.queue.take(this.encodeTicks);
    // What was queued is what leaves, unless ticks stay behind or are re-encoded (MQTT 5).
    const exact = !holdTicks && !this.encodeTicks;
    this.write(parts, exact ? queued : parts.reduce((sum, part) => sum + part.length, 0));
  }

  /** True when queued ticks must wait for the client's maximum tick rate (onTicksHeld is told); else their write is recorded. */
  private ticksHeld(): boolean {
    if (this.tickIntervalMs === 0 || !this.queue.hasTicks) return false;
    const now = performance.now();
    if (now - this.lastTickWriteAt < this.tickIntervalMs) {
      this.onTicksHeld?.(this);
      return true;
    }
    this.lastTickWriteAt = now;
    return false;
  }

  private write(parts: Buffer[], bytes: number): void {
    if (parts.length === 1) {
      this.sink.write(parts[0]);
    } else if (bytes <= COALESCE_BYTES) {
      // Aedes writes each packet in pieces (header, topic, payload): handing the socket hundreds of
      // small buffers cost more in stream bookkeeping than copying them into one.
      this.sink.write(Buffer.concat(parts, bytes));
    } else {
      this.sink.cork();
      for (const part of parts) this.sink.write(part);
      this.sink.uncork();
    }
    // needDrain guarantees a 'drain' will come to end the backed-up state.
    if (this.sink.writableLength >= this.limits.backlogBytes && this.sink.writableNeedDrain) {
      this.backedUp = true;
      this.sink.once('drain', this.onDrain);
    }
  }

  /** Stop writing; what is still queued is dropped. */
  close(): void {
    this.closed = true;
    this.queue.take();
    this.sink.off('drain', this.onDrain);
  }
}
