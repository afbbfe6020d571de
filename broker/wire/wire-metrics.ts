import type { Logger } from '../../platform/logger.js';
import type { Metrics } from '../../platform/metrics.js';
import type { RouteTable } from './route-table.js';
import type { WriterStats } from './subscriber-writer.js';
import type { TickRejection } from './tick-intake.js';
import type { WireConnection } from './wire-connection.js';

export type TickSource = 'feed' | 'local' | 'cluster';

/** Seconds: sub-millisecond fan-out up to the multi-second stalls an alert must see. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What report() moves into the registry: the cluster batcher's own counts. */
interface ClusterCounts {
  readonly batches: number;
  readonly dropped: number;
}

/**
 * The wire layer's instruments. The hot path only adds to plain numbers (`stats`, `incoming`, the
 * fan-out's window conflation); the counters move once per turn (report), not once per tick.
 */
export class WireMetrics {
  /** Shared by every connection's writer. */
  readonly stats: WriterStats = { routed: 0, conflated: 0, rateConflated: 0 };
  readonly incoming: Record<TickSource, number> = { feed: 0, local: 0, cluster: 0 };
  /** The QoS 1 forwarder's. */
  readonly chatLatency: { observe(seconds: number): void };
  readonly tickLatency: { observe(seconds: number): void };
  private readonly counters;
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
  private suppressedRejections = 0;
  private lastRejectionLog = 0;

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.chatLatency = metrics.histogram(
      'chat_delivery_latency_seconds',
      'QoS 1 chat message stored to fanned out on this node (cluster: to Redis taking it)',
      LATENCY_BUCKETS,
    );
    this.tickLatency = metrics.histogram(
      'tick_latency_seconds',
      "Feed timestamp of a turn's oldest tick from a feed or the bridge to its fan-out to subscribers on this node",
      LATENCY_BUCKETS,
    );
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
  }

  /** Gauges read at scrape time, once the write window and the route table exist. */
  watch(fanout: { readonly windowMs: number }, routes: RouteTable<unknown>): void {
    this.metrics.gauge('tick_write_window_ms', 'Current tick write window: MQTT_WRITE_WINDOW_MS, stretched while the node is saturated', [], (g) =>
      g.set(fanout.windowMs),
    );
    this.metrics.gauge('tick_route_subscribers', 'Connections with at least one ticks/ subscription', [], (g) => g.set(routes.subscriberCount));
  }

  /** A feed's tick publish refused: counted, and logged at most once a second (a broken feed sends thousands). */
  tickRefused(conn: WireConnection, reason: TickRejection, message: string): void {
    this.counters.rejected.labels(reason).inc();
    const now = Date.now();
    if (now - this.lastRejectionLog < 1_000) {
      this.suppressedRejections++;
      return;
    }
    this.log.warn({ client: conn.client?.id, reason: message, alsoSuppressed: this.suppressedRejections }, 'tick publish refused');
    this.lastRejectionLog = now;
    this.suppressedRejections = 0;
  }

  slowConsumer(conn: WireConnection): void {
    this.counters.slow.inc();
    this.log.warn({ client: conn.client?.id, queuedBytes: conn.writer.queuedBytes }, 'disconnecting a client that stopped reading');
  }

  /** Once per turn: what the plain numbers gained since the last report. */
  report(windowConflated: number, cluster: ClusterCounts | undefined): void {
    const { counters, stats, incoming } = this;
    this.bump('routed', stats.routed, counters.routed);
    this.bump('conflated', stats.conflated, counters.conflated.labels('backlog'));
    this.bump('windowConflated', windowConflated, counters.conflated.labels('window'));
    this.bump('rateConflated', stats.rateConflated, counters.conflated.labels('client_rate'));
    for (const source of ['feed', 'local', 'cluster'] as const) this.bump(source, incoming[source], counters.incoming.labels(source));
    this.bump('batches', cluster?.batches ?? 0, counters.batches);
    this.bump('dropped', cluster?.dropped ?? 0, counters.dropped);
  }

  private bump(key: keyof WireMetrics['reported'], now: number, counter: { inc(by: number): void }): void {
    const before = this.reported[key];
    if (now === before) return;
    counter.inc(now - before);
    this.reported[key] = now;
  }
}
