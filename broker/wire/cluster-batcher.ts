import type { Redis } from 'ioredis';
import type { Logger } from '../../platform/logger.js';
import type { RedisConnections } from '../../platform/redis.js';

export interface ClusterBatcherOptions {
  nodeId: string;
  /** How often a node publishes what it gathered (one Redis publish per interval at most). */
  intervalMs: number;
  /** Bytes of ticks one batch carries in full; past it the interval keeps the latest per topic. */
  maxBatchBytes: number;
  log: Logger;
  /** Frames another node published: back-to-back QoS 0 PUBLISH frames, retain bit clear. */
  onRemoteFrames(frames: Buffer): void;
}

/** A node's two links for tick batches (publish, subscribe), the subscriber already on `channel`. */
export interface ClusterLinks {
  pub: Redis;
  sub: Redis;
  /** Pub/sub channel shared by every node of the cluster. */
  channel: string;
}

/**
 * Carries ticks between broker nodes: each node gathers the frames of an interval and publishes them
 * as one Redis message. Every tick travels while the interval's batch stays under `maxBatchBytes`;
 * past that the batch keeps only the latest frame per topic (ticks are latest-wins), so a burst
 * never grows a message without bound. Message: 1 byte id length, node id, then the frames.
 */
export class ClusterBatcher {
  private frames: Buffer[] = [];
  private topics: string[] = [];
  private bytes = 0;
  /** Set once the interval's batch is over budget: from then on, latest frame per topic. */
  private latest: Map<string, Buffer> | null = null;
  private lastFlush = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly self: Buffer;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channel: string;
  batches = 0;
  /** Batches dropped while the Redis link was down. */
  dropped = 0;

  /** `links` from connect(): the batcher is made at once with what receives the other nodes' frames. */
  constructor(
    links: ClusterLinks,
    private readonly opts: ClusterBatcherOptions,
  ) {
    this.pub = links.pub;
    this.sub = links.sub;
    this.channel = links.channel;
    this.self = Buffer.from(opts.nodeId);
    this.timer = setInterval(() => this.flush(), opts.intervalMs);
    this.timer.unref();
    this.sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.receive(message));
  }

  /** Takes two of the process' Redis connections (publish, subscribe), under their error policy. */
  static async connect(redis: RedisConnections, channel: string): Promise<ClusterLinks> {
    // No offline queue: while Redis is away, batches are dropped (ticks are latest-wins and stale
    // ones are worthless), not piled up and replayed in a burst on reconnect.
    const pub = redis.connect('ticks-pub', { lazyConnect: true, enableOfflineQueue: false });
    const sub = redis.connect('ticks-sub', { lazyConnect: true });
    await Promise.all([pub.connect(), sub.connect()]);
    await sub.subscribe(channel);
    return { pub, sub, channel };
  }

  add(topic: string, frame: Buffer): void {
    if (this.latest !== null) {
      this.latest.set(topic, frame);
      return;
    }
    this.frames.push(frame);
    this.topics.push(topic);
    this.bytes += frame.length;
    if (this.bytes > this.opts.maxBatchBytes) {
      this.latest = new Map();
      for (let i = 0; i < this.frames.length; i++) this.latest.set(this.topics[i], this.frames[i]);
      this.frames = [];
      this.topics = [];
    }
  }

  /**
   * Called at the end of every turn: a node saturated with reads may run its timers late, so the
   * interval is also honoured from the data path.
   */
  flushIfDue(): void {
    if (performance.now() - this.lastFlush >= this.opts.intervalMs) this.flush();
  }

  flush(): void {
    this.lastFlush = performance.now();
    const frames = this.latest !== null ? [...this.latest.values()] : this.frames;
    if (frames.length === 0) return;
    this.frames = [];
    this.topics = [];
    this.bytes = 0;
    this.latest = null;
    if (this.pub.status !== 'ready') {
      this.dropped++;
      return;
    }
    const head = Buffer.allocUnsafe(1 + this.self.length);
    head[0] = this.self.length;
    this.self.copy(head, 1);
    this.batches++;
    this.pub.publish(this.channel, Buffer.concat([head, ...frames])).catch((err: Error) => {
      this.opts.log.warn({ err: err.message }, 'publishing a tick batch to the cluster failed');
    });
  }

  /** Both links up: ticks cross nodes (readiness). */
  connected(): boolean {
    return this.pub.status === 'ready' && this.sub.status === 'ready';
  }

  private receive(message: Buffer): void {
    const idLength = message[0] ?? 0;
    if (message.length < 1 + idLength) return;
    if (idLength === this.self.length && message.compare(this.self, 0, idLength, 1, 1 + idLength) === 0) return;
    this.opts.onRemoteFrames(message.subarray(1 + idLength));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    await Promise.allSettled([this.pub.quit(), this.sub.quit()]);
  }
}
