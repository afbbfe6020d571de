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
    expect(formatSpread('BTCEUR', 90_000, 90_012.5, 1)).toBe('12.5 EUR');
  });

  it('reads instruments without a known quote currency in points of the price, labelled', () => {
    expect(formatSpread('US500.cash', 5000.1, 5000.6, 1)).toBe('0.5 pts');
    expect(formatSpread('USTECH', 18_000, 18_001.25, 2)).toBe('1.25 pts');
    expect(formatSpread('GER40', 19_000, 19_002, 0)).toBe('2 pts');
  });
});
