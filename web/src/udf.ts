import * as z from 'zod/mini';
import { RESOLUTIONS, type Resolution } from '../../protocol/names.js';
import type { Bar } from './bars.js';

/**
 * Client for the server's TradingView UDF routes (docs/protocol.md#udf-datafeed). Both the page's chart and the
 * TradingView datafeed read history and symbols through it; `fetch` is injected so it runs in
 * node tests as well as in the browser.
 */

export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

export class UdfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UdfError';
  }
}

const configSchema = z.object({
  supported_resolutions: z._default(z.array(z.string()), [...RESOLUTIONS]),
  supports_search: z._default(z.boolean(), true),
  supports_group_request: z._default(z.boolean(), false),
  supports_time: z._default(z.boolean(), false),
  supports_marks: z._default(z.boolean(), false),
  supports_timescale_marks: z._default(z.boolean(), false),
  exchanges: z.optional(z.array(z.object({ value: z.string(), name: z.string(), desc: z.string() }))),
  symbols_types: z.optional(z.array(z.object({ name: z.string(), value: z.string() }))),
});
export type UdfConfig = z.infer<typeof configSchema>;

/** What a datafeed assumes when `/udf/config` cannot be read: the contract's values. */
export const DEFAULT_UDF_CONFIG: UdfConfig = configSchema.parse({ supports_time: true });

const searchItemSchema = z.object({
  symbol: z.string(),
  full_name: z.optional(z.string()),
  description: z._default(z.string(), ''),
  exchange: z._default(z.string(), ''),
  ticker: z.optional(z.string()),
  type: z._default(z.string(), ''),
});
export type UdfSearchItem = z.infer<typeof searchItemSchema>;

const errorSchema = z.object({ s: z.literal('error'), errmsg: z.string() });

const symbolInfoSchema = z.object({
  name: z.string(),
  ticker: z.optional(z.string()),
  description: z._default(z.string(), ''),
  type: z._default(z.string(), ''),
  session: z._default(z.string(), '24x7'),
  exchange: z._default(z.string(), ''),
  listed_exchange: z.optional(z.string()),
  timezone: z._default(z.string(), 'Etc/UTC'),
  minmov: z._default(z.number(), 1),
  pricescale: z._default(z.number().check(z.positive()), 100_000),
  has_intraday: z._default(z.boolean(), true),
  has_seconds: z.optional(z.boolean()),
  has_daily: z._default(z.boolean(), true),
  has_weekly_and_monthly: z._default(z.boolean(), true),
  supported_resolutions: z._default(z.array(z.string()), [...RESOLUTIONS]),
  volume_precision: z._default(z.int().check(z.nonnegative()), 0),
  data_status: z._default(z.enum(['streaming', 'endofday', 'delayed_streaming']), 'streaming'),
});
export type UdfSymbolInfo = z.infer<typeof symbolInfoSchema>;

const numbers = z.array(z.number());
const historySchema = z.discriminatedUnion('s', [
  z.object({ s: z.literal('ok'), t: numbers, o: numbers, h: numbers, l: numbers, c: numbers, v: z.optional(numbers) }),
  z.object({ s: z.literal('no_data'), nextTime: z.nullish(z.number()) }),
  errorSchema,
]);

/** A history answer: bars ascending by time (seconds), or none with where older data resumes. */
export interface History {
  bars: Bar[];
  noData: boolean;
  /** Open time (UTC seconds) of the newest bar before the requested range, when there is one. */
  nextTime?: number;
}

export interface HistoryRequest {
  symbol: string;
  resolution: Resolution;
  /** UTC seconds, inclusive. */
  from: number;
  /** UTC seconds, exclusive. */
  to: number;
  /** When given, the server returns this many newest bars before `to`, whatever `from` says. */
  countback?: number;
}

export class UdfClient {
  private readonly fetch: Fetch;
  private readonly baseUrl: string;

  /** `baseUrl` is where the routes live, e.g. `/udf` on the page or `https://host/udf` elsewhere. */
  constructor(opts: { baseUrl: string; fetch?: Fetch }) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.fetch = opts.fetch ?? ((url, init) => globalThis.fetch(url, init));
  }

  async config(): Promise<UdfConfig> {
    return configSchema.parse(await this.get('config', {}));
  }

  async search(query: string, opts: { type?: string; exchange?: string; limit?: number } = {}): Promise<UdfSearchItem[]> {
    const body = await this.get('search', {
      query,
      type: opts.type ?? '',
      exchange: opts.exchange ?? '',
      limit: String(opts.limit ?? 50),
    });
    return parseOrThrow(z.array(searchItemSchema), body, 'search');
  }

  async symbol(symbol: string): Promise<UdfSymbolInfo> {
    return parseOrThrow(symbolInfoSchema, await this.get('symbols', { symbol }), 'symbols');
  }

  async history(req: HistoryRequest): Promise<History> {
    const params: Record<string, string> = {
      symbol: req.symbol,
      resolution: req.resolution,
      from: String(Math.floor(req.from)),
      to: String(Math.ceil(req.to)),
    };
    if (req.countback !== undefined) params.countback = String(req.countback);
    const body = parseOrThrow(historySchema, await this.get('history', params), 'history');
    if (body.s === 'error') throw new UdfError(body.errmsg);
    if (body.s === 'no_data') return body.nextTime == null ? { bars: [], noData: true } : { bars: [], noData: true, nextTime: body.nextTime };
    return { bars: zipBars(body), noData: body.t.length === 0 };
  }

  /** Server time in UTC seconds (`/udf/time` answers a bare number). */
  async time(): Promise<number> {
    return z.coerce
      .number()
      .check(z.int(), z.positive())
      .parse(await this.get('time', {}));
  }

  private async get(route: string, params: Record<string, string>): Promise<unknown> {
    const query = new URLSearchParams(params).toString();
    const url = `${this.baseUrl}/${route}${query ? `?${query}` : ''}`;
    const res = await this.fetch(url, { headers: { accept: 'application/json' } });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new UdfError(`${route}: HTTP ${res.status}, not JSON: ${text.slice(0, 120)}`);
    }
    const failure = errorSchema.safeParse(body);
    if (failure.success) throw new UdfError(failure.data.errmsg);
    if (!res.ok) throw new UdfError(`${route}: HTTP ${res.status}`);
    return body;
  }
}

function parseOrThrow<T>(schema: z.ZodMiniType<T>, body: unknown, route: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new UdfError(`${route}: unexpected answer: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

function zipBars(h: { t: number[]; o: number[]; h: number[]; l: number[]; c: number[]; v?: number[] | undefined }): Bar[] {
  const n = h.t.length;
  if ([h.o, h.h, h.l, h.c].some((col) => col.length !== n) || (h.v && h.v.length !== n)) {
    throw new UdfError('history: columns differ in length');
  }
  const bars: Bar[] = [];
  for (let i = 0; i < n; i++) {
    bars.push({ time: h.t[i], open: h.o[i], high: h.h[i], low: h.l[i], close: h.c[i], volume: h.v?.[i] ?? 0 });
  }
  // The contract promises ascending order; sorting guards the chart, which throws on disorder.
  return bars.sort((a, b) => a.time - b.time);
}
