import type { Logger } from '../../platform/logger.js';

/** The slice of an Aedes persistence the retained writer needs. */
export interface RetainedStore {
  storeRetained(packet: { cmd: 'publish'; topic: string; payload: Buffer; qos: 0; retain: true; dup: false; messageExpiry?: number }): Promise<void>;
}

/**
 * Keeps the retained `ticks/…` copies in the broker's persistence (memory or Redis, so a client
 * subscribing later on any node gets the latest tick through Aedes' normal retained handling)
 * without a store per tick: the latest payload per topic is written every `intervalMs`, and at once
 * when a client subscribes (the store is issued before Aedes reads the retained messages, and both
 * persistences apply commands in order, so the subscriber sees the latest tick).
 *
 * A tick an MQTT 5 feed published with a Message Expiry Interval is stored with its expiry (an
 * MQTT 5 subscriber's encoder withholds it once past) and removed from the store when it passes
 * (swept every `intervalMs`), so no later subscriber of either protocol gets it stale.
 */
export class RetainedTicks {
  private dirty = new Map<string, string | Buffer>();
  /** Topics whose latest retained tick expires, and when (ms since the epoch). */
  private readonly expiring = new Map<string, number>();
  private lastSweep = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private lastFlush = performance.now();

  constructor(
    private readonly store: () => RetainedStore,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.flushIfDue(), intervalMs);
    this.timer.unref();
  }

  /**
   * The periodic store, also called at the end of every turn (a saturated node runs its timers
   * late). It waits for the previous store, so a slow Redis never piles writes up.
   */
  flushIfDue(): void {
    if (this.inFlight.size === 0 && performance.now() - this.lastFlush >= this.intervalMs) this.flush();
    if (this.expiring.size > 0) this.sweepIfDue();
  }

  /** A Buffer must not change afterwards (it is copied only when stored). `expiry`: when it expires (ms since the epoch). */
  set(topic: string, payload: string | Buffer, expiry?: number): void {
    this.dirty.set(topic, payload);
    if (expiry !== undefined) this.expiring.set(topic, expiry);
    else if (this.expiring.size > 0) this.expiring.delete(topic);
  }

  /** Another node stored a newer tick of `topic`: ours, expiring or not, is no longer the retained one. */
  superseded(topic: string): void {
    if (this.expiring.size > 0) this.expiring.delete(topic);
  }

  /** Expired retained ticks are removed (an empty retained payload deletes it, MQTT-3.3.1-10). */
  private sweepIfDue(): void {
    const now = Date.now();
    if (now - this.lastSweep < this.intervalMs) return;
    this.lastSweep = now;
    for (const [topic, expiry] of this.expiring) {
      if (expiry > now) continue;
      this.expiring.delete(topic);
      this.dirty.delete(topic);
      this.track(this.store().storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true, dup: false }));
    }
  }

  /** Issue the stores for everything pending now (one per topic). */
  flush(): void {
    this.lastFlush = performance.now();
    if (this.dirty.size === 0) return;
    const batch = this.dirty;
    this.dirty = new Map();
    const store = this.store();
    this.track(
      Promise.all(
        [...batch].map(([topic, payload]) => {
          const expiry = this.expiring.size > 0 ? this.expiring.get(topic) : undefined;
          const packet = { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false } as const;
          return store.storeRetained(expiry === undefined ? packet : { ...packet, messageExpiry: expiry });
        }),
      ),
    );
  }

  private track(store: Promise<unknown>): void {
    const writing = store.then(
      () => undefined,
      (err: unknown) => this.log.error({ err }, 'storing retained ticks failed'),
    );
    this.inFlight.add(writing);
    void writing.finally(() => this.inFlight.delete(writing));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    await Promise.all(this.inFlight);
  }
}
