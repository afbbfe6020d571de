/**
 * Group commit: items submitted while a write is in flight are written together by the next one,
 * so the number of transactions stays flat however many publishes arrive at once. One write at a
 * time also keeps this process's appends in submission order.
 */
export class GroupCommit<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private running: Promise<void> | null = null;

  constructor(
    private readonly write: (items: readonly I[]) => Promise<O[]>,
    private readonly maxBatch = 500,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running) return;
    this.running = this.nextTurn()
      .then(() => this.drain())
      .finally(() => {
        this.running = null;
        // Items submitted between the loop's last check and this callback still get written.
        if (this.queue.length > 0) this.kick();
      });
  }

  /** Resolves once everything submitted so far is written (or failed): for shutdown. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * The first item of a burst waits for the rest of its event-loop turn: publishes parsed from the
   * same socket reads then share one write instead of the first going alone and the others
   * waiting a whole round trip for it.
   */
  private nextTurn(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const out = await this.write(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(out[i]));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
  }
}
