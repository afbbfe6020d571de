import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { aedesInternals, clientInternals, type Aedes, type Client, type Subscription } from '../aedes/internals.js';
import { encodeTick, type Tick } from '../../protocol/tick.js';
import { topics } from '../../protocol/topics.js';
import type { Logger } from '../../platform/logger.js';
import type { RedisConnections } from '../../platform/redis.js';
import type { Metrics } from '../../platform/metrics.js';
import type { ClientPublish } from '../extensions.js';
import type { Refusal } from '../mqtt5/session.js';
import { SERVER_DISCONNECTS } from '../mqtt5/reasons.js';
import { WireConnection, type CapturedKind, type ConnectionHost } from './wire-connection.js';
import type { CaptureRule } from './frame-splitter.js';
import { frameLength, publishFrame, readPublish } from './mqtt-frame.js';
import { RouteTable } from './route-table.js';
import { RetainedTicks } from './retained-ticks.js';
import { ClusterBatcher } from './cluster-batcher.js';
import { readFeedTick } from './tick-intake.js';
import { CanonicalTickReader } from './canonical-tick.js';
import type { SubscriberWriter, WriterStats } from './subscriber-writer.js';
import { QoSForwarder } from '../aedes/qos-forward.js';
import { SlicedWrites } from './sliced-writes.js';
import { TickWindow } from './tick-window.js';
import { publishExpiryInterval } from '../mqtt5/frames.js';
import { batchDeadlines, tickExpiry } from './tick-expiry.js';

/** Where client and server QoS 1 publishes go on (see QoSForwarder). */
export type Forwarder = Pick<QoSForwarder, 'forward'>;

export interface WireLimits {
  /** Bytes a client's transport may buffer before its ticks conflate. */
  backlogBytes: number;
  /** Bytes queued for a backed-up client (chat, acks, one tick per topic) before it is disconnected. */
  maxQueuedBytes: number;
  /** Topics whose subscriber list is cached. */
  maxCachedTopics: number;
  /** Interval of retained-tick stores into the persistence. */
  retainFlushMs: number;
  /** Largest tick publish taken off the wire; bigger ones go to Aedes. */
  maxTickFrame: number;
  /** Ticks gather this long (ms) and leave as each symbol's latest, one write per client; 0: every tick, once per turn. */
  writeWindowMs: number;
  /** How far the window stretches while the node is saturated (see TickWindow). */
  maxWriteWindowMs: number;
}

export const DEFAULT_LIMITS: WireLimits = {
  backlogBytes: 256 * 1024,
  maxQueuedBytes: 4 * 1024 * 1024,
  maxCachedTopics: 10_000,
  retainFlushMs: 50,
  maxTickFrame: 4096,
  writeWindowMs: 5,
  maxWriteWindowMs: 50,
};

/**
 * QoS 1 publishes the broker's extensions own (chat), taken off the wire like ticks: Aedes' parser,
 * handler chain and PUBACK were most of the broker's CPU per chat message. Delivery to subscribers
 * still goes through Aedes (sessions, offline queues, the cluster).
 */
export interface ChatIntake {
  /** Topic prefixes whose QoS 1 publishes from this client are taken (none: Aedes parses them). */
  prefixesFor(client: Client): readonly string[];
  /** Largest frame taken: the broker's packet-size bound, so nothing bigger escapes its guard. */
  maxFrame: number;
  /**
   * Handles one publish, forwarding it through `forwarder` if it is to be delivered. `settle()`
   * sends its PUBACK (in arrival order), `settle(undefined, refusal)` one saying why it was refused
   * (MQTT 5 reason code and string; a plain PUBACK for 3.1.1); `settle(err)` closes the connection
   * without one, so the client sends the message again.
   */
  onPublish(client: Client, publish: ClientPublish, settle: (err?: Error, refusal?: Refusal) => void, forwarder: Forwarder): void;
}

export interface WireLayerOptions {
  aedes: Aedes;
  log: Logger;
  metrics: Metrics;
  nodeId: string;
  /** Asked once per client, right after it is authenticated: may it publish ticks? */
  mayPublishTicks(client: Client): boolean;
  chatIntake?: ChatIntake;
  /**
   * Take clients' PUBACKs off the wire too and clear the acknowledged message as Aedes' handler
   * would (persistence, then the 'ack' event): a subscriber acks every QoS 1 message it gets, and
   * Aedes' parser and stream plumbing cost more than the clearing itself.
   */
  takeAcks?: boolean;
  /** Cluster mode: ticks travel between nodes in batches over this Redis. */
  cluster?: { redis: RedisConnections; channel?: string; intervalMs?: number; maxBatchBytes?: number };
  limits?: Partial<WireLimits>;
}

type TickSource = 'feed' | 'local' | 'cluster';

const TICK_ROOT = 'ticks';
const TICK_PREFIX = `${TICK_ROOT}/`;
/** Seconds: sub-millisecond fan-out up to the multi-second stalls an alert must see. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function expiryOf(frame: Buffer): number | undefined {
  const interval = publishExpiryInterval(frame);
  return interval === undefined ? undefined : Date.now() + interval * 1000;
}

/** Redis pub/sub ignores the database number, so the channel carries it: one cluster per database. */
function defaultChannel(redisUrl: string): string {
  return `ticktalk:ticks:${new URL(redisUrl).pathname.slice(1) || '0'}`;
}
const MAX_HELD_BYTES = 256 * 1024;
/** How long the event loop's busy share is measured before the write window acts on it. */
const LOOP_SAMPLE_MS = 100;
/** A window's writes go out in slices of about this long, with the event loop's I/O in between (see SlicedWrites). */
const WRITE_SLICE_MS = 4;
const WRITERS_PER_CLOCK_READ = 32;
/** Ticks held for a client's maximum tick rate are written in the first slot of this many ms after they are due. */
const HELD_SLOT_MS = 10;

/**
 * The front of every connection, and the broker's tick path (map: broker/README.md). Tick publishes from `feed` clients are
 * taken off the socket before Aedes' parser, validated, encoded once and fanned out through a route
 * table mirrored from the subscriptions Aedes granted; every client's output (ticks and whatever
 * Aedes writes) leaves in one write per turn, conflated while the client is backed up. Extension
 * (chat) QoS 1 publishes and PUBACKs are taken off the socket too and handed to the broker and to
 * Aedes' persistence directly (and QoS 1 deliveries leave as single frames: see ../aedes/qos-delivery.ts).
 * Aedes keeps CONNECT/auth, SUBSCRIBE (and its ACL), routing and sessions, retained delivery, wills
 * and every other packet.
 */
export class WireLayer implements ConnectionHost {
  private readonly routes: RouteTable<WireConnection>;
  private readonly limits: WireLimits;
  private readonly retained: RetainedTicks;
  private turn = new Map<string, Buffer[]>();
  private readonly dirty = new Set<SubscriberWriter>();
  /** Writers holding PUBACKs: flushed first in a turn (see runTurn). */
  private readonly ackDirty = new Set<SubscriberWriter>();
  private afterAcks: (() => void)[] = [];
  private scheduled = false;
  private closed = false;
  private readonly window: TickWindow;
  /** The pending window flush. */
  private windowTimer: NodeJS.Timeout | undefined;
  /** Writers holding this window's ticks, until the window ends. */
  private readonly windowWriters = new Set<SubscriberWriter>();
  /** Writers holding ticks for their client's maximum tick rate, by the slot (HELD_SLOT_MS) they are due in. */
  private readonly heldBySlot = new Map<number, SubscriberWriter[]>();
  private readonly heldSlotOf = new Map<SubscriberWriter, number>();
  private heldTimer: NodeJS.Timeout | undefined;
  private heldTimerSlot = Infinity;
  /** The window being written, slice by slice. */
  private readonly windowWrites = new SlicedWrites<SubscriberWriter>({ sliceMs: WRITE_SLICE_MS, writersPerClockRead: WRITERS_PER_CLOCK_READ });
  private readonly windowWritten = (costMs: number) => this.onWindowWritten(costMs);
  /** The event loop's busy share over the latest sampling period, and where that period began. */
  private loopBusy = 0;
  private loopSample = { at: performance.now(), elu: performance.eventLoopUtilization() };
  private readonly flushWindow = () => this.runWindow();
  private readonly stats: WriterStats = { routed: 0, conflated: 0, rateConflated: 0 };
  /** Ticks replaced by a newer one of the same symbol within a write window. */
  private windowConflated = 0;
  private readonly incoming: Record<TickSource, number> = { feed: 0, local: 0, cluster: 0 };
  private readonly reported = {
    routed: 0,
    conflated: 0,
    rateConflated: 0,
    windowConflated: 0,
    feed: 0,
    local: 0,
    cluster: 0,
    batches: 0,
    dropped: 0,
  };
  private readonly counters;
  private suppressedRejections = 0;
  private lastRejectionLog = 0;
  private readonly flushTurn = () => this.runTurn();
  /**
   * QoS 1 publishes (taken off the wire, or the node's own) go on through here. Single node: the
   * live fan-out runs in this layer's turn, after its PUBACKs are written. Cluster: undefined turn.
   */
  readonly forwarder: QoSForwarder;
  private readonly tickLatency: { observe(seconds: number): void };
  private readonly canonical = new CanonicalTickReader();
  /** Feed time (UTC ms) of the oldest tick taken in this turn; Infinity when none. */
  private oldestTickInTurn = Infinity;

  private constructor(
    private readonly opts: WireLayerOptions,
    private readonly cluster: ClusterBatcher | undefined,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.forwarder = new QoSForwarder(
      opts.aedes,
      cluster ? undefined : this,
      opts.log,
      opts.metrics.histogram(
        'chat_delivery_latency_seconds',
        'QoS 1 chat message stored to fanned out on this node (cluster: to Redis taking it)',
        LATENCY_BUCKETS,
      ),
    );
    this.tickLatency = opts.metrics.histogram(
      'tick_latency_seconds',
      "Feed timestamp of a turn's oldest tick from a feed or the bridge to its fan-out to subscribers on this node",
      LATENCY_BUCKETS,
    );
    this.routes = new RouteTable(TICK_ROOT, this.limits.maxCachedTopics);
    const aedes = opts.aedes;
    this.retained = new RetainedTicks(() => aedesInternals(aedes).persistence, this.limits.retainFlushMs, opts.log);
    const { metrics } = opts;
    this.counters = {
      incoming: metrics.counter('ticks_in_total', 'Ticks entering the fast path', ['source']),
      routed: metrics.counter('ticks_routed_total', 'Tick frames handed to subscribers (conflated ones included)'),
      conflated: metrics.counter(
        'ticks_conflated_total',
        'Ticks replaced by a newer one of the same symbol: within a write window (reason="window"), while the subscriber was backed up (reason="backlog") or held to its own maximum tick rate (reason="client_rate")',
        ['reason'],
      ),
      rejected: metrics.counter('ticks_rejected_total', 'Tick publishes from feed clients refused', ['reason']),
      slow: metrics.counter('slow_consumer_disconnects_total', 'Clients disconnected for not reading (queued bytes over the bound)'),
      batches: metrics.counter('tick_cluster_batches_total', 'Tick batches published to the other nodes'),
      dropped: metrics.counter('tick_cluster_batches_dropped_total', 'Tick batches not sent to the other nodes because Redis was unreachable'),
    };
    this.window = new TickWindow(this.limits.writeWindowMs, Math.max(this.limits.writeWindowMs, this.limits.maxWriteWindowMs));
    metrics.gauge('tick_write_window_ms', 'Current tick write window: MQTT_WRITE_WINDOW_MS, stretched while the node is saturated', [], (g) =>
      g.set(this.window.ms),
    );
    metrics.gauge('tick_route_subscribers', 'Connections with at least one ticks/ subscription', [], (g) => g.set(this.routes.subscriberCount));
    this.wireAedes(aedes);
  }

  static async start(opts: WireLayerOptions): Promise<WireLayer> {
    // Starts empty (not `const`): the batcher's callback is made before the layer exists and must see no layer, not a TDZ error.
    let wire: WireLayer | undefined = undefined;
    const cluster = opts.cluster
      ? await ClusterBatcher.start({
          redis: opts.cluster.redis,
          channel: opts.cluster.channel ?? defaultChannel(opts.cluster.redis.url),
          intervalMs: opts.cluster.intervalMs ?? 5,
          maxBatchBytes: opts.cluster.maxBatchBytes ?? 1024 * 1024,
          nodeId: opts.nodeId,
          log: opts.log,
          onRemoteFrames: (frames) => wire?.acceptRemoteFrames(frames),
        })
      : undefined;
    wire = new WireLayer(opts, cluster);
    return wire;
  }

  /** Put the wire layer between a client transport (TCP socket, WebSocket stream) and Aedes. */
  wrap(transport: Duplex): WireConnection {
    return new WireConnection(transport, this, {
      splitter: { maxHeldBytes: MAX_HELD_BYTES },
      writer: { backlogBytes: this.limits.backlogBytes, maxQueuedBytes: this.limits.maxQueuedBytes },
      stats: this.stats,
      onTicksHeld: this.holdTicks,
    });
  }

  /**
   * A writer's ticks wait for its client's maximum tick rate: it is flushed again in the slot they
   * are due in. Thousands of held clients cost one timer, and each one list entry per write it waits for.
   */
  private readonly holdTicks = (writer: SubscriberWriter): void => {
    const due = writer.ticksDueAt;
    if (due === undefined || this.closed) return;
    const slot = Math.ceil(due / HELD_SLOT_MS);
    if (this.heldSlotOf.get(writer) === slot) return;
    this.heldSlotOf.set(writer, slot);
    const writers = this.heldBySlot.get(slot);
    if (writers) writers.push(writer);
    else this.heldBySlot.set(slot, [writer]);
    if (slot < this.heldTimerSlot) this.armHeldTimer(slot);
  };

  private armHeldTimer(slot: number): void {
    clearTimeout(this.heldTimer);
    this.heldTimerSlot = slot;
    this.heldTimer = slot === Infinity ? undefined : setTimeout(this.releaseHeldTicks, Math.max(0, slot * HELD_SLOT_MS - performance.now()));
  }

  /** Flushes the writers whose slot came (a writer that wrote meanwhile and holds again just waits on). */
  private readonly releaseHeldTicks = (): void => {
    this.heldTimerSlot = Infinity;
    const now = performance.now() / HELD_SLOT_MS;
    const due: SubscriberWriter[] = [];
    let next = Infinity;
    for (const [slot, writers] of this.heldBySlot) {
      if (slot > now) next = Math.min(next, slot);
      else {
        this.heldBySlot.delete(slot);
        for (const writer of writers) if (this.heldSlotOf.get(writer) === slot) due.push(writer);
      }
    }
    for (const writer of due) this.heldSlotOf.delete(writer);
    for (const writer of due) writer.flush();
    if (next < this.heldTimerSlot) this.armHeldTimer(next);
  };

  /** Validated ticks from inside the process (bridge, simulator): retained `ticks/{SYMBOL}`, QoS 0. */
  publishTicks(ticks: readonly Tick[]): void {
    for (const tick of ticks) this.accept(tick, 'local');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.windowTimer);
    clearTimeout(this.heldTimer);
    this.heldBySlot.clear();
    this.heldSlotOf.clear();
    this.fanOutTicks();
    for (const writer of [...this.windowWrites.pending, ...this.windowWriters]) this.dirty.add(writer);
    this.windowWriters.clear();
    this.windowWrites.abandon();
    this.runTurn();
    await this.retained.close();
    await this.cluster?.close();
  }

  onCapturedFrame(conn: WireConnection, frame: Buffer, kind: CapturedKind): void {
    if (kind === 'tick') this.onTickFrame(conn, frame);
    else if (kind === 'puback') this.onPubackFrame(conn, frame);
    else this.onChatFrame(conn, frame);
  }

  private onTickFrame(conn: WireConnection, frame: Buffer): void {
    const publish = readPublish(frame, conn.mqtt5 !== undefined);
    if (publish === null) {
      this.counters.rejected.labels('frame').inc();
      this.logRejection(conn, 'malformed publish');
      conn.destroy(new Error('malformed PUBLISH'));
      return;
    }
    // QoS 1 is acknowledged whether or not the tick is valid, as the broker does for refused publishes.
    if (publish.messageId !== undefined) conn.acks.reserve(publish.messageId)();
    const { topic, payload } = publish;
    const expiry = conn.mqtt5 ? expiryOf(frame) : undefined;
    const symbol = topic.startsWith(TICK_PREFIX) ? topic.slice(TICK_PREFIX.length) : '';
    if (this.canonical.read(payload, symbol)) return this.acceptEncoded(topic, payload, this.canonical.timeMsc, 'feed', expiry);
    const result = readFeedTick(publish);
    if (result.ok) return this.accept(result.tick, 'feed', expiry);
    this.counters.rejected.labels(result.reason).inc();
    this.logRejection(conn, result.message);
  }

  private onChatFrame(conn: WireConnection, frame: Buffer): void {
    const publish = readPublish(frame, conn.mqtt5 !== undefined);
    const client = conn.client;
    const intake = this.opts.chatIntake;
    if (publish === null || publish.messageId === undefined || !client || !intake) {
      conn.destroy(new Error('malformed PUBLISH'));
      return;
    }
    const ack = conn.acks.reserve(publish.messageId);
    // The frame is a view into the read buffer: the payload outlives this call.
    const packet: ClientPublish = { topic: publish.topic, payload: Buffer.from(publish.payload), qos: 1, retain: publish.retain };
    intake.onPublish(client, packet, (err, refusal) => (err ? conn.destroy(err) : ack(refusal)), this.forwarder);
  }

  private onPubackFrame(conn: WireConnection, frame: Buffer): void {
    const client = conn.client;
    if (!client) return;
    const { aedes } = this.opts;
    const internals = aedesInternals(aedes);
    const handled = conn.beginWork();
    const messageId = frame.readUInt16BE(2);
    conn.deliveryAcknowledged(messageId);
    internals.persistence.outgoingClearMessageId(client, { messageId }).then(
      (acknowledged) => {
        handled();
        internals.emit('ack', acknowledged, client);
      },
      (err: Error) => {
        handled();
        client.emit('error', err);
      },
    );
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
    this.windowWriters.delete(conn.writer);
    this.heldSlotOf.delete(conn.writer);
  }

  onSlowConsumer(conn: WireConnection): void {
    this.counters.slow.inc();
    this.opts.log.warn({ client: conn.client?.id, queuedBytes: conn.writer.queuedBytes }, 'disconnecting a client that stopped reading');
    conn.dropSlowConsumer(SERVER_DISCONNECTS.slowConsumer(conn.writer.queuedBytes), new Error('slow consumer: queued bytes over the limit'));
  }

  private accept(tick: Tick, source: TickSource, expiry?: number): void {
    this.acceptEncoded(topics.tick(tick.symbol), encodeTick(tick), tick.time_msc, source, expiry);
  }

  /**
   * A valid tick, `payload` its canonical encoding (a Buffer may be a view into a read: it is copied);
   * `expiry`: an MQTT 5 feed's Message Expiry (ms since the epoch), see tick-expiry.ts.
   */
  private acceptEncoded(topic: string, payload: string | Buffer, timeMsc: number, source: TickSource, expiry?: number): void {
    // Sources may still be stopping while the broker shuts down: their last ticks have nowhere to go.
    if (this.closed) return;
    const frame = publishFrame(topic, payload, false);
    if (expiry !== undefined) tickExpiry.set(frame, expiry);
    this.enqueue(topic, frame);
    if (timeMsc < this.oldestTickInTurn) this.oldestTickInTurn = timeMsc;
    // The frame ends with the payload: the retained copy is that slice, not another buffer.
    this.retained.set(topic, typeof payload === 'string' ? payload : frame.subarray(frame.length - payload.length), expiry);
    this.cluster?.add(topic, frame);
    this.incoming[source]++;
  }

  /** Frames from another node: copied out of the Redis message so no queue pins it. */
  private acceptRemoteFrames(frames: Buffer): void {
    let at = 0;
    while (at < frames.length) {
      const length = frameLength(frames.subarray(at));
      if (length < 0) break;
      const frame = Buffer.from(frames.subarray(at, at + length));
      at += length;
      const publish = readPublish(frame);
      if (publish === null) break;
      this.enqueue(publish.topic, frame);
      // The other node stores this tick as the retained one: an expiring one of ours must not remove it.
      this.retained.superseded(publish.topic);
      this.incoming.cluster++;
    }
  }

  private enqueue(topic: string, frame: Buffer): void {
    const frames = this.turn.get(topic);
    if (frames) frames.push(frame);
    else this.turn.set(topic, [frame]);
    this.schedule();
    if (this.limits.writeWindowMs > 0 && this.windowTimer === undefined && !this.windowWrites.running) {
      this.windowTimer = setTimeout(this.flushWindow, this.window.ms);
    }
  }

  /**
   * A write window ends: each client gets the latest tick of each of its symbols, in one write.
   * Ticks arriving while the writes go out wait for the next window, which opens once they are
   * written: however long they take, the loop has a whole window's time for everything else.
   */
  private runWindow(): void {
    this.windowTimer = undefined;
    const started = performance.now();
    this.fanOutTicks();
    const writers = [...this.windowWriters];
    this.windowWriters.clear();
    this.windowWrites.start(writers, performance.now() - started, this.windowWritten);
  }

  private onWindowWritten(costMs: number): void {
    this.observeTickLatency();
    const windowMs = this.window.update(costMs, this.sampleLoop(performance.now()));
    if (this.turn.size > 0 && this.windowTimer === undefined && !this.closed) this.windowTimer = setTimeout(this.flushWindow, windowMs);
  }

  /** The loop's busy share, sampled over periods of at least LOOP_SAMPLE_MS (a few ms alone say little: a GC, one burst of reads). */
  private sampleLoop(now: number): number {
    if (now - this.loopSample.at < LOOP_SAMPLE_MS) return this.loopBusy;
    const elu = performance.eventLoopUtilization();
    this.loopBusy = performance.eventLoopUtilization(elu, this.loopSample.elu).utilization;
    this.loopSample = { at: now, elu };
    return this.loopBusy;
  }

  /**
   * Flush in the check phase, after the socket reads and timers of this loop iteration: a microtask
   * would run after every single setImmediate callback, and Aedes delivers each QoS 1 message in one,
   * so a burst of chat messages left as one write syscall per message instead of one per client.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushTurn);
  }

  /**
   * The gathered ticks to their subscribers' writers. With a write window only each topic's latest
   * frame goes (conflation inside the window); without one each topic's frames are joined once.
   */
  private fanOutTicks(): void {
    const turn = this.turn;
    if (turn.size === 0) return;
    this.turn = new Map();
    const windowed = this.limits.writeWindowMs > 0;
    for (const [topic, frames] of turn) {
      const route = this.routes.lookup(topic);
      if (route.length === 0) continue;
      const latest = frames[frames.length - 1];
      const dropped = windowed ? frames.length - 1 : 0;
      const batch = windowed || frames.length === 1 ? latest : Buffer.concat(frames);
      if (batch !== latest && tickExpiry.active) {
        const deadlines = batchDeadlines(frames);
        if (deadlines) tickExpiry.set(batch, deadlines);
      }
      const writers = windowed ? this.windowWriters : this.dirty;
      for (const conn of route) {
        conn.writer.offerTicks(topic, batch, latest, frames.length - dropped);
        writers.add(conn.writer);
      }
      this.stats.routed += dropped * route.length;
      this.windowConflated += dropped * route.length;
    }
  }

  /** End of a turn: PUBACKs, chat and other control bytes leave (and, without a write window, the turn's ticks), one write per client. */
  private runTurn(): void {
    this.scheduled = false;
    if (this.limits.writeWindowMs === 0) this.fanOutTicks();
    // PUBACKs first: each write wakes its reader, and a publisher whose window reopens sends its
    // next messages while this turn's deliveries are still being written (bench:chat +5-8%).
    for (const writer of this.ackDirty) writer.flush();
    this.ackDirty.clear();
    const tasks = this.afterAcks;
    this.afterAcks = [];
    for (const task of tasks) task();
    for (const writer of this.dirty) writer.flush();
    this.dirty.clear();
    if (this.limits.writeWindowMs === 0) this.observeTickLatency();
    this.cluster?.flushIfDue();
    this.retained.flushIfDue();
    this.report();
  }

  /** One observation per turn, of its oldest tick: what the slowest tick of the turn waited. */
  private observeTickLatency(): void {
    if (this.oldestTickInTurn === Infinity) return;
    this.tickLatency.observe(Math.max(0, Date.now() - this.oldestTickInTurn) / 1000);
    this.oldestTickInTurn = Infinity;
  }

  /** False while ticks cannot cross to the other nodes (cluster mode, Redis away). */
  clusterConnected(): boolean {
    return this.cluster?.connected() ?? true;
  }

  /** Counters move once per turn, not once per tick. */
  private report(): void {
    const { counters, stats, incoming } = this;
    this.bump('routed', stats.routed, counters.routed);
    this.bump('conflated', stats.conflated, counters.conflated.labels('backlog'));
    this.bump('windowConflated', this.windowConflated, counters.conflated.labels('window'));
    this.bump('rateConflated', stats.rateConflated, counters.conflated.labels('client_rate'));
    for (const source of ['feed', 'local', 'cluster'] as const) this.bump(source, incoming[source], counters.incoming.labels(source));
    this.bump('batches', this.cluster?.batches ?? 0, counters.batches);
    this.bump('dropped', this.cluster?.dropped ?? 0, counters.dropped);
  }

  private bump(key: keyof WireLayer['reported'], now: number, counter: { inc(by: number): void }): void {
    const before = this.reported[key];
    if (now === before) return;
    counter.inc(now - before);
    this.reported[key] = now;
  }

  private wireAedes(aedes: Aedes): void {
    const connOf = (client: Client) => (client.conn instanceof WireConnection ? client.conn : undefined);
    aedes.on('client', (client) => {
      const conn = connOf(client);
      if (!conn) return;
      // A resumed session's subscriptions were restored without a 'subscribe' event.
      const held = clientInternals(client).subscriptions;
      for (const filter of Object.keys(held)) this.routes.add(filter, conn);
      conn.release(this.captureRules(client), this.opts.takeAcks ?? false);
    });
    aedes.on('subscribe', (subs: Subscription[], client) => {
      const conn = connOf(client);
      if (!conn || conn.destroyed) return;
      let ticksFilter = false;
      for (const sub of subs) if ((sub.qos as number) !== 128 && this.routes.add(sub.topic, conn)) ticksFilter = true;
      // Aedes reads the retained messages right after this event: make them current first.
      if (ticksFilter) this.retained.flush();
    });
    aedes.on('unsubscribe', (filters: string[], client) => {
      const conn = connOf(client);
      if (!conn) return;
      for (const filter of filters) this.routes.remove(filter, conn);
    });
  }

  /** What to take off this client's wire from now on. */
  private captureRules(client: Client): CaptureRule<CapturedKind>[] {
    const rules: CaptureRule<CapturedKind>[] = [];
    try {
      if (this.opts.mayPublishTicks(client)) {
        rules.push({ kind: 'tick', prefix: TICK_PREFIX, qos: [0, 1], maxFrame: this.limits.maxTickFrame });
      }
      const intake = this.opts.chatIntake;
      for (const prefix of intake?.prefixesFor(client) ?? []) {
        rules.push({ kind: 'chat', prefix, qos: [1], maxFrame: intake!.maxFrame });
      }
    } catch (err) {
      this.opts.log.error({ err, client: client.id }, 'deciding what to take off the wire failed; Aedes parses everything');
      return [];
    }
    return rules;
  }

  private logRejection(conn: WireConnection, message: string): void {
    const now = Date.now();
    if (now - this.lastRejectionLog < 1_000) {
      this.suppressedRejections++;
      return;
    }
    this.opts.log.warn({ client: conn.client?.id, reason: message, alsoSuppressed: this.suppressedRejections }, 'tick publish refused');
    this.lastRejectionLog = now;
    this.suppressedRejections = 0;
  }
}
