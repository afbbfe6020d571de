import type { Logger } from '../../platform/logger.js';

/** The slice of an Aedes persistence the retained writer needs. */
export interface RetainedStore {
  storeRetained(packet: { cmd: 'publish'; topic: string; payload: Buffer; qos: 0; retain: true; dup: false }): Promise<void>;
}

/**
 * Keeps the retained `ticks/…` copies in the broker's persistence (memory or Redis, so a client
 * subscribing later on any node gets the latest tick through Aedes' normal retained handling)
 * without a store per tick: the latest payload per topic is written every `intervalMs`, and at once
 * when a client subscribes (the store is issued before Aedes reads the retained messages, and both
 * persistences apply commands in order, so the subscriber sees the latest tick).
 */
export class RetainedTicks {
  private dirty = new Map<string, string | Buffer>();
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
  }

  /** A Buffer must not change afterwards (it is copied only when stored). */
  set(topic: string, payload: string | Buffer): void {
    this.dirty.set(topic, payload);
  }

  /** Issue the stores for everything pending now (one per topic). */
  flush(): void {
    this.lastFlush = performance.now();
    if (this.dirty.size === 0) return;
    const batch = this.dirty;
    this.dirty = new Map();
    const store = this.store();
    const writing = Promise.all(
      [...batch].map(([topic, payload]) =>
        store.storeRetained({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false }),
      ),
    ).then(
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
