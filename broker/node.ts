import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { decodeJwt } from 'jose';
import type { Config } from '../protocol/config.js';
import type { Principal } from '../protocol/identity.js';
import { TOPIC_FAMILIES, topicFamily, topics, type TopicFamily } from '../protocol/topics.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { TokenVerifier } from './auth.js';
import { isAllowed, type Access } from './acl.js';
import type { OperatorAcl } from './acl-file.js';
import type { BrokerExtension, ClientInfo, ClientPublish } from './extensions.js';
import { guardPackets } from './packet-guard.js';
import { DEFAULT_LIMITS, WireLayer } from './wire/wire-layer.js';
import { installQoSDelivery } from './aedes/qos-delivery.js';
import { QoSForwarder } from './aedes/qos-forward.js';
import { gateClientDeliveries, orderResumedSessions } from './aedes/resume-order.js';

const require = createRequire(import.meta.url);

/** Topic a refused or extension-dropped publish is renamed to: acked, then swallowed by the emitter. */
const DROPPED_TOPIC = '$ticktalk/dropped';

/**
 * The ACL's tick-publisher rule depends on the client's role only (the symbol of each tick is
 * validated by the fast path), so one question at CONNECT decides it for the whole connection.
 */
const TICK_PERMISSION_PROBE = topics.tick('EURUSD');

export interface BrokerNodeOptions {
  config: Config;
  log: Logger;
  metrics: Metrics;
  auth: TokenVerifier;
  operatorAcl?: OperatorAcl;
  /** Overrides config.REDIS_URL (tests run two nodes against one Redis database). */
  redisUrl?: string;
}

interface ClientState {
  who: Principal;
  /** Filters this node granted the client: the subscription cap and what persistence may store. */
  filters: Set<string>;
  /** Set in preConnect: MQTT-3.1.3-8 needs CONNACK 2, which only the authenticate step can send. */
  refuseIdentifier: boolean;
  /**
   * The ACL's answer for the last topic this client published on: a chatting client publishes on
   * one room at a time, and the answer depends on nothing that changes during a connection.
   */
  lastPublish?: { topic: string; allowed: boolean };
}

/**
 * One Aedes broker node: identity on CONNECT, the ACL on SUBSCRIBE and PUBLISH, extensions in the
 * publish path, and the cluster wiring (mqemitter-redis + aedes-persistence-redis) when Redis is
 * configured. Listeners hand it connections; other roles publish through it.
 */
export class BrokerNode {
  readonly id: string;
  private readonly state = new WeakMap<Client, ClientState>();
  private readonly extensions: BrokerExtension[] = [];
  private readonly out: Record<TopicFamily, { inc(): void }>;
  private readonly incoming: Record<TopicFamily, { inc(): void }>;
  private readonly violations: { inc(): void };
  private readonly denied;
  private closing: Promise<void> | undefined;
  /** Forwards the publishes extensions take (see forward). */
  private readonly forwarder: QoSForwarder;

  private constructor(
    readonly aedes: Aedes,
    /** Tick publishing and fan-out (see broker/wire). */
    readonly ticks: WireLayer,
    private readonly opts: BrokerNodeOptions,
    private readonly closeBackends: () => Promise<void>,
    /** Cluster link state (always true for a single in-memory node). */
    readonly clusterConnected: () => boolean,
    clustered: boolean,
  ) {
    this.id = aedes.id;
    this.forwarder = new QoSForwarder(aedes, clustered ? undefined : ticks, opts.log.child({ component: 'forward' }));
    const { metrics } = opts;
    const outCounter = metrics.counter('mqtt_messages_out_total', 'Messages delivered to MQTT clients', ['family']);
    const inCounter = metrics.counter('mqtt_messages_in_total', 'Messages published into the broker', ['family']);
    this.out = Object.fromEntries(TOPIC_FAMILIES.map((f) => [f, outCounter.labels(f)])) as never;
    this.incoming = Object.fromEntries(TOPIC_FAMILIES.map((f) => [f, inCounter.labels(f)])) as never;
    this.violations = metrics.counter('mqtt_protocol_violations_total', 'Connections closed for malformed or oversized packets');
    this.denied = metrics.counter('mqtt_acl_denials_total', 'Subscriptions and publishes refused by the ACL', ['access']);
    this.wire();
  }

  static async start(opts: BrokerNodeOptions): Promise<BrokerNode> {
    const redisUrl = opts.redisUrl ?? opts.config.REDIS_URL;
    const backends = redisUrl ? clusterBackends(redisUrl, opts.log.child({ component: 'cluster' })) : undefined;
    const mq = backends?.mq ?? require('mqemitter')();
    swallowDropped(mq);
    const aedes = await Aedes.createBroker({
      id: opts.config.NODE_ID,
      mq,
      persistence: backends?.persistence,
      concurrency: 1000,
      connectTimeout: 10_000,
      heartbeatInterval: 5_000,
      maxClientsIdLength: 256,
      queueLimit: 1000,
    });
    let node: BrokerNode | undefined;
    storeGrantedOnly(aedes, (client, topic) => node?.granted(client, topic) ?? false);
    orderResumedSessions(aedes);
    const ticks = await WireLayer.start({
      aedes,
      log: opts.log.child({ component: 'wire' }),
      metrics: opts.metrics,
      nodeId: opts.config.NODE_ID,
      mayPublishTicks: (client) => node?.may(client, 'publish', TICK_PERMISSION_PROBE) ?? false,
      takeAcks: true,
      chatIntake: {
        maxFrame: opts.config.MQTT_MAX_PACKET,
        prefixesFor: (client) => node?.intakePrefixes(client) ?? [],
        onPublish: (client, publish, settle) => (node ? node.intakePublish(client, publish, settle) : settle(new Error('broker not started'))),
      },
      cluster: redisUrl ? { redisUrl } : undefined,
      // Tick frames taken off the wire never bypass the MQTT_MAX_PACKET bound the packet guard enforces.
      limits: { maxTickFrame: Math.min(DEFAULT_LIMITS.maxTickFrame, opts.config.MQTT_MAX_PACKET) },
    });
    node = new BrokerNode(
      aedes,
      ticks,
      opts,
      async () => {
        await backends?.close();
      },
      () => (backends?.connected() ?? true) && ticks.clusterConnected(),
      backends !== undefined,
    );
    return node;
  }

  addExtension(ext: BrokerExtension): void {
    this.extensions.push(ext);
  }

  /** ACL decision for an authenticated client, for paths that bypass Aedes (the tick fast path). */
  may(client: Client, access: Access, topic: string): boolean {
    const st = this.state.get(client);
    return st !== undefined && isAllowed(st.who, access, topic, this.aclContext(client));
  }

  /** Whether this node granted `client` the subscription `topic` (ACL and cap passed). */
  granted(client: Client, topic: string): boolean {
    return this.state.get(client)?.filters.has(topic) ?? false;
  }

  /** Extension topic prefixes the fast path takes off this client's wire: none for anonymous clients. */
  intakePrefixes(client: Client): string[] {
    if (!this.state.get(client)?.who) return [];
    return this.extensions.flatMap((e) => [...e.publishPrefixes]);
  }

  /**
   * A QoS 1 publish the fast path took off the wire: decided as Aedes' authorizePublish would, then
   * forwarded (offline sessions, subscribers, the cluster) and acknowledged as QoSForwarder orders it.
   */
  intakePublish(client: Client, publish: ClientPublish, settle: (err?: Error) => void): void {
    // What Aedes' own PUBLISH handling would close the connection for (MQTT-3.3.2-2, MQTT-4.7.3-2).
    const malformed = malformedTopicName(publish.topic);
    if (malformed) return settle(new Error(malformed));
    const decision = this.decide(client, () => publish);
    if (decision === 'refused') return settle();
    if (decision === 'as-is') return this.forward(publish.topic, publish.payload, settle);
    decision.then(
      (payload) => (payload === null ? settle() : this.forward(publish.topic, payload, settle)),
      (err: Error) => settle(this.extensionFailed(err, client, publish.topic)),
    );
  }

  /** The PUBACK goes once the message is queued for every persistent session (see QoSForwarder). */
  private forward(topic: string, payload: Buffer, settle: (err?: Error) => void): void {
    this.incoming[topicFamily(topic)].inc();
    this.forwarder.forward(topic, payload, settle);
  }

  /**
   * The ACL, then the extension owning the topic, decide a client's publish: refused (acked and
   * dropped), forwarded as sent (no extension owns it), or the extension's verdict: the payload to
   * forward, null to ack and drop, a rejection for "not handled" (see extensionFailed).
   */
  private decide(client: Client, publish: () => ClientPublish): 'refused' | 'as-is' | Promise<Buffer | null> {
    const st = this.state.get(client);
    const { topic } = publish();
    const ext = this.extensions.find((e) => e.publishPrefixes.some((p) => topic.startsWith(p)));
    if (!st || !this.mayPublish(client, st, topic)) {
      // Acknowledge and drop, as Mosquitto does for MQTT 3.1.1; the owning extension may explain.
      this.denied.labels('publish').inc();
      if (st?.who) ext?.onDeniedPublish?.(this.info(client), publish());
      return 'refused';
    }
    if (!ext) return 'as-is';
    return ext.onClientPublish(this.info(client), publish());
  }

  private mayPublish(client: Client, st: ClientState, topic: string): boolean {
    if (st.lastPublish?.topic !== topic) {
      st.lastPublish = { topic, allowed: isAllowed(st.who, 'publish', topic, this.aclContext(client)) };
    }
    return st.lastPublish.allowed;
  }

  /**
   * PUBACK means stored: when the extension could not do its work, no ack is sent and the
   * connection closes, so the client retransmits instead of believing it delivered.
   */
  private extensionFailed(err: Error, client: Client, topic: string): Error {
    this.opts.log.error({ err, topic, client: client.id }, 'publish extension failed; closing without PUBACK');
    return err;
  }

  /** Hand a new transport connection (TCP socket or WebSocket stream) to the broker. */
  handle(transport: Duplex, req?: IncomingMessage): Client {
    // Aedes sees the transport through the fast path, which takes tick and chat publishes and
    // PUBACKs off the wire and owns every write to the client; the packet guard then watches what
    // Aedes is given.
    const conn = this.ticks.wrap(transport);
    guardPackets(conn, this.opts.config.MQTT_MAX_PACKET, (err) => {
      this.violations.inc();
      this.opts.log.warn({ err: err.message }, 'closing connection: bad packet');
    });
    return this.aedes.handle(conn, req);
  }

  publish(packet: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean }): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (err?: Error | null) => (err ? reject(err) : resolve());
      // QoS 1 (chat events, bot messages) takes the clients' forwarder: a bot message stored in the
      // same commit as a client's then reaches subscribers in seq order, not ahead of it.
      if (packet.qos === 1 && !packet.retain) return this.forwarder.forward(packet.topic, packet.payload, settle);
      this.aedes.publish({ cmd: 'publish', dup: false, ...packet } as PublishPacket, settle);
    });
  }

  /** Every connected client, for a gradual drain on shutdown. */
  clients(): Client[] {
    return Object.values((this.aedes as unknown as { clients: Record<string, Client> }).clients);
  }

  close(): Promise<void> {
    this.closing ??= this.ticks
      .close()
      .then(() => new Promise<void>((resolve) => this.aedes.close(() => resolve())))
      .then(this.closeBackends);
    return this.closing;
  }

  private aclContext(client: Client) {
    return {
      allowAnonymousMarketData: this.opts.config.ALLOW_ANONYMOUS_MARKET_DATA,
      operator: this.opts.operatorAcl,
      clientId: client.id,
    };
  }

  private info(client: Client): ClientInfo {
    return { id: client.id, who: this.state.get(client)?.who ?? null, node: this.id };
  }

  private wire(): void {
    const { aedes, opts } = this;
    const { config, log, metrics } = opts;
    const refusals = metrics.counter('mqtt_auth_refusals_total', 'CONNECTs refused', ['reason']);
    const denied = this.denied;
    metrics.gauge('mqtt_connections', 'Connected MQTT clients', [], (g) => g.set(aedes.connectedClients));

    aedes.preConnect = (client, packet, done) => {
      // MQTT-3.1.2-14: a will QoS of 3 is a protocol violation (the parser lets it through).
      if (packet.will && (packet.will.qos as number) > 2) return done(new Error('will QoS 3'), false);
      // Before the session is restored: Aedes captures the delivery function with each subscription.
      installQoSDelivery(client);
      gateClientDeliveries(client);
      this.state.set(client, { who: null, filters: new Set(), refuseIdentifier: packet.clientId === '' && packet.clean === false });
      // MQTT 3.1.1 has no server keepalive: a client asking for none or more than the limit is held
      // to the limit, so an idle or half-open connection is always reaped.
      if (!packet.keepalive || packet.keepalive > config.MQTT_MAX_KEEPALIVE_S) packet.keepalive = config.MQTT_MAX_KEEPALIVE_S;
      done(null, true);
    };

    aedes.authenticate = (client, _username, password, done) => {
      const st = this.state.get(client);
      const refuse = (code: 2 | 5, reason: string) => {
        refusals.labels(reason).inc();
        const err = Object.assign(new Error(reason), { returnCode: code });
        done(err as never, false);
      };
      if (!st || st.refuseIdentifier) return refuse(2, 'identifier rejected');
      if (!password || password.length === 0) {
        if (!config.ALLOW_ANONYMOUS_MARKET_DATA && !opts.operatorAcl) return refuse(5, 'anonymous');
        client.id = ownedClientId(null, client.id);
        return done(null, true);
      }
      const token = password.toString('utf8');
      opts.auth.verify(token).then(
        (who) => {
          st.who = who;
          client.id = ownedClientId(who, client.id);
          closeAtExpiry(client, token);
          done(null, true);
        },
        (err: Error) => {
          log.info({ client: client.id, reason: err.message }, 'connect refused');
          refuse(5, 'bad token');
        },
      );
    };

    aedes.authorizeSubscribe = (client, sub: Subscription, done) => {
      // MQTT-4.7.3-2: a topic filter with U+0000 is malformed; the connection is closed.
      if (sub.topic.includes('\u0000')) return done(new Error('topic filter contains U+0000'));
      const st = this.state.get(client);
      const ok =
        st !== undefined &&
        (st.filters.has(sub.topic) || st.filters.size < config.MQTT_MAX_SUBSCRIPTIONS) &&
        isAllowed(st.who, 'subscribe', sub.topic, this.aclContext(client));
      if (!ok) {
        denied.labels('subscribe').inc();
        return done(null, null);
      }
      st.filters.add(sub.topic);
      done(null, sub);
    };

    // What the fast path does not take (QoS 0 and 2, anonymous clients, oversized frames) comes here.
    aedes.authorizePublish = (client, packet, done) => {
      if (!client) return done(null);
      // Aedes checked the rest of the name already; U+0000 is the one it lets through.
      const malformed = malformedTopicName(packet.topic);
      if (malformed) return done(new Error(malformed));
      const decision = this.decide(client, () => ({
        topic: packet.topic,
        payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
        qos: packet.qos,
        retain: packet.retain,
      }));
      if (decision === 'refused') return done(drop(packet));
      if (decision === 'as-is') return done(null);
      decision.then(
        (payload) => {
          if (payload === null) return done(drop(packet));
          packet.payload = payload;
          done(null);
        },
        (err: Error) => done(this.extensionFailed(err, client, packet.topic)),
      );
    };

    aedes.authorizeForward = (_client, packet) => {
      this.out[topicFamily(packet.topic)].inc();
      return packet;
    };

    aedes.on('publish', (packet, client) => {
      if (client && packet.topic !== DROPPED_TOPIC) this.incoming[topicFamily(packet.topic)].inc();
    });
    aedes.on('subscribe', (subs, client) => {
      // Aedes reports refused filters too (granted 0x80): extensions only hear of granted ones.
      const topics = subs.filter((s) => (s.qos as number) !== 128).map((s) => s.topic);
      if (topics.length === 0) return;
      for (const ext of this.extensions) ext.onSubscribe?.(this.info(client), topics);
    });
    aedes.on('unsubscribe', (topics, client) => {
      const st = this.state.get(client);
      for (const t of topics) st?.filters.delete(t);
      for (const ext of this.extensions) ext.onUnsubscribe?.(this.info(client), topics);
    });
    aedes.on('clientDisconnect', (client) => {
      for (const ext of this.extensions) ext.onDisconnect?.(this.info(client));
    });
    // Aedes reports failures of its session store here (offline queueing, the periodic will sweep);
    // unheard, the event would end the process.
    (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err }, 'broker persistence error'));
    aedes.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'client error'));
    aedes.on('connectionError', (client, err) => log.debug({ client: client?.id, err: err.message }, 'connection error'));
  }
}

const AEDES_MAX_TOPIC_LEVELS = 100;

/** Why a PUBLISH topic name breaks MQTT 3.1.1 (or Aedes' level bound), or null when it does not. */
function malformedTopicName(topic: string): string | null {
  if (topic.length === 0) return 'empty topic name';
  if (topic.includes('#') || topic.includes('+')) return 'wildcard in a topic name';
  if (topic.includes('\u0000')) return 'topic name contains U+0000';
  // Aedes' default bound on topic levels (100): only a name that long can exceed it.
  if (topic.length >= AEDES_MAX_TOPIC_LEVELS && topic.split('/').length > AEDES_MAX_TOPIC_LEVELS) return 'topic has too many levels';
  return null;
}

/**
 * A token is checked at CONNECT only, so a connection outliving its token's `exp` is closed then:
 * the client must reconnect with a fresh token (its persistent session resumes).
 */
function closeAtExpiry(client: Client, verifiedToken: string): void {
  const exp = decodeJwt(verifiedToken).exp;
  const conn = (client as unknown as { conn: Duplex }).conn;
  // Gone while the token was being verified: no 'close' would ever clear the timer.
  if (exp === undefined || conn.destroyed) return;
  // setTimeout holds at most ~24.8 days; a longer-lived token is re-checked at its next CONNECT anyway.
  const ms = Math.min(exp * 1000 - Date.now(), 2 ** 31 - 1);
  const timer = setTimeout(() => client.close(), Math.max(ms, 0));
  timer.unref();
  conn.once('close', () => clearTimeout(timer));
}

/**
 * Sessions belong to whoever made them: the client id Aedes keys sessions (and takeovers) by is
 * qualified with the authenticated user, so reusing someone else's client id with clean session
 * false resumes nothing of theirs, receives none of their queued messages and cannot kick them off.
 * Set in the authenticate step, before Aedes looks the session up.
 */
export function ownedClientId(who: Principal, requested: string): string {
  // `~` cannot start a user id (USER_PATTERN), so anonymous sessions never meet a user's.
  return `${who === null ? '~anonymous' : who.sub}:${requested}`;
}

/** Returns null (proceed) after renaming the packet so it is acked but never forwarded or retained. */
function drop(packet: PublishPacket): null {
  packet.topic = DROPPED_TOPIC;
  packet.retain = false;
  return null;
}

/**
 * Aedes stores a persistent session's SUBSCRIBE as the packet's whole filter list, refused filters
 * included, and would later queue and deliver QoS 1 messages on them without asking the ACL again.
 * Only filters this node granted reach the persistence.
 */
function storeGrantedOnly(aedes: Aedes, granted: (client: Client, topic: string) => boolean): void {
  const persistence = (aedes as unknown as {
    persistence: { addSubscriptions: (client: Client, subs: Subscription[], cb?: unknown) => unknown };
  }).persistence;
  const add = persistence.addSubscriptions.bind(persistence);
  persistence.addSubscriptions = (client, subs, cb) => add(client, subs.filter((sub) => granted(client, sub.topic)), cb);
}

function swallowDropped(mq: { emit: (packet: { topic: string }, cb?: (err?: Error) => void) => unknown }): void {
  const emit = mq.emit.bind(mq);
  mq.emit = (packet, cb) => {
    if (packet.topic === DROPPED_TOPIC) {
      if (cb) process.nextTick(cb);
      return;
    }
    return emit(packet, cb);
  };
}

function clusterBackends(url: string, log: Logger) {
  const mqemitterRedis = require('mqemitter-redis') as (opts: object) => {
    emit: (p: { topic: string }, cb?: (err?: Error) => void) => unknown;
    state: { on(event: 'error', listener: (err: Error) => void): unknown };
  };
  const persistenceRedis = require('aedes-persistence-redis') as (opts: object) => {
    /** Without a callback it returns the promise (the callback form waits for an event Aedes 1.x never emits). */
    destroy(): Promise<void>;
  };
  // Our own connections: mqemitter-redis quits them with a bare promise that rejects if the socket
  // closes before the QUIT reply, which would surface as an unhandled rejection at shutdown. Their
  // errors are logged here: unheard, an 'error' event would take the process down with Redis.
  let lastErrorLog = 0;
  const onError = (err: Error) => {
    // ioredis retries every couple of seconds while Redis is away: one line per 10 s is enough.
    if (performance.now() - lastErrorLog < 10_000) return;
    lastErrorLog = performance.now();
    log.warn({ err: err.message }, 'cluster redis unavailable; retrying');
  };
  const connection = () => {
    const conn = new Redis(url, { enableAutoPipelining: true });
    const quit = conn.quit.bind(conn);
    conn.quit = (() => quit().catch(() => 'OK')) as typeof conn.quit;
    conn.on('error', onError);
    return conn;
  };
  const conns = [connection(), connection()];
  const mq = mqemitterRedis({ pubConn: conns[0], subConn: conns[1] });
  mq.state.on('error', onError);
  // The session store gets a connection of its own (not the emitter's), made here so that its
  // errors are heard too: unheard, ioredis printed them to stderr outside the structured log.
  const sessions = new Redis(url);
  sessions.on('error', onError);
  const persistence = persistenceRedis({ conn: sessions, maxSessionDelivery: 10_000 });
  return {
    mq,
    persistence,
    connected: () => conns.every((c) => c.status === 'ready'),
    // Aedes closes the emitter itself; the persistence is ours to release.
    close: () => persistence.destroy(),
  };
}

