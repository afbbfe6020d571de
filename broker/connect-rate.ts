/**
 * Fixed one-second windows of new connections per remote address (pure; the clock is injected).
 * Bounded: the table is cleared every window, so a scan from many addresses cannot grow it past
 * one second's worth of addresses.
 */
export class ConnectRate {
  private window = -1;
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  admit(address: string): boolean {
    const w = Math.floor(this.now() / 1000);
    if (w !== this.window) {
      this.window = w;
      this.counts.clear();
    }
    const n = (this.counts.get(address) ?? 0) + 1;
    this.counts.set(address, n);
    return n <= this.perSecond;
  }
}
