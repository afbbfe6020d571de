import type { EngineChoice, RoleContext } from '../platform/context.js';
import type { Logger } from '../platform/logger.js';
import type { Resolution } from '../protocol/names.js';
import { candleModeOf, type CandleMode, type SeriesBar } from '../ohlcv/aggregate.js';
import { historyStart, SimulatedHistoryWalk } from './simulated-history.js';
import { openCandleStore, type CandleStore, type GeneratedHistoryMark } from '../ohlcv/store.js';

/** What a start with the built-in simulator does about candle history. */
export interface SimulatorHistoryPlan {
  /** Each symbol's walk continues from its last stored quote. */
  resume: boolean;
  /** Days of history generated for symbols that have none (0: none). */
  generateDays: number;
}

/**
 * Only where the simulator's ticks make the candles: the simulator is the feed (no RabbitMQ) and
 * the candle store is in this process. History made up beside a real feed's would be a lie on its chart.
 */
export function simulatorHistoryPlan(feed: EngineChoice['feed'], historyDays: number, roles: readonly string[]): SimulatorHistoryPlan {
  const local = feed === 'simulator' && roles.includes('bridge') && roles.includes('ohlcv');
  return { resume: local, generateDays: local ? historyDays : 0 };
}

/**
 * Run before the simulator starts: returns the bids its walks resume from (symbols with a stored
 * quote), and in the background generates history for symbols without any (their walk starts at
 * the profile's price, where the generated history ends) and finishes history an earlier start
 * left half written. Generation stops on shutdown.
 */
export async function prepareSimulatorHistory(ctx: RoleContext, roles: readonly string[]): Promise<ReadonlyMap<string, number>> {
  const plan = simulatorHistoryPlan(ctx.engines.feed, ctx.config.FEED_SIM_HISTORY_DAYS, roles);
  const resumeBids = new Map<string, number>();
  if (!plan.resume) return resumeBids;
  const store = await openCandleStore(await ctx.database());
  const end = Date.now();
  const jobs: HistoryJob[] = [];
  for (const symbol of ctx.config.SYMBOLS) {
    const mark = await store.generatedHistory(symbol);
    if (mark && (mark.writtenFrom ?? Infinity) > historyStart(mark.end, mark.days)) jobs.push({ ...mark, firstPass: false });
    if (!mark && (await store.seriesRevision(symbol, '1')) === undefined) {
      if (plan.generateDays > 0) jobs.push({ symbol, end, days: plan.generateDays, firstPass: true });
      continue;
    }
    const bid = (await store.symbol(symbol))?.bid;
    if (bid) resumeBids.set(symbol, bid);
  }
  if (jobs.length > 0) {
    const backfill = new HistoryBackfill({
      store,
      jobs,
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

/** One symbol's history to write: all of it (`firstPass`), or the older bars from `writtenFrom` back. */
interface HistoryJob extends GeneratedHistoryMark {
  firstPass: boolean;
}

interface BackfillOptions {
  store: CandleStore;
  jobs: readonly HistoryJob[];
  ratePerSymbol: number;
  mode: CandleMode;
  log: Logger;
}

class Stopped extends Error {}

/**
 * Two passes so every symbol has a usable chart within seconds: first each symbol's recent and
 * coarse bars, then the rest, a day at a time, newest first. Each pass walks the history a day at
 * a time (the second walks it again rather than keeping months of minutes in memory), and each
 * write records how far the symbol's history reaches, so an interrupted start resumes where it
 * stopped instead of leaving a gap or counting a day's volume twice.
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
    const { jobs, log } = this.opts;
    const started = performance.now();
    const fresh = jobs.filter((j) => j.firstPass);
    const symbols = jobs.map((j) => j.symbol);
    if (fresh.length > 0) {
      log.info(
        { symbols: fresh.map((j) => j.symbol), days: fresh[0].days },
        'generating simulated candle history (no history stored for these symbols)',
      );
    }
    if (fresh.length < jobs.length) {
      log.info(
        { symbols: jobs.filter((j) => !j.firstPass).map((j) => j.symbol) },
        'finishing the simulated candle history an earlier start left half written',
      );
    }
    for (const job of fresh) await this.firstPass(job);
    if (fresh.length > 0)
      log.info({ symbols, ms: Math.round(performance.now() - started) }, 'simulated history: hourly and coarser bars and the last hours written');
    let written = 0;
    for (const job of jobs) written += await this.olderBars(job);
    log.info({ symbols, olderBars: written, ms: Math.round(performance.now() - started) }, 'simulated history complete');
  }

  private walk(job: HistoryJob): SimulatedHistoryWalk {
    const { ratePerSymbol, mode } = this.opts;
    return new SimulatedHistoryWalk({ symbol: job.symbol, end: job.end, days: job.days, ratePerSymbol, mode }, () => this.pause());
  }

  /** The symbol's coarse and recent bars and its last quote, in one transaction with its mark. */
  private async firstPass(job: HistoryJob): Promise<void> {
    const walk = this.walk(job);
    const bars: SeriesBar[] = [];
    for await (const day of walk.days()) for (const b of day.bars) if (isRecent(b, job.end)) bars.push(b);
    bars.push(...walk.weeksAndMonths());
    await this.opts.store.importGenerated(bars, { symbol: job.symbol, end: job.end, days: job.days }, [walk.last]);
  }

  /** The rest, a day per transaction, newest first, skipping the days an earlier start wrote. */
  private async olderBars(job: HistoryJob): Promise<number> {
    let written = 0;
    for await (const day of this.walk(job).days()) {
      if (day.start >= (job.writtenFrom ?? Infinity)) continue;
      const older = day.bars.filter((b) => !isRecent(b, job.end)).sort((a, b) => b.bar.time - a.bar.time);
      await this.opts.store.importGenerated(older, { symbol: job.symbol, end: job.end, days: job.days, writtenFrom: day.start });
      written += older.length;
    }
    return written;
  }

  private pause(): Promise<void> {
    if (this.stopped) return Promise.reject(new Stopped('shutting down'));
    return new Promise((resolve) => setImmediate(resolve));
  }
}

/** Written by the first pass: hourly and coarser bars, and the finer ones of the last hours. */
function isRecent(b: SeriesBar, end: number): boolean {
  return COARSE.has(b.resolution) || b.bar.time >= end - (b.resolution === '1S' ? RECENT_SECONDS_MS : RECENT_MS);
}
