import { describe, expect, it } from 'vitest';
import { symbolDigits } from './symbols.js';

describe('symbolDigits', () => {
  it('gives known symbols their market decimals, whatever the case', () => {
    expect(['EURUSD', 'usdjpy', 'XAUUSD', 'BTCUSD'].map(symbolDigits)).toEqual([5, 3, 2, 2]);
  });

  it('takes other names for forex pairs: 3 decimals when quoted against the yen, else 5', () => {
    expect(symbolDigits('AUDJPY')).toBe(3);
    expect(symbolDigits('AUDNZD')).toBe(5);
  });
});
