/**
 * Progress of a feed tool on stderr: one line per second while running (sent, rate, elapsed),
 * then a summary line.
 */
export class FeedProgress {
  sent = 0;
  private lastSent = 0;
  private readonly startedAt: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: { write(text: string): unknown },
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }

  start(): void {
    this.timer = setInterval(() => this.report(), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  elapsedSeconds(): number {
    return (this.now() - this.startedAt) / 1000;
  }

  /** The per-second line; `report` prints it. */
  line(): string {
    const rate = this.sent - this.lastSent;
    this.lastSent = this.sent;
    return `sent ${this.sent}  rate ${rate}/s  elapsed ${this.elapsedSeconds().toFixed(0)}s`;
  }

  report(): void {
    this.out.write(`${this.line()}\n`);
  }

  summary(extra: Record<string, number | string>): string {
    const seconds = this.elapsedSeconds();
    const counts = [`sent ${this.sent}`, ...Object.entries(extra).map(([k, v]) => `${k} ${v}`)].join(', ');
    const rate = seconds > 0 ? Math.round(this.sent / seconds) : this.sent;
    return `${counts} in ${seconds.toFixed(1)}s (${rate}/s)`;
  }
}
