/** Something with queued bytes to write (a SubscriberWriter). */
export interface Flushable {
  flush(): void;
}

export interface SliceOptions {
  /** About how long one slice writes before the event loop gets its turn (ms). */
  sliceMs: number;
  /** Writers flushed between two clock reads (a clock read costs about as much as a small write's bookkeeping). */
  writersPerClockRead: number;
  now?: () => number;
  /** Runs the next slice after the loop's pending I/O (setImmediate: after the poll phase). */
  later?: (next: () => void) => void;
}

/**
 * One write window's writes, in slices (pure but for the clock and the scheduler): thousands of
 * clients' writes in one go would hold back chat, PUBACKs and CONNECTs for their whole length, so
 * after each slice the event loop reads and handles what arrived meanwhile. Every writer is flushed
 * once, in order; `done` gets the time spent writing, the slices' own time only.
 */
export class SlicedWrites<W extends Flushable> {
  private writers: readonly W[] = [];
  private next = 0;
  private costMs = 0;
  private done: ((costMs: number) => void) | undefined;
  private readonly now: () => number;
  private readonly later: (next: () => void) => void;
  private readonly continue = () => this.slice();

  constructor(private readonly opts: SliceOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.later = opts.later ?? ((next) => setImmediate(next));
  }

  /** True from start() until every writer of that window was flushed. */
  get running(): boolean {
    return this.done !== undefined;
  }

  /** Writers not flushed yet (they still hold the window's ticks). */
  get pending(): readonly W[] {
    return this.writers.slice(this.next);
  }

  /** Starts writing `writers`, the first slice at once; `startCostMs` is counted as writing time (the fan-out before it). */
  start(writers: readonly W[], startCostMs: number, done: (costMs: number) => void): void {
    if (this.done) throw new Error('a window is still being written');
    this.writers = writers;
    this.next = 0;
    this.costMs = startCostMs;
    this.done = done;
    this.slice();
  }

  /** Forgets what is left (shutdown: the caller writes it at once). */
  abandon(): void {
    this.writers = [];
    this.next = 0;
    this.done = undefined;
  }

  private slice(): void {
    const done = this.done;
    if (!done) return;
    const { writers } = this;
    const started = this.now();
    let now = started;
    while (this.next < writers.length && now - started < this.opts.sliceMs) {
      const end = Math.min(writers.length, this.next + this.opts.writersPerClockRead);
      for (let i = this.next; i < end; i++) writers[i].flush();
      this.next = end;
      now = this.now();
    }
    this.costMs += now - started;
    if (this.next < writers.length) return this.later(this.continue);
    this.writers = [];
    this.done = undefined;
    done(this.costMs);
  }
}
