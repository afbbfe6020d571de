import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Tick } from '../protocol/tick.js';
import { decimalPlaces, describeSymbol, symbolSightings } from './symbols.js';

const tick = (symbol: string, time_msc: number, bid: number, ask = bid): Tick => ({ symbol, time_msc, bid, ask, last: 0, volume: 0, flags: 6 });

describe('symbols', () => {
  it('counts the decimals a feed wrote', () => {
    expect(decimalPlaces(1.08312)).toBe(5);
    expect(decimalPlaces(151.5)).toBe(1);
    expect(decimalPlaces(97000)).toBe(0);
    expect(decimalPlaces(1e-7)).toBe(7);
    expect(decimalPlaces(0.1 + 0.2)).toBe(10);
  });

  it('keeps the most decimals and the newest quote per symbol', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 6 }), fc.nat(1000)), { minLength: 1 }), (rows) => {
        const ticks = rows.map(([n, d, time]) => tick('EURUSD', time, n / 10 ** d));
        const [sighting] = symbolSightings(ticks);
        expect(sighting.digits).toBe(Math.max(...ticks.map((t) => decimalPlaces(t.bid))));
        const newest = Math.max(...ticks.map((t) => t.time_msc));
        expect(sighting.bid).toBe(ticks.filter((t) => t.time_msc === newest).at(-1)!.bid);
      }),
    );
  });

  it('describes instruments the way TradingView groups them', () => {
    expect(describeSymbol('EURUSD', null)).toMatchObject({ type: 'forex', description: 'Euro / US Dollar', digits: 5 });
    expect(describeSymbol('USDJPY', null)).toMatchObject({ type: 'forex', digits: 3 });
    expect(describeSymbol('XAUUSD', 3)).toMatchObject({ type: 'commodity', description: 'Gold / US Dollar', digits: 3 });
    expect(describeSymbol('BTCUSD', null)).toMatchObject({ type: 'crypto', description: 'Bitcoin / US Dollar' });
    expect(describeSymbol('GER40.cash', null)).toMatchObject({ type: 'cfd', description: 'GER40.cash', exchange: 'MT5' });
  });
});
