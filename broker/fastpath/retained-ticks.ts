import type { Logger } from '../../platform/logger.js';

/** The slice of an Aedes persistence the retained writer needs. */
export interface RetainedStore {
  storeRetained(packet: { cmd: 'publish'; topic: string; payload: Buffer; qos: 0; retain: true; dup: false }): Promise<void>;
}

/**
 * Keeps the retained `ticks/…` copies in the broker's persistence (memory or Redis, so a client
 * subscribing later on any node gets the latest tick through Aedes' normal retained handling)
 * without a store per tick: the latest payload per topic is written every `intervalMs`.
 */
export class RetainedTicks {
  private dirty = new Map<string, string>();
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: () => RetainedStore,
    intervalMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  set(topic: string, payload: string): void {
    this.dirty.set(topic, payload);
  }

  /** Store what is pending (one write per topic); waits for a write already under way. */
  async flush(): Promise<void> {
    if (this.writing) return this.writing;
    if (this.dirty.size === 0) return;
    const batch = this.dirty;
    this.dirty = new Map();
    const store = this.store();
    this.writing = Promise.all(
      [...batch].map(([topic, payload]) =>
        store.storeRetained({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false }),
      ),
    )
      .then(
        () => undefined,
        (err: unknown) => this.log.error({ err }, 'storing retained ticks failed'),
      )
      .finally(() => {
        this.writing = undefined;
      });
    return this.writing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await this.flush();
  }
}
