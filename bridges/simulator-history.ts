import type { RoleContext } from '../platform/context.js';
import type { Logger } from '../platform/logger.js';
import type { Config } from '../protocol/config.js';
import type { Resolution } from '../protocol/names.js';
import { candleModeOf, type CandleMode, type SeriesBar } from '../ohlcv/aggregate.js';
import { simulatedHistory } from './simulated-history.js';
import { openCandleStore, type CandleStore } from '../ohlcv/store.js';

/** What a start with the built-in simulator does about candle history. */
export interface SimulatorHistoryPlan {
  /** Each symbol's walk continues from its last stored quote. */
  resume: boolean;
  /** Days of history generated for symbols that have none (0: none). */
  generateDays: number;
}

/**
 * Only where the simulator's ticks make the candles: simulator and candle store in this process and
 * no real feed. History made up beside a real feed's would be a lie on its chart.
 */
export function simulatorHistoryPlan(
  config: Pick<Config, 'FEED_SIM' | 'AMQP_URL' | 'FEED_SIM_HISTORY_DAYS'>,
  roles: readonly string[],
): SimulatorHistoryPlan {
  const local = config.FEED_SIM && config.AMQP_URL === undefined && roles.includes('bridge') && roles.includes('ohlcv');
  return { resume: local, generateDays: local ? config.FEED_SIM_HISTORY_DAYS : 0 };
}

/**
 * Run before the simulator starts: returns the bids its walks resume from (symbols with history),
 * and starts generating history in the background for symbols without any (their walk starts at
 * the profile's price, where the generated history ends). Generation stops on shutdown.
 */
export async function prepareSimulatorHistory(ctx: RoleContext, roles: readonly string[]): Promise<ReadonlyMap<string, number>> {
  const plan = simulatorHistoryPlan(ctx.config, roles);
  const resumeBids = new Map<string, number>();
  if (!plan.resume) return resumeBids;
  const store = await openCandleStore(await ctx.database());
  const missing: string[] = [];
  for (const symbol of ctx.config.SYMBOLS) {
    if ((await store.seriesRevision(symbol, '1')) === undefined) {
      missing.push(symbol);
      continue;
    }
    const bid = (await store.symbol(symbol))?.bid;
    if (bid) resumeBids.set(symbol, bid);
  }
  if (missing.length > 0 && plan.generateDays > 0) {
    const backfill = new HistoryBackfill({
      store,
      symbols: missing,
      end: Date.now(),
      days: plan.generateDays,
      ratePerSymbol: ctx.config.FEED_SIM_RATE,
      mode: candleModeOf(ctx.config),
      log: ctx.log.child({ component: 'simulated-history' }),
    });
    backfill.start();
    ctx.shutdown.add('simulated-history', () => backfill.stop());
  }
  return resumeBids;
}

/** What a chart asks for first: hourly and coarser bars of the whole span, finer ones of the last hours. */
const COARSE: ReadonlySet<Resolution> = new Set(['60', '240', '1D', '1W', '1M']);
const RECENT_MS = 6 * 3_600_000;
const RECENT_SECONDS_MS = 10 * 60_000;
/** Rows per insert: large enough to be fast on PGlite, small enough that live commits interleave. */
const BATCH_ROWS = 5000;

interface BackfillOptions {
  store: CandleStore;
  symbols: readonly string[];
  end: number;
  days: number;
  ratePerSymbol: number;
  mode: CandleMode;
  log: Logger;
}

class Stopped extends Error {}

/**
 * Two passes so every symbol has a usable chart within seconds: first each symbol's recent and
 * coarse bars, then the rest, newest first. The second pass generates the same walk again rather
 * than keeping every symbol's months of minutes in memory.
 */
class HistoryBackfill {
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(private readonly opts: BackfillOptions) {}

  start(): void {
    this.running = this.run().catch((err: unknown) => {
      if (!(err instanceof Stopped)) this.opts.log.error({ err }, 'simulated history not completed');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async run(): Promise<void> {
    const { store, symbols, days, end, log } = this.opts;
    const started = performance.now();
    log.info({ symbols, days }, 'generating simulated candle history (no history stored for these symbols)');
    const recent = (b: SeriesBar) => COARSE.has(b.resolution) || b.bar.time >= end - (b.resolution === '1S' ? RECENT_SECONDS_MS : RECENT_MS);
    for (const symbol of symbols) {
      const history = await this.generate(symbol);
      await this.write(history.bars.filter(recent));
      await store.commit(() => ({ bars: [], symbols: [history.last] }));
    }
    log.info({ symbols, ms: Math.round(performance.now() - started) }, 'simulated history: hourly and coarser bars and the last hours written');
    let written = 0;
    for (const symbol of symbols) {
      const older = (await this.generate(symbol)).bars.filter((b) => !recent(b));
      await this.write(older.sort((a, b) => b.bar.time - a.bar.time));
      written += older.length;
    }
    log.info({ symbols, olderBars: written, ms: Math.round(performance.now() - started) }, 'simulated history complete');
  }

  private generate(symbol: string) {
    const { end, days, ratePerSymbol, mode } = this.opts;
    return simulatedHistory({ symbol, end, days, ratePerSymbol, mode }, () => this.pause());
  }

  private async write(bars: readonly SeriesBar[]): Promise<void> {
    for (let i = 0; i < bars.length; i += BATCH_ROWS) {
      await this.pause();
      await this.opts.store.importBars(bars.slice(i, i + BATCH_ROWS));
    }
  }

  private pause(): Promise<void> {
    if (this.stopped) return Promise.reject(new Stopped('shutting down'));
    return new Promise((resolve) => setImmediate(resolve));
  }
}
