import { RESOLUTIONS, type Resolution } from '../../protocol/names.js';
import { topics } from '../../protocol/topics.js';
import { candlePayloadSchema, classifyLiveBar, type Bar } from './bars.js';
import { parsePayload } from './payload.js';
import { DEFAULT_UDF_CONFIG, UdfClient, type Fetch, type UdfConfig } from './udf.js';

/**
 * TradingView Charting Library JS datafeed (IBasicDataFeed) over ticktalk: history, symbols and
 * search from the UDF routes, live bars from MQTT `candles/{SYMBOL}/{RES}`. Drop it into a widget:
 *
 *   new TradingView.widget({ datafeed: new TicktalkDatafeed({ baseUrl: '/udf', subscriber }), ... })
 *
 * where `subscriber` is anything that can subscribe to an MQTT topic (the page's connection, or a
 * thin wrapper around an mqtt.js client). The types below are the parts of the library's
 * `datafeed-api.d.ts` this module uses, declared here so it builds without the licensed library.
 */

/** One MQTT topic subscription; returns the function that ends it. */
export interface TopicSubscriber {
  subscribe(topic: string, onMessage: (payload: Uint8Array | string) => void): () => void;
}

export interface DatafeedConfiguration {
  supported_resolutions: string[];
  supports_search: boolean;
  supports_group_request: boolean;
  supports_time: boolean;
  supports_marks: boolean;
  supports_timescale_marks: boolean;
  exchanges?: { value: string; name: string; desc: string }[];
  symbols_types?: { name: string; value: string }[];
}

export interface SearchSymbolResultItem {
  symbol: string;
  full_name: string;
  description: string;
  exchange: string;
  ticker?: string;
  type: string;
}

export interface LibrarySymbolInfo {
  name: string;
  full_name: string;
  ticker: string;
  description: string;
  type: string;
  session: string;
  exchange: string;
  listed_exchange: string;
  timezone: string;
  format: 'price' | 'volume';
  minmov: number;
  pricescale: number;
  has_intraday: boolean;
  has_seconds: boolean;
  seconds_multipliers: string[];
  has_daily: boolean;
  has_weekly_and_monthly: boolean;
  supported_resolutions: string[];
  volume_precision: number;
  data_status: 'streaming' | 'endofday' | 'delayed_streaming';
}

/** A TradingView bar: `time` in milliseconds since the epoch, UTC. */
export interface TvBar {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface PeriodParams {
  /** UTC seconds, leftmost requested bar. */
  from: number;
  /** UTC seconds, exclusive. */
  to: number;
  /** Bars the library wants; when given it wins over `from`. */
  countBack: number;
  firstDataRequest: boolean;
}

export interface HistoryMetadata {
  noData?: boolean;
  /** As in TradingView's own UDF adapter: UTC seconds of the next older bar when the range is a gap. */
  nextTime?: number | null;
}

export type ErrorCallback = (reason: string) => void;

export interface DatafeedOptions {
  /** Where the UDF routes live, e.g. `/udf`. */
  baseUrl: string;
  fetch?: Fetch;
  subscriber: TopicSubscriber;
}

/** TradingView resolution strings as the library may spell them, mapped to the contract's. */
export function toResolution(resolution: string): Resolution | undefined {
  const normalised = /^[DWM]$/.test(resolution) ? `1${resolution}` : resolution;
  return (RESOLUTIONS as readonly string[]).includes(normalised) ? (normalised as Resolution) : undefined;
}

interface Listener {
  unsubscribe: () => void;
}

export class TicktalkDatafeed {
  private readonly udf: UdfClient;
  private readonly subscriber: TopicSubscriber;
  private readonly listeners = new Map<string, Listener>();
  /** Newest bar time (seconds) handed to the library per `ticker|resolution`. */
  private readonly newestBar = new Map<string, number>();
  private config: Promise<UdfConfig> | undefined;

  constructor(opts: DatafeedOptions) {
    this.udf = new UdfClient(opts.fetch ? { baseUrl: opts.baseUrl, fetch: opts.fetch } : { baseUrl: opts.baseUrl });
    this.subscriber = opts.subscriber;
  }

  onReady(callback: (configuration: DatafeedConfiguration) => void): void {
    this.config ??= this.udf.config().catch(() => DEFAULT_UDF_CONFIG);
    // The library requires this callback to be asynchronous; a promise continuation always is.
    void this.config.then((c) => callback(toConfiguration(c)));
  }

  searchSymbols(userInput: string, exchange: string, symbolType: string, onResult: (items: SearchSymbolResultItem[]) => void): void {
    this.udf.search(userInput, { exchange, type: symbolType, limit: 30 }).then(
      (items) =>
        onResult(
          items.map((s) => ({
            symbol: s.symbol,
            full_name: s.full_name ?? s.symbol,
            description: s.description,
            exchange: s.exchange,
            ticker: s.ticker ?? s.symbol,
            type: s.type,
          })),
        ),
      () => onResult([]),
    );
  }

  resolveSymbol(symbolName: string, onResolve: (info: LibrarySymbolInfo) => void, onError: ErrorCallback): void {
    this.udf.symbol(symbolName).then(
      (s) => {
        const ticker = s.ticker ?? s.name;
        onResolve({
          name: s.name,
          full_name: s.exchange ? `${s.exchange}:${s.name}` : s.name,
          ticker,
          description: s.description,
          type: s.type,
          session: s.session,
          exchange: s.exchange,
          listed_exchange: s.listed_exchange ?? s.exchange,
          timezone: s.timezone,
          format: 'price',
          minmov: s.minmov,
          pricescale: s.pricescale,
          has_intraday: s.has_intraday,
          has_seconds: s.has_seconds ?? s.supported_resolutions.includes('1S'),
          seconds_multipliers: ['1'],
          has_daily: s.has_daily,
          has_weekly_and_monthly: s.has_weekly_and_monthly,
          supported_resolutions: s.supported_resolutions,
          volume_precision: s.volume_precision,
          data_status: s.data_status,
        });
      },
      // The library recognises this reason and shows "invalid symbol".
      () => onError('unknown_symbol'),
    );
  }

  getBars(
    symbolInfo: LibrarySymbolInfo,
    resolution: string,
    periodParams: PeriodParams,
    onResult: (bars: TvBar[], meta: HistoryMetadata) => void,
    onError: ErrorCallback,
  ): void {
    const res = toResolution(resolution);
    if (!res) {
      queueMicrotask(() => onError(`unsupported resolution ${resolution}`));
      return;
    }
    const request = {
      symbol: symbolInfo.ticker,
      resolution: res,
      from: periodParams.from,
      to: periodParams.to,
      ...(periodParams.countBack > 0 ? { countback: periodParams.countBack } : {}),
    };
    this.udf.history(request).then(
      (history) => {
        const newest = history.bars.at(-1);
        if (periodParams.firstDataRequest && newest) this.newestBar.set(key(symbolInfo.ticker, res), newest.time);
        if (history.noData) {
          onResult([], history.nextTime === undefined ? { noData: true } : { noData: true, nextTime: history.nextTime });
        } else {
          onResult(history.bars.map(toTvBar), { noData: false });
        }
      },
      (err: Error) => onError(err.message),
    );
  }

  /**
   * Live bars. The library accepts only an update of its last bar or a newer bar; a re-published
   * older bar (history corrected by a late tick) is never passed on: it triggers
   * `onResetCacheNeeded`, after which the integrator calls `chart.resetData()` and the library
   * asks `getBars` again for the corrected history.
   */
  subscribeBars(
    symbolInfo: LibrarySymbolInfo,
    resolution: string,
    onTick: (bar: TvBar) => void,
    listenerGuid: string,
    onResetCacheNeeded: () => void,
  ): void {
    const res = toResolution(resolution);
    if (!res) return;
    this.unsubscribeBars(listenerGuid);
    const barKey = key(symbolInfo.ticker, res);
    const unsubscribe = this.subscriber.subscribe(topics.candle(symbolInfo.ticker, res), (payload) => {
      const bar = parsePayload(candlePayloadSchema, payload);
      if (!bar) return;
      if (classifyLiveBar(this.newestBar.get(barKey), bar) === 'correction') {
        onResetCacheNeeded();
        return;
      }
      this.newestBar.set(barKey, bar.time);
      onTick(toTvBar(bar));
    });
    this.listeners.set(listenerGuid, { unsubscribe });
  }

  unsubscribeBars(listenerGuid: string): void {
    this.listeners.get(listenerGuid)?.unsubscribe();
    this.listeners.delete(listenerGuid);
  }

  getServerTime(callback: (unixSeconds: number) => void): void {
    this.udf.time().then(callback, () => {});
  }
}

function key(ticker: string, resolution: Resolution): string {
  return `${ticker}|${resolution}`;
}

function toTvBar(bar: Bar): TvBar {
  return { time: bar.time * 1000, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume };
}

function toConfiguration(c: UdfConfig): DatafeedConfiguration {
  return {
    supported_resolutions: c.supported_resolutions,
    supports_search: c.supports_search,
    supports_group_request: c.supports_group_request,
    supports_time: c.supports_time,
    supports_marks: c.supports_marks,
    supports_timescale_marks: c.supports_timescale_marks,
    ...(c.exchanges ? { exchanges: c.exchanges } : {}),
    ...(c.symbols_types ? { symbols_types: c.symbols_types } : {}),
  };
}
