import { describe, expect, it } from 'vitest';
import { TICK_FLAG, tickPayloadSchema } from '../protocol/tick.js';
import { poissonIntervalMs, seededRandom, symbolProfile, TickGenerator } from './tick-generator.js';

const decimals = (x: number) => (x.toString().split('.')[1] ?? '').length;

describe('TickGenerator', () => {
  it('is reproducible with a seed', () => {
    const a = new TickGenerator(seededRandom(42));
    const b = new TickGenerator(seededRandom(42));
    for (let i = 0; i < 100; i++) expect(a.next('EURUSD', 1000 + i)).toEqual(b.next('EURUSD', 1000 + i));
  });

  it.each([
    ['EURUSD', 5],
    ['GBPUSD', 5],
    ['USDJPY', 3],
    ['XAUUSD', 2],
    ['BTCUSD', 2],
    ['EURJPY', 3],
    ['AUDNZD', 5],
  ])('%s: valid MT quotes with %i digits, positive spread, change flags, staying near the start', (symbol, digits) => {
    const gen = new TickGenerator(seededRandom(7));
    const profile = symbolProfile(symbol);
    expect(profile.digits).toBe(digits);
    let prev = { bid: 0, ask: 0 };
    const problems: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const t = gen.next(symbol, 1_735_776_000_000 + i * 100);
      const check = (ok: boolean, what: string) => ok || problems.push(`tick ${i} ${JSON.stringify(t)}: ${what}`);
      check(tickPayloadSchema.safeParse(t).success, 'fails the MQTT tick schema');
      check(t.time_msc === 1_735_776_000_000 + i * 100, 'time_msc is not the given time');
      check(decimals(t.bid) <= digits && decimals(t.ask) <= digits, 'too many digits');
      check(t.ask > t.bid, 'no spread');
      check(Boolean(t.flags & TICK_FLAG.BID) === (t.bid !== prev.bid), 'BID flag disagrees with the change');
      check(Boolean(t.flags & TICK_FLAG.ASK) === (t.ask !== prev.ask), 'ASK flag disagrees with the change');
      check((t.flags & (TICK_FLAG.BID | TICK_FLAG.ASK)) !== 0, 'nothing changed');
      check(Math.abs(Math.log(t.bid / profile.start)) < 0.05, 'wandered more than 5% from the start');
      prev = t;
    }
    expect(problems.slice(0, 5)).toEqual([]);
  });

  it('prints trades (last, volume, BUY/SELL) for exchange-style symbols only', () => {
    const gen = new TickGenerator(seededRandom(1));
    const btc = gen.next('BTCUSD', 1);
    expect([btc.bid, btc.ask]).toContain(btc.last);
    expect(btc.volume_real).toBeGreaterThan(0);
    expect(btc.flags & TICK_FLAG.LAST && btc.flags & TICK_FLAG.VOLUME).toBeTruthy();
    expect(btc.flags & (TICK_FLAG.BUY | TICK_FLAG.SELL)).not.toBe(0);
    const eur = gen.next('EURUSD', 1);
    expect(eur).toMatchObject({ last: 0, volume: 0 });
    expect(eur.volume_real).toBeUndefined();
  });

  it('gives unknown symbols distinct, stable starting prices', () => {
    expect(symbolProfile('AUDNZD').start).toBe(symbolProfile('AUDNZD').start);
    expect(symbolProfile('AUDNZD').start).not.toBe(symbolProfile('NZDCAD').start);
  });
});

describe('poissonIntervalMs', () => {
  it('averages 1/rate and varies (no lock-step)', () => {
    const random = seededRandom(3);
    const xs = Array.from({ length: 20_000 }, () => poissonIntervalMs(10, random));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean).toBeGreaterThan(95);
    expect(mean).toBeLessThan(105);
    expect(Math.min(...xs)).toBeLessThan(10);
    expect(Math.max(...xs)).toBeGreaterThan(500);
  });
});
