import { performance } from 'node:perf_hooks';
import type { RouteTable } from './route-table.js';
import { SlicedWrites } from './sliced-writes.js';
import type { SubscriberWriter, WriterStats } from './subscriber-writer.js';
import { batchDeadlines, tickExpiry } from './tick-expiry.js';
import { TickWindow } from './tick-window.js';
import type { WireConnection } from './wire-connection.js';
import type { WireLimits } from './wire-options.js';

/** How long the event loop's busy share is measured before the write window acts on it. */
const LOOP_SAMPLE_MS = 100;
/** A window's writes go out in slices of about this long, with the event loop's I/O in between (see SlicedWrites). */
const WRITE_SLICE_MS = 4;
const WRITERS_PER_CLOCK_READ = 32;

/** The wire layer's end-of-turn flush, which the fan-out joins (see WireLayer.runTurn). */
export interface Turn {
  schedule(): void;
}

/**
 * Ticks from every source, gathered per topic and handed to their subscribers' writers: at the end of
 * each write window (each client gets the latest tick of each of its symbols, in one write), or with
 * no window at the end of the turn (each topic's frames joined once).
 */
export class TickFanOut {
  private gathered = new Map<string, Buffer[]>();
  private readonly window: TickWindow;
  /** The pending window flush. */
  private windowTimer: NodeJS.Timeout | undefined;
  /** Writers holding this window's ticks, until the window ends. */
  private readonly windowWriters = new Set<SubscriberWriter>();
  /** The window being written, slice by slice. */
  private readonly windowWrites = new SlicedWrites<SubscriberWriter>({ sliceMs: WRITE_SLICE_MS, writersPerClockRead: WRITERS_PER_CLOCK_READ });
  private readonly windowWritten = (costMs: number) => this.onWindowWritten(costMs);
  private readonly flushWindow = () => this.runWindow();
  /** The event loop's busy share over the latest sampling period, and where that period began. */
  private loopBusy = 0;
  private loopSample = { at: performance.now(), elu: performance.eventLoopUtilization() };
  /** Ticks replaced by a newer one of the same symbol within a write window. */
  windowConflated = 0;
  /** Feed time (UTC ms) of the oldest tick taken in this turn; Infinity when none. */
  private oldestTickInTurn = Infinity;
  private closed = false;

  constructor(
    private readonly limits: WireLimits,
    private readonly routes: RouteTable<WireConnection>,
    private readonly turn: Turn,
    /** Writers the turn flushes: without a write window, the ones given ticks. */
    private readonly turnWriters: Set<SubscriberWriter>,
    private readonly stats: WriterStats,
    private readonly tickLatency: { observe(seconds: number): void },
  ) {
    this.window = new TickWindow(limits.writeWindowMs, Math.max(limits.writeWindowMs, limits.maxWriteWindowMs));
  }

  get windowMs(): number {
    return this.window.ms;
  }

  /** `timeMsc`: the tick's feed time, for the latency of the turn's oldest tick (Infinity: not measured). */
  enqueue(topic: string, frame: Buffer, timeMsc: number): void {
    const frames = this.gathered.get(topic);
    if (frames) frames.push(frame);
    else this.gathered.set(topic, [frame]);
    this.turn.schedule();
    if (this.limits.writeWindowMs > 0 && this.windowTimer === undefined && !this.windowWrites.running) {
      this.windowTimer = setTimeout(this.flushWindow, this.window.ms);
    }
    if (timeMsc < this.oldestTickInTurn) this.oldestTickInTurn = timeMsc;
  }

  /** A closed connection's writer. */
  forget(writer: SubscriberWriter): void {
    this.windowWriters.delete(writer);
  }

  /** Shutdown: what is gathered goes to the writers at once, and every writer still holding ticks joins the turn. */
  close(): void {
    this.closed = true;
    clearTimeout(this.windowTimer);
    this.fanOut();
    for (const writer of [...this.windowWrites.pending, ...this.windowWriters]) this.turnWriters.add(writer);
    this.windowWriters.clear();
    this.windowWrites.abandon();
  }

  /**
   * The gathered ticks to their subscribers' writers. With a write window only each topic's latest
   * frame goes (conflation inside the window); without one each topic's frames are joined once.
   */
  fanOut(): void {
    const gathered = this.gathered;
    if (gathered.size === 0) return;
    this.gathered = new Map();
    const windowed = this.limits.writeWindowMs > 0;
    for (const [topic, frames] of gathered) {
      const route = this.routes.lookup(topic);
      if (route.length === 0) continue;
      const latest = frames[frames.length - 1];
      const dropped = windowed ? frames.length - 1 : 0;
      const batch = windowed || frames.length === 1 ? latest : Buffer.concat(frames);
      if (batch !== latest && tickExpiry.active) {
        const deadlines = batchDeadlines(frames);
        if (deadlines) tickExpiry.set(batch, deadlines);
      }
      const writers = windowed ? this.windowWriters : this.turnWriters;
      for (const conn of route) {
        conn.writer.offerTicks(topic, batch, latest, frames.length - dropped);
        writers.add(conn.writer);
      }
      this.stats.routed += dropped * route.length;
      this.windowConflated += dropped * route.length;
    }
  }

  /** One observation per turn, of its oldest tick: what the slowest tick of the turn waited. */
  observeTickLatency(): void {
    if (this.oldestTickInTurn === Infinity) return;
    this.tickLatency.observe(Math.max(0, Date.now() - this.oldestTickInTurn) / 1000);
    this.oldestTickInTurn = Infinity;
  }

  /**
   * A write window ends: each client gets the latest tick of each of its symbols, in one write.
   * Ticks arriving while the writes go out wait for the next window, which opens once they are
   * written: however long they take, the loop has a whole window's time for everything else.
   */
  private runWindow(): void {
    this.windowTimer = undefined;
    const started = performance.now();
    this.fanOut();
    const writers = [...this.windowWriters];
    this.windowWriters.clear();
    this.windowWrites.start(writers, performance.now() - started, this.windowWritten);
  }

  private onWindowWritten(costMs: number): void {
    this.observeTickLatency();
    const windowMs = this.window.update(costMs, this.sampleLoop(performance.now()));
    if (this.gathered.size > 0 && this.windowTimer === undefined && !this.closed) this.windowTimer = setTimeout(this.flushWindow, windowMs);
  }

  /** The loop's busy share, sampled over periods of at least LOOP_SAMPLE_MS (a few ms alone say little: a GC, one burst of reads). */
  private sampleLoop(now: number): number {
    if (now - this.loopSample.at < LOOP_SAMPLE_MS) return this.loopBusy;
    const elu = performance.eventLoopUtilization();
    this.loopBusy = performance.eventLoopUtilization(elu, this.loopSample.elu).utilization;
    this.loopSample = { at: now, elu };
    return this.loopBusy;
  }
}
