import { randomBytes } from 'node:crypto';
import type { Config } from '../protocol/config.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { SessionQueues } from './aedes/session-queues.js';
import type { OpenResult, SessionRegistry } from './session-registry.js';

/** The sweep runs at a quarter of the expiry, within these bounds. */
const SWEEP_MIN_MS = 250;
const SWEEP_MAX_MS = 5_000;
/** A node whose heartbeat is older than this is dead: others close its connections (3 missed sweeps). */
const NODE_DEAD_AFTER_MS = 3 * SWEEP_MAX_MS;
/** Sessions claimed per query; a sweep takes at most ten such batches. */
const CLAIM_BATCH = 100;
const CLAIM_BATCHES_PER_SWEEP = 10;
const ERROR_LOG_INTERVAL_MS = 10_000;
const GAUGE_TIMEOUT_MS = 1_000;

/**
 * The lifetime of a persistent session after its client left, in seconds. MQTT 3.1.1 has no way to
 * ask; an MQTT 5 client's Session Expiry Interval is honoured up to it (the smaller of the two).
 */
export function sessionExpiryS(config: Pick<Config, 'MQTT_SESSION_EXPIRY_S'>, requestedS?: number): number {
  return requestedS === undefined ? config.MQTT_SESSION_EXPIRY_S : Math.min(requestedS, config.MQTT_SESSION_EXPIRY_S);
}

/** How a connection's session outlives it (see admit). */
export interface AdmittedSession {
  /** Aedes keeps the session (3.1.1 clean session 0; MQTT 5 Clean Start 0 or a Session Expiry Interval). */
  persistent: boolean;
  /** MQTT 5: the Session Expiry Interval granted, as it is now (s). */
  expiryS?: () => number;
}

/**
 * Connections per user and the expiry of persistent sessions, on this node: admits each signed-in
 * connection through the registry (shared by the cluster in Redis), records when a persistent
 * session's client left, and sweeps: this node's heartbeat, the connections of dead nodes, and the
 * sessions whose expiry passed (each claimed by one node, which removes it).
 */
export class SessionLifecycle {
  /** Makes connection tokens unique in the cluster. */
  private readonly incarnation = `${randomBytes(6).toString('hex')}`;
  private connections = 0;
  /** Closes being recorded: stop() waits for them. */
  private readonly closing = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();
  private lastErrorLog = -Infinity;
  private readonly expired;
  private queues: SessionQueues | undefined;
  /** Between regular sweeps (ms). */
  private every = SWEEP_MAX_MS;
  /** Sweeps scheduled for sessions expiring before the next regular one. */
  private readonly early = new Set<NodeJS.Timeout>();

  constructor(
    private readonly registry: SessionRegistry,
    private readonly config: Config,
    metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.expired = metrics.counter(
      'mqtt_sessions_expired_total',
      'Persistent sessions removed MQTT_SESSION_EXPIRY_S after their client left (by this node)',
    );
    metrics.gauge(
      'mqtt_sessions_offline',
      'Persistent sessions whose client left and that have not expired yet (the whole cluster with Redis)',
      [],
      async (g) => {
        // A scrape during a Redis outage answers at once (without this gauge) instead of waiting for Redis.
        const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), GAUGE_TIMEOUT_MS).unref());
        const waiting = await Promise.race([registry.waiting(), timeout]).catch(() => undefined);
        if (waiting !== undefined) g.set(waiting);
      },
    );
  }

  /**
   * Admits a signed-in connection (owned client id). When admitted, `closed` must be called once
   * when the connection ends. `session.expiryS` is an MQTT 5 session's Session Expiry Interval,
   * read as the connection ends (a DISCONNECT may have changed it); absent, MQTT_SESSION_EXPIRY_S.
   */
  async admit(clientId: string, user: string, session: AdmittedSession): Promise<{ result: OpenResult; closed: () => void }> {
    const expiryS = session.expiryS;
    const holder = { clientId, user, persistent: session.persistent, token: `${this.incarnation}#${++this.connections}`, expiryS: expiryS?.() };
    const result = await this.registry.open(holder, this.config.MQTT_MAX_CONNECTIONS_PER_USER);
    const closed = () => {
      const expiryMs = (expiryS?.() ?? sessionExpiryS(this.config)) * 1000;
      const done = this.registry
        .close(holder, Date.now() + expiryMs)
        .then(() => this.sweepEarly(holder.persistent, expiryMs))
        .catch((err: Error) => this.failed(err, 'recording a closed connection'));
      this.closing.add(done);
      void done.then(() => this.closing.delete(done));
    };
    return { result, closed };
  }

  /**
   * Removes a stored session before its client's new connection resumes it (MQTT 5 Clean Start 1
   * with a Session Expiry Interval: a new session that outlives the connection). Call after admit.
   */
  async discard(clientId: string): Promise<void> {
    await this.queues?.forget(clientId);
  }

  /** A session expiring before the next regular sweep (MQTT 5 asks for any expiry, 0 included) gets a sweep of its own. */
  private sweepEarly(persistent: boolean, expiryMs: number): void {
    if (!persistent || expiryMs >= this.every || !this.timer) return;
    const timer = setTimeout(() => {
      this.early.delete(timer);
      void this.sweep();
    }, expiryMs);
    timer.unref();
    this.early.add(timer);
  }

  /**
   * Sweeps from now on, removing expired sessions from `queues` (Aedes' session store), and gives
   * every stored session the registry does not know an expiry (sessions from before this version).
   */
  start(queues: SessionQueues): void {
    this.queues = queues;
    queues
      .stored()
      .then((ids) => this.registry.adopt(ids, Date.now() + sessionExpiryS(this.config) * 1000))
      .catch((err: Error) => this.failed(err, 'adopting stored sessions'));
    this.every = Math.min(SWEEP_MAX_MS, Math.max(SWEEP_MIN_MS, (sessionExpiryS(this.config) * 1000) / 4));
    this.timer = setInterval(() => void this.sweep(), this.every);
    this.timer.unref();
    void this.sweep();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const timer of this.early) clearTimeout(timer);
    this.early.clear();
    await Promise.all([this.sweeping, ...this.closing]);
  }

  /** One sweep; a sweep still running is not overlapped. */
  sweep(): Promise<void> {
    this.sweeping = this.sweeping.then(() => this.sweepOnce().catch((err: Error) => this.failed(err, 'sweeping sessions')));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const now = Date.now();
    const recovered = await this.registry.heartbeat(now, now - NODE_DEAD_AFTER_MS, now + sessionExpiryS(this.config) * 1000);
    if (recovered > 0) this.log.info({ nodes: recovered }, 'closed the connections of dead broker nodes');
    for (let batch = 0; batch < CLAIM_BATCHES_PER_SWEEP; batch++) {
      const ids = await this.registry.claimExpired(now, CLAIM_BATCH);
      for (const id of ids) await this.remove(id);
      if (ids.length < CLAIM_BATCH) return;
    }
  }

  private async remove(clientId: string): Promise<void> {
    try {
      await this.queues?.forget(clientId);
      this.expired.inc();
      this.log.debug({ client: clientId }, 'persistent session expired');
    } catch (err) {
      this.failed(err as Error, 'removing an expired session');
      // Tried again at a later sweep.
      await this.registry.reschedule(clientId, Date.now() + SWEEP_MAX_MS).catch(() => {});
    } finally {
      await this.registry.removed(clientId).catch(() => {});
    }
  }

  private failed(err: Error, what: string): void {
    if (performance.now() - this.lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    this.lastErrorLog = performance.now();
    this.log.warn({ err: err.message }, `session registry failed ${what}; retrying`);
  }
}
