import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Config } from '../protocol/config.js';
import { topics } from '../protocol/topics.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { RedisConnections } from '../platform/redis.js';
import type { TokenVerifier } from '../platform/auth.js';
import type { OperatorAcl } from './acl-file.js';
import { aedesInternals, type Aedes, type Client } from './aedes/internals.js';
import type { ChatOrderOptions } from './aedes/chat-order.js';
import { clusterBackends, type ClusterBackends } from './aedes/cluster-backends.js';
import { trimNewClient } from './aedes/lean-client.js';
import { startAedes } from './aedes/start.js';
import { ClientAccess } from './client-access.js';
import type { BrokerExtension } from './extensions.js';
import { connectHooks } from './hooks/connect.js';
import { handoverPolicy } from './hooks/mqtt5-handover.js';
import { PublishHooks } from './hooks/publish.js';
import { authorizeSubscribe, reportSubscriptions, retainedWithheld } from './hooks/subscribe.js';
import { guardPackets } from './packet-guard.js';
import type { Closable } from './drain.js';
import { badPacketDisconnect, SERVER_DISCONNECTS } from './mqtt5/reasons.js';
import { endConnection } from './server-disconnect.js';
import { SessionLifecycle } from './session-lifecycle.js';
import { MemorySessionRegistry } from './session-registry.js';
import { RedisSessionRegistry } from './session-registry-redis.js';
import { DEFAULT_LIMITS, WireLayer } from './wire/wire-layer.js';
import { LATENCY_BUCKETS } from './wire/wire-metrics.js';

/**
 * The ACL's tick-publisher rule depends on the client's role only (the symbol of each tick is
 * validated by the wire layer), so one question at CONNECT decides it for the whole connection.
 */
const TICK_PERMISSION_PROBE = topics.tick('EURUSD');

export interface BrokerNodeOptions {
  config: Config;
  log: Logger;
  metrics: Metrics;
  auth: TokenVerifier;
  operatorAcl?: OperatorAcl;
  /** The process' Redis connections (the cluster engine chosen in cli/engines.ts); without them the node is alone. */
  redis?: RedisConnections;
}

/**
 * One broker node: Aedes (sessions, routing, the packets the wire layer leaves it) with ticktalk's
 * hooks (broker/hooks: identity on CONNECT, the ACL on SUBSCRIBE and PUBLISH, extensions in the
 * publish path), behind the wire layer (broker/wire) that fronts every connection, and the cluster
 * wiring when Redis is configured. Listeners hand it connections; other roles publish through it.
 * See broker/README.md.
 */
export class BrokerNode {
  readonly id: string;
  private readonly violations: { inc(): void };
  private closing: Promise<void> | undefined;

  private constructor(
    readonly aedes: Aedes,
    /** The front of every connection, tick publishing and fan-out (see broker/wire). */
    readonly wire: WireLayer,
    private readonly extensions: BrokerExtension[],
    private readonly opts: BrokerNodeOptions,
    private readonly cluster: { backends: ClusterBackends; redis: RedisConnections } | undefined,
    private readonly sessions: SessionLifecycle,
  ) {
    this.id = aedes.id;
    this.violations = opts.metrics.counter('mqtt_protocol_violations_total', 'Connections closed for malformed or oversized packets');
    opts.metrics.gauge('mqtt_connections', 'Connected MQTT clients', [], (g) => g.set(aedes.connectedClients));
  }

  static async start(opts: BrokerNodeOptions): Promise<BrokerNode> {
    const { config, log, metrics } = opts;
    const extensions: BrokerExtension[] = [];
    const access = new ClientAccess(config, opts.operatorAcl, metrics);
    const publishing = new PublishHooks(access, extensions, metrics, log);
    const cluster = clusterOf(opts);
    const sessions = new SessionLifecycle(
      cluster ? new RedisSessionRegistry(cluster.redis.connect('session-registry'), config.NODE_ID) : new MemorySessionRegistry(),
      config,
      metrics,
      log.child({ component: 'sessions' }),
    );
    const dropped = metrics.counter('mqtt_queue_dropped_total', 'Queued messages dropped, oldest first, from sessions over MQTT_MAX_QUEUED_MESSAGES');
    const started = await startAedes({
      id: config.NODE_ID,
      backends: cluster?.backends,
      hooks: {
        ...connectHooks({ config, auth: opts.auth, operatorAcl: opts.operatorAcl, access, sessions, metrics, log }),
        authorizeSubscribe: authorizeSubscribe(access, config.MQTT_MAX_SUBSCRIPTIONS),
        authorizePublish: publishing.authorizePublish,
        authorizeForward: publishing.authorizeForward,
      },
      granted: access.granted,
      retainedWithheld,
      queues: { max: config.MQTT_MAX_QUEUED_MESSAGES, dropped: (count) => dropped.inc(count) },
      heartbeatMs: config.CLUSTER_HEARTBEAT_S * 1000,
      handover: handoverPolicy,
      log,
    });
    const aedes = started.aedes;
    sessions.start(started.sessions);
    const wire = await WireLayer.start({
      aedes,
      log: log.child({ component: 'wire' }),
      metrics,
      nodeId: config.NODE_ID,
      mayPublishTicks: (client) => access.may(client, 'publish', TICK_PERMISSION_PROBE),
      takeAcks: true,
      chatIntake: { maxFrame: config.MQTT_MAX_PACKET, prefixesFor: publishing.intakePrefixes, onPublish: publishing.intakePublish },
      cluster: cluster ? { redis: cluster.redis } : undefined,
      // Tick frames taken off the wire never bypass the MQTT_MAX_PACKET bound the packet guard enforces.
      limits: {
        maxTickFrame: Math.min(DEFAULT_LIMITS.maxTickFrame, config.MQTT_MAX_PACKET),
        writeWindowMs: config.MQTT_WRITE_WINDOW_MS,
        maxWriteWindowMs: config.MQTT_WRITE_WINDOW_MAX_MS,
      },
    });
    // After the wire layer's listeners: it routes a new subscription (and refreshes retained ticks) first.
    publishing.countPublishes(aedes);
    reportSubscriptions(aedes, access, extensions);
    return new BrokerNode(aedes, wire, extensions, opts, cluster, sessions);
  }

  addExtension(ext: BrokerExtension): void {
    this.extensions.push(ext);
  }

  /** Cluster link state (always true for a single in-memory node). */
  clusterConnected(): boolean {
    return (this.cluster?.backends.connected() ?? true) && this.wire.clusterConnected();
  }

  /** Hand a new transport connection (TCP socket or WebSocket stream) to the broker. */
  handle(transport: Duplex, req?: IncomingMessage): Client {
    // Aedes sees the transport through the wire layer, which takes tick and chat publishes and
    // PUBACKs off the wire and owns every write to the client; the packet guard then watches what
    // Aedes is given.
    const conn = this.wire.wrap(transport);
    guardPackets(
      conn,
      this.opts.config.MQTT_MAX_PACKET,
      (err) => {
        this.violations.inc();
        this.opts.log.warn({ err: err.message }, 'closing connection: bad packet');
        // MQTT 5: a DISCONNECT saying why (0x95 too large, 0x81 malformed); 3.1.1: closed.
        conn.disconnect(badPacketDisconnect(err));
      },
      () => conn.mqtt5 !== undefined,
    );
    const client = this.aedes.handle(conn, req);
    trimNewClient(client);
    return client;
  }

  publish(packet: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean }): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (err?: Error | null) => (err ? reject(err) : resolve());
      // QoS 1 (chat events, bot messages) takes the clients' forwarder: a bot message stored in the
      // same commit as a client's then reaches subscribers in seq order, not ahead of it.
      if (packet.qos === 1 && !packet.retain) return this.wire.forwarder.forward(packet.topic, packet.payload, settle);
      this.aedes.publish({ cmd: 'publish', dup: false, ...packet }, settle);
    });
  }

  /** Every connected client, for a gradual drain on shutdown. */
  clients(): Client[] {
    return Object.values(aedesInternals(this.aedes).clients);
  }

  /** Every connected client as the drain closes it: MQTT 5 clients get DISCONNECT 0x8B (server shutting down). */
  clientsToDrain(): Closable[] {
    return this.clients().map((client) => ({ close: () => endConnection(client, SERVER_DISCONNECTS.shuttingDown) }));
  }

  close(): Promise<void> {
    this.closing ??= this.wire
      .close()
      .then(() => new Promise<void>((resolve) => this.aedes.close(() => resolve())))
      .then(() => this.sessions.stop())
      .then(() => this.closeCluster());
    return this.closing;
  }

  private async closeCluster(): Promise<void> {
    if (!this.cluster) return;
    // The connections themselves belong to the process (cli/engines.ts closes them after every role).
    await this.cluster.backends.close();
  }
}

/** With the process' Redis connections: the emitter and session store Aedes clusters with. */
function clusterOf(opts: BrokerNodeOptions) {
  const { redis } = opts;
  // Registered on every node, so a dashboard's query finds it (empty) on a node alone.
  const latency = opts.metrics.histogram(
    'chat_cluster_delivery_latency_seconds',
    "a chat message from its server stamp (`ts`, on the node that stored it) to its hand-over to this node's subscribers after the trip through Redis (cluster only: the nodes' clocks must agree)",
    LATENCY_BUCKETS,
  );
  if (!redis) return undefined;
  // A queued message outlives any session that could still take it (see docs/protocol.md#sessions).
  const backends = clusterBackends(redis, opts.log.child({ component: 'cluster' }), {
    queuedMessageTtlS: 2 * opts.config.MQTT_SESSION_EXPIRY_S,
    chatOrder: chatOrderOptions(opts, latency),
  });
  return { backends, redis };
}

function chatOrderOptions({ config, metrics }: BrokerNodeOptions, latency: { observe(seconds: number): void }): ChatOrderOptions {
  const held = metrics.counter('chat_order_held_total', 'chat messages from Redis held back until an earlier seq of their conversation arrived');
  const gaps = metrics.counter('chat_order_gaps_total', 'waits for an earlier chat seq that ended without it (CLUSTER_CHAT_ORDER_WAIT_MS)');
  return {
    waitMs: config.CLUSTER_CHAT_ORDER_WAIT_MS,
    maxConversations: 100_000,
    maxHeld: 1_000,
    held: () => held.inc(),
    gap: () => gaps.inc(),
    delivered: (stampMs) => latency.observe(Math.max(0, Date.now() - stampMs) / 1000),
  };
}
