import { Duplex } from 'node:stream';
import { FrameSplitter, type SplitterOptions } from './frame-splitter.js';
import { SubscriberWriter, type WriterLimits, type WriterStats } from './subscriber-writer.js';

/** What a connection needs from the fast path that owns it. */
export interface ConnectionHost {
  /** A tick publish taken off the wire (a view into the read buffer: copy anything kept). */
  onTickFrame(conn: FastPathConnection, frame: Buffer): void;
  /** The writer has something queued: flush it at the end of this turn. */
  markDirty(writer: SubscriberWriter): void;
  onClosed(conn: FastPathConnection): void;
  onSlowConsumer(conn: FastPathConnection): void;
}

export interface ConnectionOptions {
  splitter: SplitterOptions;
  writer: WriterLimits;
  stats: WriterStats;
}

/** After an orderly close, how long a peer gets to read our last bytes before the socket goes. */
const LINGER_MS = 2_000;

/** The parts of Aedes' client object the connection touches. */
interface AedesClientLike {
  id?: string;
  _keepaliveTimer?: { refresh(): void } | null;
}

/**
 * The stream Aedes sees in place of the client's transport. Inbound, it forwards every frame except
 * the tick publishes the fast path takes; outbound, whatever Aedes writes joins the same per-client
 * writer as the ticks, so Aedes never waits on a slow client (its write always completes at once)
 * and a frozen client can never hold a slot other clients need.
 */
export class FastPathConnection extends Duplex {
  readonly writer: SubscriberWriter;
  private readonly splitter: FrameSplitter;
  private readPaused = false;
  private tickSeen = false;
  /** Set by Aedes (`conn.client = this`). */
  declare client?: AedesClientLike;

  constructor(
    readonly transport: Duplex,
    private readonly host: ConnectionHost,
    opts: ConnectionOptions,
  ) {
    // The writable side never applies backpressure to Aedes: the writer enforces the bound instead.
    super({ writableHighWaterMark: opts.writer.maxQueuedBytes + 1, allowHalfOpen: false });
    this.writer = new SubscriberWriter(transport, opts.writer, opts.stats, () => host.onSlowConsumer(this));
    this.splitter = new FrameSplitter(
      {
        passthrough: (bytes) => {
          if (!this.push(bytes)) this.readPaused = true;
        },
        captured: (frame) => {
          this.tickSeen = true;
          host.onTickFrame(this, frame);
        },
      },
      opts.splitter,
    );
    transport.on('data', (chunk: Buffer) => this.onData(chunk));
    transport.on('end', () => this.push(null));
    transport.on('error', (err) => this.destroy(err));
    transport.on('close', () => this.destroy());
  }

  /** The client's CONNECT is decided: take its tick publishes from now on, or pass all through. */
  release(captureTicks: boolean): void {
    this.splitter.release(captureTicks);
    this.updateFlow();
  }

  override _read(): void {
    this.readPaused = false;
    this.updateFlow();
  }

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
    if (this.tickSeen) {
      // Aedes never sees these packets, so keep its keepalive timer honest ourselves.
      this.tickSeen = false;
      this.client?._keepaliveTimer?.refresh();
    }
    this.updateFlow();
  }

  private updateFlow(): void {
    if (this.destroyed) return;
    if (this.readPaused || this.splitter.isHolding) this.transport.pause();
    else this.transport.resume();
  }
}
