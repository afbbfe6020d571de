import { describe, expect, it } from 'vitest';
import { formatSpread } from './spread.js';

describe('formatSpread', () => {
  it('reads fractional-pip forex quotes in pips, labelled', () => {
    expect(formatSpread('EURUSD', 1.08512, 1.0852, 5)).toBe('0.8 pips');
    expect(formatSpread('USDJPY', 151.5, 151.512, 3)).toBe('1.2 pips');
  });

  it('reads other instruments in price units of the quote currency', () => {
    expect(formatSpread('XAUUSD', 2650.1, 2650.35, 2)).toBe('0.25 USD');
    expect(formatSpread('BTCUSD', 97_000, 97_015, 2)).toBe('15.00 USD');
    expect(formatSpread('US500.cash', 5000.1, 5000.6, 1)).toBe('0.5');
  });
});
