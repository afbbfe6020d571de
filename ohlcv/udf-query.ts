import { z } from 'zod';
import { RESOLUTIONS, type Resolution } from '../protocol/names.js';

/**
 * Query parameters of the UDF routes (docs/protocol.md#udf-datafeed), parsed before any handler runs. Shapes that can
 * never be right (a `from` that is not an integer, a duplicated parameter) fail here with 400; a
 * well-formed request for something that does not exist (unknown symbol or resolution) is answered
 * by the handler in UDF terms.
 */

/** The most bars one history answer holds; TradingView pages with `countback` well below it. */
export const MAX_BARS = 20_000;
export const MAX_SEARCH_RESULTS = 100;
export const MAX_QUOTE_SYMBOLS = 50;

const seconds = (name: string) =>
  z
    .string({ error: `${name} is required` })
    .regex(/^-?\d{1,12}$/, `${name} must be a time in UTC seconds`)
    .transform(Number);

const boundedInt = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${name} must be between ${min} and ${max}`);

/** `MT5:EURUSD` (TradingView's full name) and `EURUSD` name the same symbol. */
const symbolName = z
  .string({ error: 'symbol is required' })
  .min(1, 'symbol is required')
  .max(100, 'symbol is too long')
  .transform((s) => s.slice(s.indexOf(':') + 1));

const ALIASES: Record<string, Resolution> = { D: '1D', W: '1W', M: '1M', S: '1S', '1H': '60', '4H': '240' };

/** A resolution as TradingView may spell it, or null for one this server does not build. */
export function parseResolution(text: string): Resolution | null {
  const upper = text.toUpperCase();
  if ((RESOLUTIONS as readonly string[]).includes(upper)) return upper as Resolution;
  return ALIASES[upper] ?? null;
}

export const symbolQuery = z.object({ symbol: symbolName });

export const historyQuery = z
  .object({
    symbol: symbolName,
    resolution: z.string({ error: 'resolution is required' }).max(16, 'resolution is too long').transform(parseResolution),
    from: seconds('from').optional(),
    to: seconds('to'),
    countback: boundedInt('countback', 1, MAX_BARS).optional(),
  })
  .refine((q) => q.from !== undefined || q.countback !== undefined, { message: 'from or countback is required' })
  .refine((q) => q.from === undefined || q.countback !== undefined || q.from <= q.to, { message: 'from must not be after to' });

export const searchQuery = z.object({
  query: z.string().max(100, 'query is too long').default(''),
  type: z.string().max(32, 'type is too long').default(''),
  exchange: z.string().max(32, 'exchange is too long').default(''),
  limit: boundedInt('limit', 1, MAX_SEARCH_RESULTS).default(30),
});

export const quotesQuery = z.object({
  symbols: z
    .string({ error: 'symbols is required' })
    .max(4000, 'symbols is too long')
    .transform((s) =>
      [
        ...new Set(
          s
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        ),
      ].map((x) => x.slice(x.indexOf(':') + 1)),
    )
    .refine((list) => list.length >= 1 && list.length <= MAX_QUOTE_SYMBOLS, `symbols must name 1 to ${MAX_QUOTE_SYMBOLS} symbols`),
});

export type HistoryQuery = z.output<typeof historyQuery>;
export type SearchQuery = z.output<typeof searchQuery>;
export type QuotesQuery = z.output<typeof quotesQuery>;
export type SymbolQuery = z.output<typeof symbolQuery>;
