import type { Tick } from '../protocol/tick.js';
import { symbolDigits } from '../protocol/symbols.js';

/**
 * Symbol metadata for UDF: what kind of instrument a name is, how it is described, and how many
 * decimals its prices carry. Pure; the store keeps what was seen.
 */

/** TradingView's symbol types (UDF `type`); metals are `commodity` there. */
export type SymbolType = 'forex' | 'commodity' | 'crypto' | 'cfd';

export interface SymbolInfo {
  symbol: string;
  type: SymbolType;
  exchange: string;
  description: string;
  /** Decimals of the price: seen on the feed when any tick was, else the market's convention. */
  digits: number;
}

/** Feeds here are MetaTrader servers; UDF needs an exchange name for grouping and search. */
export const EXCHANGE = 'MT5';

const CURRENCIES: Record<string, string> = {
  USD: 'US Dollar',
  EUR: 'Euro',
  GBP: 'British Pound',
  JPY: 'Japanese Yen',
  CHF: 'Swiss Franc',
  AUD: 'Australian Dollar',
  NZD: 'New Zealand Dollar',
  CAD: 'Canadian Dollar',
  SEK: 'Swedish Krona',
  NOK: 'Norwegian Krone',
  DKK: 'Danish Krone',
  PLN: 'Polish Zloty',
  HUF: 'Hungarian Forint',
  CZK: 'Czech Koruna',
  TRY: 'Turkish Lira',
  ZAR: 'South African Rand',
  MXN: 'Mexican Peso',
  SGD: 'Singapore Dollar',
  HKD: 'Hong Kong Dollar',
  CNH: 'Chinese Yuan',
  RUB: 'Russian Ruble',
};
const METALS: Record<string, string> = { XAU: 'Gold', XAG: 'Silver', XPT: 'Platinum', XPD: 'Palladium' };
const COINS: Record<string, string> = {
  BTC: 'Bitcoin',
  ETH: 'Ethereum',
  LTC: 'Litecoin',
  XRP: 'XRP',
  SOL: 'Solana',
  ADA: 'Cardano',
  DOGE: 'Dogecoin',
};

export function describeSymbol(symbol: string, digitsSeen: number | null): SymbolInfo {
  const upper = symbol.toUpperCase();
  const pair = /^([A-Z]{3,4})([A-Z]{3})$/.exec(upper);
  const quoteName = pair ? CURRENCIES[pair[2]] : undefined;
  const base = pair?.[1] ?? '';
  let type: SymbolType = 'cfd';
  let description = symbol;
  if (quoteName && CURRENCIES[base]) {
    type = 'forex';
    description = `${CURRENCIES[base]} / ${quoteName}`;
  } else if (quoteName && METALS[base]) {
    type = 'commodity';
    description = `${METALS[base]} / ${quoteName}`;
  } else if (quoteName && COINS[base]) {
    type = 'crypto';
    description = `${COINS[base]} / ${quoteName}`;
  }
  return { symbol, type, exchange: EXCHANGE, description, digits: digitsSeen ?? symbolDigits(symbol) };
}

/** Decimal places of a price as the feed wrote it (JSON numbers parse to their shortest form). */
export function decimalPlaces(x: number): number {
  if (!Number.isFinite(x)) return 0;
  const [mantissa, exponent] = String(x).split('e');
  const fraction = mantissa.split('.')[1]?.length ?? 0;
  return Math.min(MAX_DIGITS, Math.max(0, fraction - Number(exponent ?? 0)));
}

/** Beyond this a "price" is noise from float arithmetic, not a quote convention. */
const MAX_DIGITS = 10;

/** What one batch says about each symbol: most decimals seen and its newest quote (ties: later arrival). */
export interface SymbolSighting {
  symbol: string;
  digits: number;
  time: number;
  bid: number;
  ask: number;
}

export function symbolSightings(ticks: readonly Tick[]): SymbolSighting[] {
  const out = new Map<string, SymbolSighting>();
  for (const t of ticks) {
    const seen = out.get(t.symbol);
    if (!seen) {
      const digits = Math.max(decimalPlaces(t.bid), decimalPlaces(t.ask));
      out.set(t.symbol, { symbol: t.symbol, digits, time: t.time_msc, bid: t.bid, ask: t.ask });
      continue;
    }
    // Formatting every price is the costly part; most ticks fit the decimals already seen.
    if (!fitsDigits(t.bid, seen.digits) || !fitsDigits(t.ask, seen.digits)) {
      seen.digits = Math.max(seen.digits, decimalPlaces(t.bid), decimalPlaces(t.ask));
    }
    if (t.time_msc >= seen.time) {
      seen.time = t.time_msc;
      seen.bid = t.bid;
      seen.ask = t.ask;
    }
  }
  return [...out.values()];
}

const POWERS_OF_TEN = Array.from({ length: MAX_DIGITS + 1 }, (_, i) => 10 ** i);

/** True when `x` has at most `digits` decimals (a fast, conservative check before decimalPlaces). */
function fitsDigits(x: number, digits: number): boolean {
  const scale = POWERS_OF_TEN[digits];
  return Math.round(x * scale) / scale === x;
}
