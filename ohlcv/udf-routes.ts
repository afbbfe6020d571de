import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { z } from 'zod';
import { RESOLUTIONS, type Resolution } from '../protocol/names.js';
import { bucketStart } from './bucket.js';
import { CachedSeries, HistoryCache } from './history-cache.js';
import type { BarRange, CandleStore, SymbolRecord } from './store.js';
import { describeSymbol, EXCHANGE, type SymbolType } from './symbols.js';
import {
  historyQuery,
  MAX_BARS,
  quotesQuery,
  searchQuery,
  symbolQuery,
  type HistoryQuery,
  type QuotesQuery,
  type SearchQuery,
  type SymbolQuery,
} from './udf-query.js';

export interface UdfDeps {
  store: CandleStore;
  /** Newest bars kept per series and how many series (least recently asked dropped); tests shrink it. */
  historyCache?: { windowBars: number; maxSeries: number };
  /** Server time for `/udf/time`; injectable for tests. */
  now?: () => number;
}

const SYMBOL_TYPES: readonly SymbolType[] = ['forex', 'commodity', 'crypto', 'cfd'];

/** `/udf/config`: what this datafeed supports. */
const UDF_CONFIG = {
  supports_search: true,
  supports_group_request: false,
  supports_marks: false,
  supports_timescale_marks: false,
  supports_time: true,
  supported_resolutions: RESOLUTIONS,
  exchanges: [
    { value: '', name: 'All exchanges', desc: '' },
    { value: EXCHANGE, name: EXCHANGE, desc: 'MetaTrader 5 feed' },
  ],
  symbols_types: [{ name: 'All types', value: '' }, ...SYMBOL_TYPES.map((t) => ({ name: t, value: t }))],
};

/** TradingView's UDF datafeed (docs/protocol.md#udf-datafeed), answering from the candle store. */
export const udfRoutes: FastifyPluginAsync<UdfDeps> = async (app, { store, now = Date.now, historyCache = HISTORY_CACHE }) => {
  const cache = new HistoryCache(historyCache.maxSeries, historyCache.windowBars);
  // Commits of this process (the ohlcv role) keep cached series current without a re-read.
  const unsubscribe = store.onCommitted((changes) => cache.applyCommitted(changes));
  app.addHook('onClose', async () => unsubscribe());
  useUdfConventions(app);

  app.get('/config', async () => UDF_CONFIG);

  app.get('/time', async (_req, reply) => reply.type('text/plain').send(String(Math.floor(now() / 1000))));

  app.get<{ Querystring: SymbolQuery }>('/symbols', { schema: { querystring: symbolQuery } }, async (req) => {
    const record = await store.symbol(req.query.symbol);
    return record ? symbolInfo(record) : unknownSymbol(req.query.symbol);
  });

  app.get<{ Querystring: SearchQuery }>('/search', { schema: { querystring: searchQuery } }, async (req) => {
    const { query, type, exchange, limit } = req.query;
    const needle = query.toUpperCase();
    return (await store.symbols())
      .map((r) => describeSymbol(r.symbol, r.digits))
      .filter(
        (s) =>
          (needle === '' || s.symbol.toUpperCase().includes(needle) || s.description.toUpperCase().includes(needle)) &&
          (type === '' || s.type === type) &&
          (exchange === '' || s.exchange === exchange),
      )
      .slice(0, limit)
      .map((s) => ({
        symbol: s.symbol,
        full_name: `${s.exchange}:${s.symbol}`,
        description: s.description,
        exchange: s.exchange,
        ticker: s.symbol,
        type: s.type,
      }));
  });

  app.get<{ Querystring: HistoryQuery }>('/history', { schema: { querystring: historyQuery } }, async (req, reply) => {
    const { symbol, resolution, from, to, countback } = req.query;
    if (resolution === null) return { s: 'error', errmsg: `unknown resolution: use one of ${RESOLUTIONS.join(', ')}` };
    // countback wins over from: the newest `countback` bars before `to`.
    const range = countback !== undefined ? { to: to * 1000, limit: countback } : { from: from! * 1000, to: to * 1000, limit: MAX_BARS };
    const bars = await historyBody(store, cache, symbol, resolution, range);
    if (bars === undefined) {
      // Only an empty answer needs to know whether the symbol exists: the hot path is one query.
      if (!(await store.symbol(symbol))) return unknownSymbol(symbol);
      const next = await store.newestBarTimeBefore(symbol, resolution, range.from ?? range.to);
      return next === undefined ? { s: 'no_data' } : { s: 'no_data', nextTime: next / 1000 };
    }
    return reply.type('application/json').send(bars);
  });

  app.get<{ Querystring: QuotesQuery }>('/quotes', { schema: { querystring: quotesQuery } }, async (req) => ({
    s: 'ok',
    d: await Promise.all(req.query.symbols.map((name) => quote(store, name, now()))),
  }));
};

/**
 * Encapsulated in the plugin: zod validates the query strings, errors are answered in UDF shape
 * (`{"s":"error","errmsg":…}`), and any origin may call (CORS).
 */
function useUdfConventions(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema }) => (data) => {
    const parsed = (schema as z.ZodType).safeParse(data);
    return parsed.success ? { value: parsed.data } : { error: new Error(parsed.error.issues.map((i) => i.message).join('; ')) };
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err, url: req.url }, 'udf request failed');
    return reply.status(status).send({ s: 'error', errmsg: status === 500 ? 'internal error' : err.message });
  });
  app.addHook('onSend', async (_req, reply) => {
    reply.header('access-control-allow-origin', '*');
  });
  app.options('/*', async (_req, reply) =>
    reply
      .status(204)
      .header('access-control-allow-methods', 'GET, OPTIONS')
      .header('access-control-allow-headers', '*')
      .header('access-control-max-age', '86400')
      .send(),
  );
}

/**
 * 5,000 newest bars (TradingView's first screens and then some) of 32 series: about 400 KB each,
 * a bounded ~13 MB in all.
 */
const HISTORY_CACHE = { windowBars: 5_000, maxSeries: 32 };

/**
 * The history body `{"s":"ok",…}`, or undefined when no bar is in range. Served from the cache only
 * when the series' revision, read now, is the one the cached copy was read at: the copy is then
 * exactly what the database holds, whichever process committed the bars (late corrections bump
 * the revision too). Otherwise the newest bars are read again with their revision in one snapshot.
 */
async function historyBody(
  store: CandleStore,
  cache: HistoryCache,
  symbol: string,
  res: Resolution,
  range: BarRange,
): Promise<Buffer | string | undefined> {
  const revision = await store.seriesRevision(symbol, res);
  if (revision === undefined) return undefined;
  let entry = cache.get(symbol, res);
  if (entry !== undefined && entry.revision !== revision) {
    // A stale copy still says whether the window reaches this range; if not (paging far back),
    // a fresh one would not either: read just the range.
    if (entry.answer(range) === undefined) return directBody(store, symbol, res, range);
    entry = undefined;
  }
  if (entry === undefined) {
    const text = await store.newestBarsText(symbol, res, cache.windowBars);
    if (text.revision === undefined) return undefined;
    entry = CachedSeries.fromText(text.revision, text, cache.windowBars);
    cache.set(symbol, res, entry);
  }
  const body = entry.answer(range);
  return body === undefined ? directBody(store, symbol, res, range) : (body ?? undefined);
}

async function directBody(store: CandleStore, symbol: string, res: Resolution, range: BarRange): Promise<string | undefined> {
  const bars = await store.barsJson(symbol, res, range);
  return bars === undefined ? undefined : `{"s":"ok",${bars.slice(bars.indexOf('{') + 1)}`;
}

/** Registers the UDF routes under `/udf` on the process's HTTP server (the web role calls this). */
export async function registerUdfRoutes(app: FastifyInstance, deps: UdfDeps): Promise<void> {
  await app.register(udfRoutes, { prefix: '/udf', ...deps });
}

function unknownSymbol(symbol: string) {
  return { s: 'error', errmsg: `unknown symbol: ${symbol}` };
}

function symbolInfo(record: SymbolRecord) {
  const info = describeSymbol(record.symbol, record.digits);
  return {
    name: info.symbol,
    ticker: info.symbol,
    full_name: `${info.exchange}:${info.symbol}`,
    description: info.description,
    type: info.type,
    exchange: info.exchange,
    listed_exchange: info.exchange,
    session: '24x7',
    timezone: 'Etc/UTC',
    format: 'price',
    minmov: 1,
    pricescale: 10 ** info.digits,
    has_intraday: true,
    has_seconds: true,
    seconds_multipliers: ['1'],
    intraday_multipliers: ['1', '5', '15', '30', '60', '240'],
    has_daily: true,
    has_weekly_and_monthly: true,
    supported_resolutions: RESOLUTIONS,
    volume_precision: 2,
    data_status: 'streaming',
  };
}

/**
 * Today is the UTC day of `now` (docs/protocol.md#candles buckets): `ch`/`chp` are the change of the last price
 * against the previous day's close, the close of the newest daily bar before today. With no tick
 * today yet there is no change today (not yesterday's change shown again) and no open/high/low.
 */
async function quote(store: CandleStore, name: string, now: number) {
  const record = await store.symbol(name);
  if (!record) return { s: 'error', n: name, v: {} };
  const info = describeSymbol(record.symbol, record.digits);
  const days = await store.bars(name, '1D', { to: Number.MAX_SAFE_INTEGER, limit: 2 });
  const newest = days.time.length - 1;
  const today = newest >= 0 && days.time[newest] >= bucketStart(now, '1D') ? newest : -1;
  const previous = today >= 0 ? newest - 1 : newest;
  const lp = newest >= 0 ? days.close[newest] : record.bid;
  const prevClose = previous >= 0 ? days.close[previous] : undefined;
  const ch = lp !== null && prevClose !== undefined ? lp - prevClose : 0;
  return {
    s: 'ok',
    n: name,
    v: {
      ch,
      chp: prevClose ? (ch / prevClose) * 100 : 0,
      short_name: info.symbol,
      exchange: info.exchange,
      description: info.description,
      lp,
      ask: record.ask,
      bid: record.bid,
      open_price: today >= 0 ? days.open[today] : null,
      high_price: today >= 0 ? days.high[today] : null,
      low_price: today >= 0 ? days.low[today] : null,
      prev_close_price: prevClose ?? null,
      volume: today >= 0 ? days.volume[today] : 0,
    },
  };
}
