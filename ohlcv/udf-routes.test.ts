import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Tick } from '../protocol/tick.js';
import { aggregate } from './aggregate.js';
import { openCandleStore, type CandleStore } from './store.js';
import { symbolSightings } from './symbols.js';
import { ENGINES, type ReopenableDatabase } from './testing/engines.js';
import { registerUdfRoutes } from './udf-routes.js';

const T0 = Date.UTC(2025, 0, 6); // a Monday
const tick = (symbol: string, offsetS: number, bid: number): Tick => ({
  symbol,
  time_msc: T0 + offsetS * 1000,
  bid,
  ask: bid + 0.0002,
  last: 0,
  volume: 0,
  flags: 6,
});

describe.each(ENGINES)('UDF routes on $name', (engine) => {
  let handle: ReopenableDatabase;
  let store: CandleStore;
  let app: FastifyInstance;
  const get = async (url: string, on = app) => {
    const res = await on.inject({ method: 'GET', url });
    return {
      status: res.statusCode,
      body: String(res.headers['content-type']).startsWith('application/json') ? res.json() : res.body,
      headers: res.headers,
    };
  };

  beforeAll(async () => {
    handle = await engine.create();
    store = await openCandleStore(handle.db);
    await store.registerSymbols(['EURUSD', 'XAUUSD', 'BTCUSD']);
    // EURUSD bars at minutes 0, 1, 2, 5 (two ticks in minute 0), one day later another bar.
    const ticks = [
      tick('EURUSD', 0, 1.1),
      tick('EURUSD', 30, 1.12345),
      tick('EURUSD', 60, 1.2),
      tick('EURUSD', 120, 1.3),
      tick('EURUSD', 300, 1.4),
      tick('EURUSD', 86_400, 1.5),
    ];
    await store.commit(() => ({ bars: aggregate(ticks, { price: 'bid', volume: 'ticks' }).bars, symbols: symbolSightings(ticks) }));
    app = Fastify();
    await registerUdfRoutes(app, { store, now: () => 1_763_769_600_123 });
  });
  afterAll(async () => {
    await app.close();
    await handle.cleanup();
  });

  it('describes the datafeed', async () => {
    const { body, headers } = await get('/udf/config');
    expect(body).toMatchObject({
      supports_search: true,
      supports_group_request: false,
      supports_time: true,
      supported_resolutions: ['1S', '1', '5', '15', '30', '60', '240', '1D', '1W', '1M'],
    });
    expect(headers['access-control-allow-origin']).toBe('*');
    expect(await get('/udf/time')).toMatchObject({ status: 200, body: '1763769600' });
  });

  it('answers CORS preflight', async () => {
    const res = await app.inject({
      method: 'OPTIONS',
      url: '/udf/history',
      headers: { origin: 'https://example.com', 'access-control-request-method': 'GET' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('resolves symbols with the price scale seen on the feed, or the market convention before any tick', async () => {
    expect((await get('/udf/symbols?symbol=EURUSD')).body).toMatchObject({
      name: 'EURUSD',
      ticker: 'EURUSD',
      type: 'forex',
      description: 'Euro / US Dollar',
      pricescale: 100_000,
      timezone: 'Etc/UTC',
      has_seconds: true,
    });
    expect((await get('/udf/symbols?symbol=MT5:XAUUSD')).body).toMatchObject({ name: 'XAUUSD', type: 'commodity', pricescale: 100 });
    expect(await get('/udf/symbols?symbol=NOPE')).toMatchObject({ status: 200, body: { s: 'error', errmsg: 'unknown symbol: NOPE' } });
  });

  it('searches by name or description, type and exchange, up to a limit', async () => {
    expect((await get('/udf/search?query=usd&limit=2')).body).toHaveLength(2);
    expect((await get('/udf/search?query=gold')).body).toEqual([
      { symbol: 'XAUUSD', full_name: 'MT5:XAUUSD', description: 'Gold / US Dollar', exchange: 'MT5', ticker: 'XAUUSD', type: 'commodity' },
    ]);
    expect((await get('/udf/search?query=&type=crypto&exchange=MT5')).body.map((s: { symbol: string }) => s.symbol)).toEqual(['BTCUSD']);
    expect((await get('/udf/search?query=&exchange=NYSE')).body).toEqual([]);
  });

  it('returns the bars of [from, to) in UTC seconds', async () => {
    const from = T0 / 1000;
    expect((await get(`/udf/history?symbol=EURUSD&resolution=1&from=${from}&to=${from + 300}`)).body).toEqual({
      s: 'ok',
      t: [from, from + 60, from + 120],
      o: [1.1, 1.2, 1.3],
      h: [1.12345, 1.2, 1.3],
      l: [1.1, 1.2, 1.3],
      c: [1.12345, 1.2, 1.3],
      v: [2, 1, 1],
    });
    expect((await get(`/udf/history?symbol=MT5:EURUSD&resolution=D&from=${from}&to=${from + 86_401}`)).body).toMatchObject({
      s: 'ok',
      t: [from, from + 86_400],
      v: [5, 1],
    });
  });

  it('lets countback win over from', async () => {
    const from = T0 / 1000;
    expect((await get(`/udf/history?symbol=EURUSD&resolution=1&from=${from + 120}&to=${from + 301}&countback=3`)).body).toMatchObject({
      s: 'ok',
      t: [from + 60, from + 120, from + 300],
    });
  });

  it('says no_data, with nextTime when older bars exist', async () => {
    const from = T0 / 1000;
    expect((await get(`/udf/history?symbol=EURUSD&resolution=1&from=${from + 360}&to=${from + 3600}`)).body).toEqual({
      s: 'no_data',
      nextTime: from + 300,
    });
    expect((await get(`/udf/history?symbol=EURUSD&resolution=1&from=${from - 3600}&to=${from}`)).body).toEqual({ s: 'no_data' });
    expect((await get(`/udf/history?symbol=XAUUSD&resolution=1&from=0&to=${from}&countback=10`)).body).toEqual({ s: 'no_data' });
  });

  it('answers unknown symbols and resolutions in UDF terms', async () => {
    expect((await get('/udf/history?symbol=NOPE&resolution=1&from=0&to=100')).body).toEqual({ s: 'error', errmsg: 'unknown symbol: NOPE' });
    expect((await get('/udf/history?symbol=EURUSD&resolution=7&from=0&to=100')).body).toMatchObject({
      s: 'error',
      errmsg: expect.stringContaining('unknown resolution'),
    });
  });

  it.each([
    ['/udf/history?symbol=EURUSD&resolution=1&from=abc&to=100', 'from must be a time in UTC seconds'],
    ['/udf/history?symbol=EURUSD&resolution=1&from=0', 'to is required'],
    ['/udf/history?symbol=EURUSD&resolution=1&to=100', 'from or countback is required'],
    ['/udf/history?symbol=EURUSD&resolution=1&from=200&to=100', 'from must not be after to'],
    ['/udf/history?symbol=EURUSD&resolution=1&to=100&countback=0', 'countback must be between 1 and 20000'],
    ['/udf/history?symbol=EURUSD&resolution=1&to=100&countback=1e9', 'countback must be a whole number'],
    ['/udf/history?symbol=EURUSD&symbol=GBPUSD&resolution=1&from=0&to=100', 'symbol'],
    ['/udf/history?resolution=1&from=0&to=100', 'symbol is required'],
    ['/udf/symbols', 'symbol is required'],
    ['/udf/search?limit=-1', 'limit must be a whole number'],
    ['/udf/quotes', 'symbols is required'],
    ['/udf/quotes?symbols=,,', 'symbols must name 1 to 50 symbols'],
  ])('refuses nonsense with 400 and a message: %s', async (url, message) => {
    const { status, body } = await get(url);
    expect(status).toBe(400);
    expect(body).toMatchObject({ s: 'error', errmsg: expect.stringContaining(message) });
  });

  it("quotes known symbols against the previous day's close, and flags unknown ones", async () => {
    // On the day of the 1.5 bar: the change is against the day before's close, 1.4.
    const sameDay = Fastify();
    await registerUdfRoutes(sameDay, { store, now: () => T0 + 86_400_000 + 3_600_000 });
    const { body } = await get('/udf/quotes?symbols=EURUSD,NOPE', sameDay);
    await sameDay.close();
    expect(body.s).toBe('ok');
    expect(body.d[0]).toMatchObject({
      s: 'ok',
      n: 'EURUSD',
      v: {
        lp: 1.5,
        prev_close_price: 1.4,
        bid: 1.5,
        ask: 1.5002,
        open_price: 1.5,
        high_price: 1.5,
        low_price: 1.5,
        volume: 1,
        short_name: 'EURUSD',
        exchange: 'MT5',
      },
    });
    expect(body.d[0].v.ch).toBeCloseTo(0.1, 10);
    expect(body.d[0].v.chp).toBeCloseTo((0.1 / 1.4) * 100, 10);
    expect(body.d[1]).toEqual({ s: 'error', n: 'NOPE', v: {} });
  });

  it('quotes no change for a day without ticks yet: the newest close is the previous close', async () => {
    // `now` is months after the last bar: yesterday's change is not today's.
    const { body } = await get('/udf/quotes?symbols=EURUSD');
    expect(body.d[0].v).toMatchObject({
      lp: 1.5,
      prev_close_price: 1.5,
      ch: 0,
      chp: 0,
      open_price: null,
      high_price: null,
      low_price: null,
      volume: 0,
    });
  });

  /**
   * GBPUSD served by routes of their own over `store`, counting how often they re-read a series from
   * the database, and committed to by this process (`store`) and another: the same tables through
   * another Database object, whose commits this one never hears of.
   */
  const lateCorrectionScenario = async () => {
    const counter = { reads: 0 };
    const counted = Object.create(store) as CandleStore;
    counted.newestBarsText = (...args) => {
      counter.reads++;
      return store.newestBarsText(...args);
    };
    const own = Fastify();
    await registerUdfRoutes(own, { store: counted });
    const db = handle.db;
    const otherProcess = await openCandleStore({
      kind: db.kind,
      query: (t, p) => db.query(t, p),
      transaction: (fn) => db.transaction(fn),
      ping: () => db.ping(),
      close: async () => {},
    });
    const from = T0 / 1000;
    const url = `/udf/history?symbol=GBPUSD&resolution=1&from=${from}&to=${from + 600}`;
    const newest = `/udf/history?symbol=GBPUSD&resolution=1&to=${from + 600}&countback=1`;
    return { counter, own, otherProcess, from, url, newest };
  };
  type LateCorrectionScenario = Awaited<ReturnType<typeof lateCorrectionScenario>>;

  const commit = (ticks: Tick[], by: CandleStore) =>
    by.commit(() => ({ bars: aggregate(ticks, { price: 'bid', volume: 'ticks' }).bars, symbols: symbolSightings(ticks) }));

  /** A first commit here is read once; a late correction from the other process is read again. */
  const expectCorrectionFromElsewhereServed = async ({ counter, own, otherProcess, from, url, newest }: LateCorrectionScenario) => {
    await commit([tick('GBPUSD', 0, 1.3), tick('GBPUSD', 30, 1.31), tick('GBPUSD', 60, 1.32)], store);
    expect((await get(url, own)).body).toEqual({
      s: 'ok',
      t: [from, from + 60],
      o: [1.3, 1.32],
      h: [1.31, 1.32],
      l: [1.3, 1.32],
      c: [1.31, 1.32],
      v: [2, 1],
    });
    expect((await get(newest, own)).body).toMatchObject({ t: [from + 60], c: [1.32] });
    expect(counter.reads).toBe(1);

    await commit([tick('GBPUSD', 10, 1.25)], otherProcess);
    expect((await get(url, own)).body).toEqual({
      s: 'ok',
      t: [from, from + 60],
      o: [1.3, 1.32],
      h: [1.31, 1.32],
      l: [1.25, 1.32],
      c: [1.31, 1.32],
      v: [3, 1],
    });
    expect(counter.reads).toBe(2);
  };

  const expectOwnCommitsServedInPlace = async ({ counter, own, otherProcess, from, url, newest }: LateCorrectionScenario) => {
    // Commits of this process update the cached copy in place: no re-read.
    await commit([tick('GBPUSD', 400, 1.4)], store);
    await commit([tick('GBPUSD', 5, 1.2), tick('GBPUSD', 401, 1.41)], store);
    expect((await get(url, own)).body).toEqual({
      s: 'ok',
      t: [from, from + 60, from + 360],
      o: [1.3, 1.32, 1.4],
      h: [1.31, 1.32, 1.41],
      l: [1.2, 1.32, 1.4],
      c: [1.31, 1.32, 1.41],
      v: [4, 1, 2],
    });
    expect((await get(newest, own)).body).toMatchObject({ t: [from + 360], c: [1.41] });
    expect(counter.reads).toBe(2);

    // A commit elsewhere in between: the next one of this process cannot be placed, the series is read again.
    await commit([tick('GBPUSD', 20, 1.5)], otherProcess);
    await commit([tick('GBPUSD', 410, 1.39)], store);
    expect((await get(url, own)).body).toMatchObject({ h: [1.5, 1.32, 1.41], l: [1.2, 1.32, 1.39], v: [5, 1, 3] });
    expect(counter.reads).toBe(3);
  };

  it('serves a late correction and a new bar as soon as they are committed, in this process or another', async () => {
    const scenario = await lateCorrectionScenario();
    try {
      await expectCorrectionFromElsewhereServed(scenario);
      await expectOwnCommitsServedInPlace(scenario);
    } finally {
      await scenario.own.close();
    }
  });

  it('answers alike when the cached window is too short for the range (it reads the range instead)', async () => {
    const small = Fastify();
    await registerUdfRoutes(small, { store, historyCache: { windowBars: 2, maxSeries: 1 } });
    try {
      const from = T0 / 1000;
      const urls = [
        `/udf/history?symbol=EURUSD&resolution=1&from=${from}&to=${from + 90_000}`,
        `/udf/history?symbol=EURUSD&resolution=1&to=${from + 90_000}&countback=2`,
        `/udf/history?symbol=EURUSD&resolution=1&to=${from + 90_000}&countback=4`,
        `/udf/history?symbol=EURUSD&resolution=1&from=${from + 100}&to=${from + 200}`,
        `/udf/history?symbol=EURUSD&resolution=1&from=${from + 360}&to=${from + 3600}`,
        `/udf/history?symbol=XAUUSD&resolution=1&from=${from}&to=${from + 600}`,
        `/udf/history?symbol=EURUSD&resolution=1D&from=${from}&to=${from + 90_000}`,
        `/udf/history?symbol=EURUSD&resolution=1&from=${from}&to=${from + 90_000}`,
      ];
      for (const url of urls) expect((await get(url, small)).body).toEqual((await get(url)).body);
      expect((await get(urls[0], small)).body.t).toHaveLength(5);
    } finally {
      await small.close();
    }
  });
});
