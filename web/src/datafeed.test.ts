import { describe, expect, it, vi } from 'vitest';
import { TicktalkDatafeed, toResolution, type LibrarySymbolInfo, type TopicSubscriber, type TvBar } from './datafeed.js';

/** A UDF server in a function: answers by route, remembers every request. */
function udfServer(routes: Record<string, (params: URLSearchParams) => unknown>) {
  const requests: URL[] = [];
  const fetch = async (url: string): Promise<Response> => {
    const u = new URL(url);
    requests.push(u);
    const route = u.pathname.replace(/^\/udf\//, '');
    const handler = routes[route];
    if (!handler) return new Response(JSON.stringify({ s: 'error', errmsg: `no route ${route}` }), { status: 404 });
    return new Response(JSON.stringify(handler(u.searchParams)), { status: 200 });
  };
  return { fetch, requests };
}

/** The MQTT side: topics with their handlers; `emit` plays the broker. */
function fakeBroker() {
  const handlers = new Map<string, Set<(payload: Uint8Array | string) => void>>();
  const subscriber: TopicSubscriber = {
    subscribe(topic, onMessage) {
      const set = handlers.get(topic) ?? new Set();
      set.add(onMessage);
      handlers.set(topic, set);
      return () => set.delete(onMessage);
    },
  };
  const emit = (topic: string, payload: unknown) => {
    for (const h of handlers.get(topic) ?? []) h(new TextEncoder().encode(typeof payload === 'string' ? payload : JSON.stringify(payload)));
  };
  const subscribed = () => [...handlers].filter(([, set]) => set.size > 0).map(([t]) => t);
  return { subscriber, emit, subscribed };
}

const eurusd = {
  name: 'EURUSD',
  ticker: 'EURUSD',
  description: 'Euro vs US Dollar',
  type: 'forex',
  session: '24x7',
  exchange: 'TICKTALK',
  timezone: 'Etc/UTC',
  minmov: 1,
  pricescale: 100000,
  has_intraday: true,
  supported_resolutions: ['1S', '1', '5', '15', '30', '60', '240', '1D', '1W', '1M'],
  volume_precision: 0,
  data_status: 'streaming',
};

function datafeedWith(routes: Record<string, (params: URLSearchParams) => unknown>) {
  const server = udfServer(routes);
  const broker = fakeBroker();
  const datafeed = new TicktalkDatafeed({ baseUrl: 'http://ticktalk.test/udf', fetch: server.fetch, subscriber: broker.subscriber });
  return { datafeed, server, broker };
}

function resolve(datafeed: TicktalkDatafeed, name = 'EURUSD'): Promise<LibrarySymbolInfo> {
  return new Promise((ok, fail) => datafeed.resolveSymbol(name, ok, fail));
}

function getBars(
  datafeed: TicktalkDatafeed,
  info: LibrarySymbolInfo,
  resolution: string,
  params: { from: number; to: number; countBack: number; firstDataRequest: boolean },
) {
  return new Promise<{ bars: TvBar[]; meta: { noData?: boolean; nextTime?: number | null } }>((ok, fail) =>
    datafeed.getBars(info, resolution, params, (bars, meta) => ok({ bars, meta }), fail),
  );
}

describe('TicktalkDatafeed (TradingView JS API over UDF + MQTT)', () => {
  it('onReady answers asynchronously with the server configuration', async () => {
    const { datafeed } = datafeedWith({
      config: () => ({ supported_resolutions: ['1S', '1', '1D'], supports_search: true, supports_group_request: false, supports_time: true }),
    });
    const callback = vi.fn();
    datafeed.onReady(callback);
    expect(callback).not.toHaveBeenCalled();
    await vi.waitFor(() => expect(callback).toHaveBeenCalledOnce());
    expect(callback.mock.calls[0][0]).toMatchObject({
      supported_resolutions: ['1S', '1', '1D'],
      supports_search: true,
      supports_group_request: false,
      supports_time: true,
    });
  });

  it('onReady still answers (with the contract defaults) when the server cannot be reached', async () => {
    const datafeed = new TicktalkDatafeed({
      baseUrl: '/udf',
      fetch: () => Promise.reject(new Error('offline')),
      subscriber: fakeBroker().subscriber,
    });
    const config = await new Promise<{ supported_resolutions: string[] }>((ok) => datafeed.onReady(ok));
    expect(config.supported_resolutions).toContain('1S');
  });

  it('searchSymbols passes the query and filters and always fills full_name', async () => {
    const { datafeed, server } = datafeedWith({
      search: () => [{ symbol: 'EURUSD', description: 'Euro', exchange: 'TICKTALK', type: 'forex' }],
    });
    const items = await new Promise((ok) => datafeed.searchSymbols('eur', 'TICKTALK', 'forex', ok));
    expect(items).toEqual([{ symbol: 'EURUSD', full_name: 'EURUSD', description: 'Euro', exchange: 'TICKTALK', ticker: 'EURUSD', type: 'forex' }]);
    const params = server.requests[0].searchParams;
    expect([params.get('query'), params.get('exchange'), params.get('type')]).toEqual(['eur', 'TICKTALK', 'forex']);
  });

  it('resolveSymbol maps UDF symbol info, including second bars', async () => {
    const { datafeed } = datafeedWith({ symbols: () => eurusd });
    const info = await resolve(datafeed);
    expect(info).toMatchObject({
      name: 'EURUSD',
      ticker: 'EURUSD',
      pricescale: 100000,
      minmov: 1,
      format: 'price',
      has_intraday: true,
      has_seconds: true,
      timezone: 'Etc/UTC',
    });
  });

  it('resolveSymbol reports an unknown symbol as unknown_symbol', async () => {
    const { datafeed } = datafeedWith({ symbols: () => ({ s: 'error', errmsg: 'unknown symbol NOPE' }) });
    await expect(resolve(datafeed, 'NOPE')).rejects.toBe('unknown_symbol');
  });

  it('getBars asks UDF history with countback and returns ascending bars with time in milliseconds', async () => {
    const { datafeed, server } = datafeedWith({
      symbols: () => eurusd,
      // Deliberately out of order: the library requires ascending bars whatever the server sends.
      history: () => ({ s: 'ok', t: [120, 60], o: [2, 1], h: [2.5, 1.5], l: [1.9, 0.9], c: [2.1, 1.1], v: [7, 3] }),
    });
    const info = await resolve(datafeed);
    const { bars, meta } = await getBars(datafeed, info, '1', { from: 0, to: 180, countBack: 2, firstDataRequest: true });
    expect(bars).toEqual([
      { time: 60_000, open: 1, high: 1.5, low: 0.9, close: 1.1, volume: 3 },
      { time: 120_000, open: 2, high: 2.5, low: 1.9, close: 2.1, volume: 7 },
    ]);
    expect(meta).toEqual({ noData: false });
    const params = server.requests.at(-1)!.searchParams;
    expect(Object.fromEntries(params)).toEqual({ symbol: 'EURUSD', resolution: '1', from: '0', to: '180', countback: '2' });
  });

  it('getBars sets noData (and nextTime when older data exists) for an empty range', async () => {
    const { datafeed } = datafeedWith({
      symbols: () => eurusd,
      history: (p) => (p.get('to') === '1000' ? { s: 'no_data', nextTime: 600 } : { s: 'no_data' }),
    });
    const info = await resolve(datafeed);
    expect((await getBars(datafeed, info, '1', { from: 900, to: 1000, countBack: 0, firstDataRequest: false })).meta).toEqual({
      noData: true,
      nextTime: 600,
    });
    const empty = await getBars(datafeed, info, '1', { from: 0, to: 500, countBack: 0, firstDataRequest: false });
    expect(empty).toEqual({ bars: [], meta: { noData: true } });
  });

  it('getBars spells the library resolutions D/W/M the contract way and reports server errors', async () => {
    const { datafeed, server } = datafeedWith({
      symbols: () => eurusd,
      history: (p) =>
        p.get('resolution') === '1D' ? { s: 'ok', t: [86400], o: [1], h: [1], l: [1], c: [1], v: [1] } : { s: 'error', errmsg: 'unknown resolution' },
    });
    const info = await resolve(datafeed);
    await getBars(datafeed, info, 'D', { from: 0, to: 200_000, countBack: 1, firstDataRequest: true });
    expect(server.requests.at(-1)!.searchParams.get('resolution')).toBe('1D');
    await expect(getBars(datafeed, info, '240', { from: 0, to: 1, countBack: 1, firstDataRequest: true })).rejects.toBe('unknown resolution');
    await expect(getBars(datafeed, info, '7', { from: 0, to: 1, countBack: 1, firstDataRequest: true })).rejects.toMatch(/unsupported resolution/);
    expect([toResolution('W'), toResolution('1S'), toResolution('3')]).toEqual(['1W', '1S', undefined]);
  });

  it('subscribeBars passes only last-bar updates and appends, and asks for a reset on a corrected older bar', async () => {
    const { datafeed, broker } = datafeedWith({
      symbols: () => eurusd,
      history: () => ({ s: 'ok', t: [60, 120], o: [1, 2], h: [1, 2], l: [1, 2], c: [1, 2], v: [1, 1] }),
    });
    const info = await resolve(datafeed);
    await getBars(datafeed, info, '1', { from: 0, to: 180, countBack: 2, firstDataRequest: true });
    const ticks: TvBar[] = [];
    const reset = vi.fn();
    datafeed.subscribeBars(info, '1', (bar) => ticks.push(bar), 'guid-1', reset);
    expect(broker.subscribed()).toEqual(['candles/EURUSD/1']);

    broker.emit('candles/EURUSD/1', { time: 120, open: 2, high: 2.2, low: 2, close: 2.1, volume: 4 }); // update
    broker.emit('candles/EURUSD/1', { time: 180, open: 2.1, high: 2.1, low: 2.1, close: 2.1, volume: 1 }); // append
    broker.emit('candles/EURUSD/1', 'not json');
    broker.emit('candles/EURUSD/1', { time: 180, open: 'x' });
    expect(ticks.map((b) => b.time)).toEqual([120_000, 180_000]);
    expect(reset).not.toHaveBeenCalled();

    broker.emit('candles/EURUSD/1', { time: 60, open: 1, high: 1.4, low: 1, close: 1.3, volume: 2 }); // late tick corrected bar 60
    expect(ticks).toHaveLength(2);
    expect(reset).toHaveBeenCalledOnce();

    datafeed.unsubscribeBars('guid-1');
    expect(broker.subscribed()).toEqual([]);
    broker.emit('candles/EURUSD/1', { time: 240, open: 2, high: 2, low: 2, close: 2, volume: 1 });
    expect(ticks).toHaveLength(2);
  });

  it('getServerTime reads /udf/time', async () => {
    const { datafeed } = datafeedWith({ time: () => 1763769600 });
    await expect(new Promise((ok) => datafeed.getServerTime(ok))).resolves.toBe(1763769600);
  });
});
