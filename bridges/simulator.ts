import type { Logger } from '../platform/logger.js';
import type { TickHub, TickSource } from '../platform/tick-hub.js';
import { poissonIntervalMs, seededRandom, TickGenerator } from './tick-generator.js';

export interface SimulatorOptions {
  symbols: readonly string[];
  /** Mean ticks per second per symbol (FEED_SIM_RATE); arrivals are a Poisson process. */
  ratePerSymbol?: number;
  log?: Logger;
  /** Bids the walks continue from (the last stored quote per symbol), so a restart does not jump. */
  resumeBids?: ReadonlyMap<string, number>;
  /** Seed for reproducible prices and arrival times (tests). */
  seed?: number;
  now?: () => number;
}

/** Wake-ups closer than this are merged into one batch, so high rates cost few timers. */
const MIN_WAKE_MS = 10;
/** After a stall (suspended laptop, blocked loop) skip ahead instead of bursting the missed ticks. */
const MAX_BACKLOG_MS = 1000;

/**
 * The in-process MT feed (`FEED_SIM`, used when `AMQP_URL` is unset): each symbol emits quotes at
 * jittered intervals into the hub. Ticks due at the same wake-up go out as one batch, each stamped
 * with its own scheduled instant (never in the future).
 */
export class Simulator implements TickSource {
  private readonly symbols: readonly string[];
  private readonly rate: number;
  private readonly random: () => number;
  private readonly generator: TickGenerator;
  private readonly now: () => number;
  private readonly nextAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private hub: TickHub | undefined;

  constructor(private readonly opts: SimulatorOptions) {
    if (opts.symbols.length === 0) throw new Error('simulator needs at least one symbol');
    this.symbols = opts.symbols;
    this.rate = opts.ratePerSymbol ?? 10;
    if (!(this.rate > 0 && Number.isFinite(this.rate))) throw new Error(`simulator rate must be positive, got ${this.rate}`);
    this.random = opts.seed === undefined ? Math.random : seededRandom(opts.seed);
    this.generator = new TickGenerator(this.random);
    for (const [symbol, bid] of opts.resumeBids ?? []) this.generator.resume(symbol, bid);
    this.now = opts.now ?? Date.now;
  }

  async start(hub: TickHub): Promise<void> {
    if (this.hub) throw new Error('simulator already started');
    this.hub = hub;
    const now = this.now();
    for (const symbol of this.symbols) this.nextAt.set(symbol, now + poissonIntervalMs(this.rate, this.random));
    this.opts.log?.info({ symbols: this.symbols, ratePerSymbol: this.rate }, 'feed simulator started');
    this.schedule();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.hub) this.opts.log?.info('feed simulator stopped');
    this.hub = undefined;
  }

  private schedule(): void {
    const earliest = Math.min(...this.nextAt.values());
    this.timer = setTimeout(() => this.emitDue(), Math.max(MIN_WAKE_MS, earliest - this.now()));
  }

  private emitDue(): void {
    const hub = this.hub;
    if (!hub) return;
    const now = this.now();
    const due: { at: number; symbol: string }[] = [];
    for (const symbol of this.symbols) {
      let at = Math.max(this.nextAt.get(symbol) as number, now - MAX_BACKLOG_MS);
      for (; at <= now; at += poissonIntervalMs(this.rate, this.random)) due.push({ at, symbol });
      this.nextAt.set(symbol, at);
    }
    due.sort((a, b) => a.at - b.at);
    hub.publish(due.map(({ at, symbol }) => this.generator.next(symbol, at)));
    this.schedule();
  }
}
