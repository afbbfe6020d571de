import {
  drawSpreadPoints,
  drawTrade,
  gaussian,
  MEAN_REVERSION,
  roundPrice,
  seededRandom,
  symbolProfile,
  type SymbolProfile,
} from './tick-generator.js';
import type { Tick } from '../protocol/tick.js';
import { rollUpEvery, tickPrice, tickVolume, type CandleMode, type SeriesBar } from '../ohlcv/aggregate.js';
import type { Bar } from '../ohlcv/bar.js';
import { bucketStart, DAY_MS } from '../ohlcv/bucket.js';
import type { SymbolSighting } from '../ohlcv/symbols.js';
import type { Resolution } from '../protocol/names.js';

/**
 * History for the built-in simulator's symbols on a first start: the simulator's own walk (profile,
 * spread, digits, trade prints) run backwards from the live start, so the chart has months behind
 * the first live tick and no jump at it. Deterministic: the same symbol and end give the same bars.
 */
export interface SimulatedHistoryOptions {
  symbol: string;
  /** The live simulator starts here (UTC ms); every generated tick is before it. */
  end: number;
  /** Whole UTC days of 1-minute bars before the day of `end`. */
  days: number;
  /** FEED_SIM_RATE: one generated point stands for this many live ticks per second (volume). */
  ratePerSymbol: number;
  mode: CandleMode;
}

export interface SimulatedHistory {
  /** Every resolution; 1S covers the last hour, the others the whole span. */
  bars: SeriesBar[];
  /** The newest generated quote: the live simulator continues from its bid. */
  last: SymbolSighting;
}

/** One UTC day of generated history. */
export interface HistoryDay {
  /** The day's first millisecond (UTC); the oldest day starts the span, the newest ends at `end`. */
  start: number;
  /** Bars of 1S to 1D whose bucket lies in the day, ascending per resolution. */
  bars: SeriesBar[];
}

/** Points per 1-minute bar: enough for wicks, cheap over 130,000 minutes. */
const POINTS_PER_MINUTE = 6;
/** The newest minutes are generated second by second, so the 1S chart has history too. */
const SECOND_BAR_MINUTES = 60;
/** Rolled up across days, from the 1D bars, once every day is generated. */
const LONGER_THAN_A_DAY: ReadonlySet<Resolution> = new Set(['1W', '1M']);
/**
 * A slow trend under the live walk (which reverts to its start within hours): months of history
 * look like a market, not a flat band. Time constant and size relative to the tick volatility.
 */
const TREND_TIME_MS = 30 * DAY_MS;
const TREND_SIZE = 2500;

/** Bars of `length` ms from `from` (inclusive) to `to` (exclusive), `points` generated quotes each. */
interface Segment {
  length: number;
  points: number;
  from: number;
  to: number;
}

/** The first millisecond of the generated span: whole UTC days before the day of `end`. */
export function historyStart(end: number, days: number): number {
  return bucketStart(end, '1D') - days * DAY_MS;
}

/**
 * The history one day at a time, newest first, so months of it never sit in memory at once; the
 * walk is the same whichever way it is cut. Yields to the event loop (`pause`) between days, so a
 * start-up generating months of history keeps serving. Deterministic whatever `pause` does.
 */
export class SimulatedHistoryWalk {
  private readonly walk: BackwardWalk;
  /** The 1D bars yielded so far, newest first: 1W and 1M are rolled up from them (`weeksAndMonths`). */
  private readonly dayBars: Bar[] = [];

  constructor(
    private readonly opts: SimulatedHistoryOptions,
    private readonly pause: () => Promise<void> = yieldToLoop,
  ) {
    this.walk = new BackwardWalk(opts);
  }

  /** The newest generated quote (known once the first day is out): the live simulator continues from its bid. */
  get last(): SymbolSighting {
    return this.walk.newest ?? this.walk.sighting(this.opts.end);
  }

  async *days(): AsyncGenerator<HistoryDay> {
    const { end, days, symbol } = this.opts;
    const secondsFrom = bucketStart(end, '1') - (SECOND_BAR_MINUTES - 1) * 60_000;
    // Newest first: the walk starts at the live start price and steps back in time.
    const secondBars = this.walk.bars({ length: 1000, points: 1, from: secondsFrom, to: bucketStart(end, '1S') }).reverse();
    const secondMinutes = rollUpEvery('1S', secondBars).get('1') ?? [];
    const first = historyStart(end, days);
    for (let day = bucketStart(bucketStart(end, '1S') - 1, '1D'); day >= first; day -= DAY_MS) {
      await this.pause();
      const to = Math.min(day + DAY_MS, secondsFrom);
      const minutes = to > day ? this.walk.bars({ length: 60_000, points: POINTS_PER_MINUTE, from: day, to }).reverse() : [];
      for (const bar of secondMinutes) if (bucketStart(bar.time, '1D') === day) minutes.push(bar);
      const bars: SeriesBar[] = [];
      for (const [resolution, resBars] of rollUpEvery('1', minutes)) {
        if (!LONGER_THAN_A_DAY.has(resolution)) for (const bar of resBars) bars.push({ symbol, resolution, bar });
        if (resolution === '1D') this.dayBars.push(...resBars);
      }
      for (const bar of secondBars) if (bucketStart(bar.time, '1D') === day) bars.push({ symbol, resolution: '1S', bar });
      yield { start: day, bars };
    }
  }

  /** 1W and 1M bars of the days yielded so far (the whole span once `days` is done). */
  weeksAndMonths(): SeriesBar[] {
    const out: SeriesBar[] = [];
    for (const [resolution, bars] of rollUpEvery('1D', [...this.dayBars].reverse())) {
      if (LONGER_THAN_A_DAY.has(resolution)) for (const bar of bars) out.push({ symbol: this.opts.symbol, resolution, bar });
    }
    return out;
  }
}

/** The whole history at once (tests and small spans; a start-up streams `SimulatedHistoryWalk.days`). */
export async function simulatedHistory(opts: SimulatedHistoryOptions, pause: () => Promise<void> = yieldToLoop): Promise<SimulatedHistory> {
  const walk = new SimulatedHistoryWalk(opts, pause);
  const days: SeriesBar[][] = [];
  for await (const day of walk.days()) days.push(day.bars);
  return { bars: [...days.reverse().flat(), ...walk.weeksAndMonths()], last: walk.last };
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A seed per symbol name (FNV-1a), so every symbol walks its own way, the same on every start. */
function symbolSeed(symbol: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < symbol.length; i++) hash = Math.imul(hash ^ symbol.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * The simulator's log-price walk (TickGenerator: per tick `volatility` noise and MEAN_REVERSION
 * towards the start) taken `w` live ticks per point in one exact AR(1) step, plus the slow trend.
 * An AR(1) process reversed in time is the same process, so stepping backwards is as plausible.
 */
class BackwardWalk {
  private readonly profile: SymbolProfile;
  private readonly random: () => number;
  private readonly point: number;
  /** Deviation of the log price from the start: the live walk's part and the trend's. */
  private fast = 0;
  private trend = 0;
  /** The reused quote that tickPrice/tickVolume read. */
  private readonly quote: Tick;
  newest: SymbolSighting | undefined;

  constructor(private readonly opts: SimulatedHistoryOptions) {
    this.profile = symbolProfile(opts.symbol);
    this.random = seededRandom(symbolSeed(opts.symbol));
    this.point = 10 ** -this.profile.digits;
    this.quote = { symbol: opts.symbol, time_msc: 0, bid: 0, ask: 0, last: 0, volume: 0, flags: 0 };
  }

  /** The segment's bars, newest first. */
  bars(seg: Segment): Bar[] {
    const ticksPerPoint = (this.opts.ratePerSymbol * seg.length) / 1000 / seg.points;
    const keep = (1 - MEAN_REVERSION) ** ticksPerPoint;
    const fastSd = this.profile.volatility * Math.sqrt((1 - keep * keep) / (1 - (1 - MEAN_REVERSION) ** 2));
    const trendKeep = Math.exp(-seg.length / TREND_TIME_MS);
    const trendSd = TREND_SIZE * this.profile.volatility * Math.sqrt(1 - trendKeep * trendKeep);
    const out: Bar[] = [];
    for (let time = seg.to - seg.length; time >= seg.from; time -= seg.length) {
      let bar: Bar | undefined;
      for (let j = seg.points - 1; j >= 0; j--) {
        const at = time + Math.floor(((j + 0.5) * seg.length) / seg.points);
        bar = this.extendBackwards(bar, time, at, ticksPerPoint);
        this.fast = this.fast * keep + fastSd * gaussian(this.random);
      }
      this.trend = this.trend * trendKeep + trendSd * gaussian(this.random);
      if (bar) out.push(bar);
    }
    return out;
  }

  sighting(time: number): SymbolSighting {
    return { symbol: this.opts.symbol, digits: this.profile.digits, time, bid: this.quote.bid, ask: this.quote.ask };
  }

  /** Quotes the walk at `at` and adds it to `bar` as its earliest tick so far (or starts the bar). */
  private extendBackwards(bar: Bar | undefined, time: number, at: number, ticksPerPoint: number): Bar | undefined {
    const { profile, quote } = this;
    quote.bid = roundPrice(profile.start * Math.exp(this.fast + this.trend), profile.digits);
    quote.ask = roundPrice(quote.bid + drawSpreadPoints(profile, this.random) * this.point, profile.digits);
    if (profile.trades) {
      const trade = drawTrade(quote.bid, quote.ask, this.random);
      quote.last = trade.last;
      quote.volume = trade.volume;
      quote.volume_real = trade.volume_real;
    }
    this.newest ??= this.sighting(at);
    const price = tickPrice(quote, this.opts.mode.price);
    // Like the aggregator: a tick without a price in this mode (no `last` on forex) makes no bar.
    if (!(price > 0)) return bar;
    const volume = tickVolume(quote, this.opts.mode.volume) * ticksPerPoint;
    if (!bar) return { time, open: price, high: price, low: price, close: price, volume, openTime: at, closeTime: at };
    bar.open = price;
    bar.openTime = at;
    if (price > bar.high) bar.high = price;
    if (price < bar.low) bar.low = price;
    bar.volume += volume;
    return bar;
  }
}
