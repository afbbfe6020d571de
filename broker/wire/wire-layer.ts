import type { Duplex } from 'node:stream';
import { aedesInternals } from '../aedes/internals.js';
import type { Tick } from '../../protocol/tick.js';
import { SERVER_DISCONNECTS } from '../mqtt5/reasons.js';
import { QoSForwarder } from '../aedes/qos-forward.js';
import { WireConnection, type CapturedKind, type ConnectionHost } from './wire-connection.js';
import type { SubscriberWriter } from './subscriber-writer.js';
import { RouteTable } from './route-table.js';
import { RetainedTicks } from './retained-ticks.js';
import { ClusterBatcher, type ClusterLinks } from './cluster-batcher.js';
import { HeldTicks } from './held-ticks.js';
import { TickFanOut } from './tick-fanout.js';
import { TickSources, acceptRemoteFrames } from './tick-sources.js';
import { takeChatPublish, takePuback } from './qos1-frames.js';
import { followClients } from './client-events.js';
import { WireMetrics } from './wire-metrics.js';
import { DEFAULT_LIMITS, TICK_ROOT, type WireLayerOptions, type WireLimits } from './wire-options.js';

export { DEFAULT_LIMITS, type WireLayerOptions, type WireLimits } from './wire-options.js';
export type { ChatIntake, Forwarder } from './qos1-frames.js';

/** Redis pub/sub ignores the database number, so the channel carries it: one cluster per database. */
function defaultChannel(redisUrl: string): string {
  return `ticktalk:ticks:${new URL(redisUrl).pathname.slice(1) || '0'}`;
}
const MAX_HELD_BYTES = 256 * 1024;

/**
 * The front of every connection, and the broker's tick path (map: broker/README.md). Tick publishes from `feed` clients are
 * taken off the socket before Aedes' parser, validated, encoded once and fanned out through a route
 * table mirrored from the subscriptions Aedes granted; every client's output (ticks and whatever
 * Aedes writes) leaves in one write per turn, conflated while the client is backed up. Extension
 * (chat) QoS 1 publishes and PUBACKs are taken off the socket too and handed to the broker and to
 * Aedes' persistence directly (and QoS 1 deliveries leave as single frames: see ../aedes/qos-delivery.ts).
 * Aedes keeps CONNECT/auth, SUBSCRIBE (and its ACL), routing and sessions, retained delivery, wills
 * and every other packet.
 *
 * This class is the turn: what every connection queued this turn leaves at its end, PUBACKs first.
 * The ticks' way in is TickSources, their way out TickFanOut (and HeldTicks for clients' maximum
 * tick rates); QoS 1 frames are qos1-frames.ts, Aedes' connection events client-events.ts.
 */
export class WireLayer implements ConnectionHost {
  private readonly limits: WireLimits;
  private readonly metrics: WireMetrics;
  private readonly routes: RouteTable<WireConnection>;
  private readonly retained: RetainedTicks;
  private readonly fanout: TickFanOut;
  private readonly held = new HeldTicks();
  private readonly cluster: ClusterBatcher | undefined;
  private readonly ticks: TickSources;
  private readonly dirty = new Set<SubscriberWriter>();
  /** Writers holding PUBACKs: flushed first in a turn (see runTurn). */
  private readonly ackDirty = new Set<SubscriberWriter>();
  private afterAcks: (() => void)[] = [];
  private scheduled = false;
  private closed = false;
  private readonly flushTurn = () => this.runTurn();
  /**
   * QoS 1 publishes (taken off the wire, or the node's own) go on through here. Single node: the
   * live fan-out runs in this layer's turn, after its PUBACKs are written. Cluster: undefined turn.
   */
  readonly forwarder: QoSForwarder;

  private constructor(
    private readonly opts: WireLayerOptions,
    clusterLinks: ClusterLinks | undefined,
  ) {
    const { aedes, log } = opts;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.metrics = new WireMetrics(opts.metrics, log);
    this.forwarder = new QoSForwarder(aedes, clusterLinks ? undefined : this, log, this.metrics.chatLatency);
    this.routes = new RouteTable(TICK_ROOT, this.limits.maxCachedTopics);
    this.retained = new RetainedTicks(() => aedesInternals(aedes).persistence, this.limits.retainFlushMs, log);
    this.fanout = new TickFanOut(this.limits, this.routes, this, this.dirty, this.metrics.stats, this.metrics.tickLatency);
    this.metrics.watch(this.fanout, this.routes);
    this.cluster = clusterLinks ? this.clusterBatcher(clusterLinks) : undefined;
    this.ticks = new TickSources(this.fanout, this.retained, this.cluster, this.metrics);
    followClients(aedes, opts, this.limits, this.routes, this.retained);
  }

  /** Made once everything the other nodes' frames go to exists, so they are handed straight there. */
  private clusterBatcher(links: ClusterLinks): ClusterBatcher {
    const { fanout, retained, metrics, opts } = this;
    return new ClusterBatcher(links, {
      nodeId: opts.nodeId,
      intervalMs: opts.cluster?.intervalMs ?? 5,
      maxBatchBytes: opts.cluster?.maxBatchBytes ?? 1024 * 1024,
      log: opts.log,
      onRemoteFrames: (frames) => acceptRemoteFrames(frames, fanout, retained, metrics.incoming),
    });
  }

  static async start(opts: WireLayerOptions): Promise<WireLayer> {
    const { cluster } = opts;
    const links = cluster ? await ClusterBatcher.connect(cluster.redis, cluster.channel ?? defaultChannel(cluster.redis.url)) : undefined;
    return new WireLayer(opts, links);
  }

  /** Put the wire layer between a client transport (TCP socket, WebSocket stream) and Aedes. */
  wrap(transport: Duplex): WireConnection {
    return new WireConnection(transport, this, {
      splitter: { maxHeldBytes: MAX_HELD_BYTES },
      writer: { backlogBytes: this.limits.backlogBytes, maxQueuedBytes: this.limits.maxQueuedBytes },
      stats: this.metrics.stats,
      onTicksHeld: this.held.hold,
    });
  }

  /** Validated ticks from inside the process (bridge, simulator): retained `ticks/{SYMBOL}`, QoS 0. */
  publishTicks(ticks: readonly Tick[]): void {
    this.ticks.publishTicks(ticks);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ticks.close();
    this.held.close();
    this.fanout.close();
    this.runTurn();
    await this.retained.close();
    await this.cluster?.close();
  }

  onCapturedFrame(conn: WireConnection, frame: Buffer, kind: CapturedKind): void {
    if (kind === 'tick') this.ticks.onFeedFrame(conn, frame);
    else if (kind === 'puback') takePuback(conn, frame, this.opts.aedes);
    else takeChatPublish(conn, frame, this.opts.chatIntake, this.forwarder);
  }

  /** Runs `task` in this turn's flush, once its PUBACKs are written and before the other writes. */
  afterAcksWritten(task: () => void): void {
    this.afterAcks.push(task);
    this.schedule();
  }

  markDirty(writer: SubscriberWriter, holdsAcks = false): void {
    (holdsAcks ? this.ackDirty : this.dirty).add(writer);
    this.schedule();
  }

  onClosed(conn: WireConnection): void {
    this.routes.removeSubscriber(conn);
    this.dirty.delete(conn.writer);
    this.ackDirty.delete(conn.writer);
    this.fanout.forget(conn.writer);
    this.held.forget(conn.writer);
  }

  onSlowConsumer(conn: WireConnection): void {
    this.metrics.slowConsumer(conn);
    conn.dropSlowConsumer(SERVER_DISCONNECTS.slowConsumer(conn.writer.queuedBytes), new Error('slow consumer: queued bytes over the limit'));
  }

  /** False while ticks cannot cross to the other nodes (cluster mode, Redis away). */
  clusterConnected(): boolean {
    return this.cluster?.connected() ?? true;
  }

  /**
   * Flush in the check phase, after the socket reads and timers of this loop iteration: a microtask
   * would run after every single setImmediate callback, and Aedes delivers each QoS 1 message in one,
   * so a burst of chat messages left as one write syscall per message instead of one per client.
   */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushTurn);
  }

  /** End of a turn: PUBACKs, chat and other control bytes leave (and, without a write window, the turn's ticks), one write per client. */
  private runTurn(): void {
    this.scheduled = false;
    if (this.limits.writeWindowMs === 0) this.fanout.fanOut();
    // PUBACKs first: each write wakes its reader, and a publisher whose window reopens sends its
    // next messages while this turn's deliveries are still being written (bench:chat +5-8%).
    for (const writer of this.ackDirty) writer.flush();
    this.ackDirty.clear();
    const tasks = this.afterAcks;
    this.afterAcks = [];
    for (const task of tasks) task();
    for (const writer of this.dirty) writer.flush();
    this.dirty.clear();
    if (this.limits.writeWindowMs === 0) this.fanout.observeTickLatency();
    this.cluster?.flushIfDue();
    this.retained.flushIfDue();
    this.metrics.report(this.fanout.windowConflated, this.cluster);
  }
}
