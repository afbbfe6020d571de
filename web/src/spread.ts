/**
 * The spread as a trader reads it. Forex quoted to a fractional pip (5 decimals, 3 for yen pairs)
 * is read in pips, one pip being ten of the last digit; other instruments (metals, crypto) in price
 * units of the quote currency. The unit is part of the text, so "8" is never left to guess.
 */
export function formatSpread(symbol: string, bid: number, ask: number, digits: number): string {
  const spread = ask - bid;
  if (digits === 5 || digits === 3) return `${(spread * 10 ** (digits - 1)).toFixed(1)} pips`;
  const currency = /^[A-Z]{6}$/.test(symbol) ? ` ${symbol.slice(3)}` : '';
  return `${spread.toFixed(digits)}${currency}`;
}
