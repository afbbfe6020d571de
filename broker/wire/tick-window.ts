/**
 * How long ticks gather before they are written (pure). Within a window each client gets only the
 * latest tick per symbol, in one write with whatever else it has queued. While flushing ticks takes
 * a large share of the event loop, or the loop runs late, the window stretches (up to `maxMs`):
 * ticks conflate harder and leave less often, and chat, PUBACKs and reads keep the rest of the loop.
 * Once the load passes it shrinks back toward `baseMs`.
 */
export class TickWindow {
  private current: number;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {
    this.current = baseMs;
  }

  get ms(): number {
    return this.current;
  }

  /** After a flush that cost `flushMs` of loop time and started `lateMs` after it was due. */
  update(flushMs: number, lateMs: number): number {
    // Ticks get at most half of the loop (a flush of F ms every 2F), and a late timer means other
    // work is waiting: it gets room too.
    const wanted = Math.min(this.maxMs, Math.max(this.baseMs, 2 * flushMs + lateMs));
    // Stretch at once, shrink by a quarter of the way per flush: one quiet window does not bring the load back.
    this.current = wanted >= this.current ? wanted : this.current + (wanted - this.current) / 4;
    return this.current;
  }
}
