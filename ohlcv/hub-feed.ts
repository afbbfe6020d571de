import type { Logger } from '../platform/logger.js';
import type { TickHub } from '../platform/tick-hub.js';
import type { Tick } from '../protocol/tick.js';

export interface HubFeedOptions {
  hub: TickHub;
  apply: (ticks: readonly Tick[]) => Promise<void>;
  log: Logger;
  flushIntervalMs?: number;
  /** Ticks held while the store is unavailable; beyond this the oldest are dropped and logged. */
  maxBuffered?: number;
}

/**
 * The aggregator's input without RabbitMQ: ticks from the in-process hub (the built-in simulator),
 * committed in batches on a timer, one batch at a time. A failed batch is retried on the next timer
 * ahead of newer ticks, so arrival order is kept.
 */
export class HubFeed {
  private buffer: Tick[] = [];
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private working: Promise<void> | undefined;
  private dropped = 0;
  /** Failed commits in a row; logged when a streak starts and when it ends, not on every retry. */
  private failures = 0;
  private readonly maxBuffered: number;

  constructor(private readonly opts: HubFeedOptions) {
    this.maxBuffered = opts.maxBuffered ?? 500_000;
  }

  start(): void {
    this.unsubscribe = this.opts.hub.subscribe((ticks) => {
      for (const t of ticks) this.buffer.push(t);
      const excess = this.buffer.length - this.maxBuffered;
      if (excess > 0) {
        this.buffer.splice(0, excess);
        this.dropped += excess;
      }
    });
    this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs ?? 100);
  }

  /** Commits what is buffered (waiting for a commit already running). */
  async flush(): Promise<void> {
    while (this.working) await this.working;
    if (this.dropped > 0) {
      this.opts.log.error({ dropped: this.dropped }, 'ohlcv dropped buffered ticks while the store was unavailable');
      this.dropped = 0;
    }
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.working = this.opts.apply(batch).then(
      () => {
        if (this.failures > 0) this.opts.log.info({ failures: this.failures }, 'ohlcv store writable again');
        this.failures = 0;
      },
      (err: unknown) => {
        if (this.failures++ === 0) this.opts.log.error({ err, ticks: batch.length }, 'ohlcv batch failed; retrying');
        this.buffer = batch.concat(this.buffer);
      },
    );
    await this.working;
    this.working = undefined;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.timer);
    await this.flush();
  }
}
