/** Share of the event loop busy (not waiting for I/O) above which the node counts as saturated. */
const SATURATED = 0.9;

/**
 * How long ticks gather before they are written (pure). Within a window each client gets only the
 * latest tick per symbol, in one write with whatever else it has queued. While flushing ticks would
 * take over half of the event loop, or the loop is saturated, the window stretches (up to `maxMs`):
 * ticks conflate harder and leave less often, and chat, PUBACKs and reads keep the rest of the
 * loop. Once the load passes it shrinks back toward `baseMs`. Saturation is the loop's own busy
 * share, not timer lateness: a process the OS leaves waiting is late without being busy.
 */
export class TickWindow {
  private current: number;
  /** Flush cost, smoothed: one flush the OS preempted must not stretch the window on its own. */
  private flushAverage: number | undefined;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {
    this.current = baseMs;
  }

  get ms(): number {
    return this.current;
  }

  /** After a flush that cost `flushMs`, with the loop busy `utilization` (0-1) over the latest sampling period. */
  update(flushMs: number, utilization: number): number {
    this.flushAverage = this.flushAverage === undefined ? flushMs : 0.8 * this.flushAverage + 0.2 * flushMs;
    let wanted = Math.max(this.baseMs, 2 * this.flushAverage);
    if (utilization > SATURATED) wanted = Math.max(wanted, 2 * this.current);
    wanted = Math.min(this.maxMs, wanted);
    // Stretch at once, shrink by a quarter of the way per flush: one quiet window does not bring the load back.
    this.current = wanted >= this.current ? wanted : this.current + (wanted - this.current) / 4;
    return this.current;
  }
}
