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
  /** Tick frames replaced by a newer one before they were written. */
  conflated: number;
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

  offerTicks(topic: string, batch: Buffer, latest: Buffer, frames: number): void {
    if (this.closed) return;
    this.stats.routed += frames;
    this.stats.conflated += this.queue.addTicks(topic, batch, latest, frames, this.backedUp);
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

  /** Write what is queued unless the transport is backed up (then 'drain' flushes). */
  flush(): void {
    if (this.closed || this.backedUp || this.queue.isEmpty) return;
    if (this.sink.destroyed || !this.sink.writable) return;
    const queued = this.queue.bytes;
    const parts = this.queue.take(this.encodeTicks);
    const bytes = this.encodeTicks ? parts.reduce((sum, part) => sum + part.length, 0) : queued;
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
