/**
 * The spread as a trader reads it, always with its unit. Forex quoted to a fractional pip (5
 * decimals, 3 for yen pairs) is read in pips, one pip being ten of the last digit; other instruments
 * in price units: of the quote currency when the name is a pair ending in one (XAUUSD, BTCUSD:
 * "0.25 USD"), otherwise in points of the quoted price (an index such as US500.cash: "0.5 pts").
 * The unit is part of the text, so "8" is never left to guess.
 */
export function formatSpread(symbol: string, bid: number, ask: number, digits: number): string {
  const spread = ask - bid;
  if (digits === 5 || digits === 3) return `${(spread * 10 ** (digits - 1)).toFixed(1)} pips`;
  return `${spread.toFixed(digits)} ${quoteCurrency(symbol) ?? 'pts'}`;
}

/** Currencies instruments are commonly quoted in (ISO 4217). */
const CURRENCIES = new Set([
  'USD',
  'EUR',
  'JPY',
  'GBP',
  'CHF',
  'AUD',
  'NZD',
  'CAD',
  'CNH',
  'HKD',
  'SGD',
  'SEK',
  'NOK',
  'DKK',
  'PLN',
  'ZAR',
  'MXN',
  'TRY',
]);

/** The quote currency of a six-letter pair name (`XAUUSD` → `USD`), or none. */
function quoteCurrency(symbol: string): string | undefined {
  const quote = /^[A-Z]{3}([A-Z]{3})$/.exec(symbol)?.[1];
  return quote !== undefined && CURRENCIES.has(quote) ? quote : undefined;
}
