import { isJpyQuoted, symbolDigits } from '../protocol/symbols.js';
import { TICK_FLAG, type Tick } from '../protocol/tick.js';

/**
 * MT-style quotes without I/O: a mean-reverting random walk of the bid per symbol, a jittered
 * spread in points, prices rounded to the symbol's digits and MT5 change flags. Randomness is injected
 * so tests can seed it; time is passed in by the caller.
 */

export interface SymbolProfile {
  /** Decimal places of the price (MT `SYMBOL_DIGITS`). */
  digits: number;
  /** Bid the walk starts from and reverts to. */
  start: number;
  /** Typical spread in points (1 point = 10^-digits). */
  spreadPoints: number;
  /** Standard deviation of one tick's relative move. */
  volatility: number;
  /** Exchange-style instruments also print trades: `last`, `volume`, `volume_real`, BUY/SELL flags. */
  trades: boolean;
}

/** How the walk moves per known symbol; its decimals are the market's (protocol/symbols.ts). */
const WALKS: Record<string, Omit<SymbolProfile, 'digits'>> = {
  EURUSD: { start: 1.085, spreadPoints: 8, volatility: 1.2e-5, trades: false },
  GBPUSD: { start: 1.27, spreadPoints: 12, volatility: 1.5e-5, trades: false },
  USDJPY: { start: 151.5, spreadPoints: 10, volatility: 1.5e-5, trades: false },
  XAUUSD: { start: 2650, spreadPoints: 25, volatility: 2e-5, trades: false },
  BTCUSD: { start: 97_000, spreadPoints: 1500, volatility: 6e-5, trades: true },
};

/** Known symbols get their market's conventions; others look like a forex pair. */
export function symbolProfile(symbol: string): SymbolProfile {
  const digits = symbolDigits(symbol);
  const known = WALKS[symbol.toUpperCase()];
  if (known) return { digits, ...known };
  // A start derived from the name keeps unknown symbols apart on a chart and stable across runs.
  const nameFraction = [...symbol].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1000, 7) / 1000;
  const start = isJpyQuoted(symbol) ? 100 + 100 * nameFraction : 0.5 + nameFraction;
  return { digits, start, spreadPoints: 15, volatility: 1.5e-5, trades: false };
}

/** mulberry32: a small, fast, seedable PRNG, good enough for simulated prices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Milliseconds to the next event of a Poisson process: ticks arrive jittered, never in lock-step. */
export function poissonIntervalMs(ratePerSecond: number, random: () => number): number {
  return (-Math.log(1 - random()) / ratePerSecond) * 1000;
}

/** Pull towards the start price per tick, so a walk left running for days stays plausible. */
export const MEAN_REVERSION = 2e-5;

/** A spread in points jittered around the symbol's typical one, never below one point. */
export function drawSpreadPoints(profile: SymbolProfile, random: () => number): number {
  return Math.max(1, Math.round(profile.spreadPoints * (0.7 + 0.6 * random())));
}

/** A trade print at the quote (exchange-style symbols): the taker's side and a size in lots. */
export function drawTrade(bid: number, ask: number, random: () => number): { buy: boolean; last: number; volume: number; volume_real: number } {
  const buy = random() < 0.5;
  const size = roundPrice(0.01 + random() * 0.5, 2);
  return { buy, last: buy ? ask : bid, volume: Math.max(1, Math.round(size)), volume_real: size };
}

/** Standard normal draw (Box-Muller). */
export function gaussian(random: () => number): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * `value` rounded to `digits` decimals. An integer divided by a power of ten is the double nearest
 * that decimal, the same number `Number(value.toFixed(digits))` gives, without formatting text.
 */
export function roundPrice(value: number, digits: number): number {
  const scale = POWERS_OF_TEN[digits] ?? 10 ** digits;
  return Math.round(value * scale) / scale;
}

const POWERS_OF_TEN = Array.from({ length: 11 }, (_, i) => 10 ** i);

interface WalkState {
  profile: SymbolProfile;
  point: number;
  /** Unrounded log-price of the walk. */
  logMid: number;
  bid: number;
  ask: number;
}

export class TickGenerator {
  private readonly walks = new Map<string, WalkState>();

  constructor(private readonly random: () => number = Math.random) {}

  /** The next quote for `symbol` at `timeMsc`; at least one of bid and ask differs from the last one. */
  next(symbol: string, timeMsc: number): Tick {
    const walk = this.walk(symbol);
    const { profile, point } = walk;

    walk.logMid += profile.volatility * gaussian(this.random) - MEAN_REVERSION * (walk.logMid - Math.log(profile.start));
    const spreadPoints = drawSpreadPoints(profile, this.random);
    let bid = roundPrice(Math.exp(walk.logMid), profile.digits);
    let ask = roundPrice(bid + spreadPoints * point, profile.digits);
    if (bid === walk.bid && ask === walk.ask) {
      // MT never sends a tick where nothing changed: nudge the bid by one point.
      bid = roundPrice(bid + (this.random() < 0.5 ? -point : point), profile.digits);
      ask = roundPrice(bid + spreadPoints * point, profile.digits);
    }

    let flags = (bid !== walk.bid ? TICK_FLAG.BID : 0) | (ask !== walk.ask ? TICK_FLAG.ASK : 0);
    walk.bid = bid;
    walk.ask = ask;

    const tick: Tick = { symbol, time_msc: Math.round(timeMsc), bid, ask, last: 0, volume: 0, flags };
    if (profile.trades) {
      const trade = drawTrade(bid, ask, this.random);
      tick.last = trade.last;
      tick.volume = trade.volume;
      tick.volume_real = trade.volume_real;
      flags |= TICK_FLAG.LAST | TICK_FLAG.VOLUME | (trade.buy ? TICK_FLAG.BUY : TICK_FLAG.SELL);
      tick.flags = flags;
    }
    return tick;
  }

  /** Continues `symbol`'s walk from `bid` (the last stored quote) instead of the profile's start. */
  resume(symbol: string, bid: number): void {
    const walk = this.walk(symbol);
    walk.logMid = Math.log(bid);
    walk.bid = bid;
  }

  private walk(symbol: string): WalkState {
    let walk = this.walks.get(symbol);
    if (!walk) {
      const profile = symbolProfile(symbol);
      walk = { profile, point: 10 ** -profile.digits, logMid: Math.log(profile.start), bid: 0, ask: 0 };
      this.walks.set(symbol, walk);
    }
    return walk;
  }
}
