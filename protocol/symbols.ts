/**
 * Market conventions of a symbol that hold whoever quotes it: the simulator quotes with them and
 * UDF announces them before any tick is seen. Known names carry their market's decimals (MT
 * `SYMBOL_DIGITS`); other names are taken for forex pairs, JPY crosses quoted to 3 decimals.
 */
const KNOWN_DIGITS: Record<string, number> = { EURUSD: 5, GBPUSD: 5, USDJPY: 3, XAUUSD: 2, BTCUSD: 2 };

/** Decimal places of `symbol`'s price by its market's convention. */
export function symbolDigits(symbol: string): number {
  return KNOWN_DIGITS[symbol.toUpperCase()] ?? (isJpyQuoted(symbol) ? 3 : 5);
}

export function isJpyQuoted(symbol: string): boolean {
  return /JPY/i.test(symbol);
}
