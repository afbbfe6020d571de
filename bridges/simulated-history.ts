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

/** Points per 1-minute bar: enough for wicks, cheap over 130,000 minutes. */
const POINTS_PER_MINUTE = 6;
/** The newest minutes are generated second by second, so the 1S chart has history too. */
const SECOND_BAR_MINUTES = 60;
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

/**
 * Generates a day of minutes at a time and yields to the event loop in between (`pause`), so a
 * start-up generating months of history keeps serving. Deterministic whatever `pause` does.
 */
export async function simulatedHistory(opts: SimulatedHistoryOptions, pause: () => Promise<void> = yieldToLoop): Promise<SimulatedHistory> {
  const secondsFrom = bucketStart(opts.end, '1') - (SECOND_BAR_MINUTES - 1) * 60_000;
  const walk = new BackwardWalk(opts);
  // Newest first: the walk starts at the live start price and steps back in time.
  const secondBars = walk.bars({ length: 1000, points: 1, from: secondsFrom, to: bucketStart(opts.end, '1S') }).reverse();
  const minuteChunks: Bar[][] = [];
  const firstMinute = bucketStart(opts.end, '1D') - opts.days * DAY_MS;
  for (let to = secondsFrom; to > firstMinute; to -= DAY_MS) {
    await pause();
    minuteChunks.push(walk.bars({ length: 60_000, points: POINTS_PER_MINUTE, from: Math.max(firstMinute, to - DAY_MS), to }).reverse());
  }
  const minuteBars = minuteChunks.reverse().flat();
  for (const bar of rollUpEvery('1S', secondBars).get('1') ?? []) minuteBars.push(bar);
  const byResolution = rollUpEvery('1', minuteBars);
  byResolution.set('1S', secondBars);
  const bars: SeriesBar[] = [];
  for (const [resolution, resBars] of byResolution) {
    for (const bar of resBars) bars.push({ symbol: opts.symbol, resolution, bar });
  }
  return { bars, last: walk.newest ?? walk.sighting(opts.end) };
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
