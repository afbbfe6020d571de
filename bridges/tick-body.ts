import { z } from 'zod';
import { SYMBOL_PATTERN } from '../protocol/names.js';
import { TICK_FLAG, type Tick } from '../protocol/tick.js';
import { wallClockToUtc } from './feed-time.js';

/**
 * Parsing and validation of feed messages on `mt.ticks` (docs/protocol.md#tick-feeds). Pure: bytes and metadata in,
 * valid ticks and reasons out.
 *
 * Accepted bodies:
 * - `application/json`: one tick object or a non-empty array of them,
 *   `{"symbol"?,"time_msc"?,"time"?,"bid","ask","last"?,"volume"?,"volume_real"?,"flags"?}`.
 *   `time_msc` (ms) or `time` (s, may be fractional; `time_msc` wins when both are given) count the
 *   feed's wall clock in `FEED_TIMEZONE` and are converted to UTC (DST-correct). Fields not listed are
 *   ignored; a listed field of the wrong type rejects the tick. Python's `NaN`/`Infinity` tokens
 *   (what `json.dumps` writes by default) are understood so such a tick is rejected on its own instead
 *   of failing the whole batch.
 * - `text/plain`: DWX form `EURUSD:|:1.08312;1.08325`, one quote per line, stamped with the time of
 *   receipt, flags BID|ASK.
 * - no content type: JSON when the body starts with `{` or `[`, DWX otherwise (feeds written with
 *   pika often leave `content_type` unset).
 * The symbol is the body's `symbol`, else the routing key after its first dot (`{feed}.{SYMBOL}`).
 *
 * Dead-lettering (the bridge's policy, documented here because it follows from this result):
 * a message with at least one rejected tick is republished once, unchanged (body, routing key,
 * properties and headers), to the exchange `mt.ticks.dead` (queue `ticktalk.ticks.dead`) with the
 * header `x-ticktalk-error` naming each rejected tick by its index in the batch and the reason,
 * e.g. `2 of 5 ticks rejected: #1 ask: must not be below bid; #3 bid: not a finite number (NaN)`.
 * The valid ticks of the same message are still delivered, so an operator who fixes and replays a
 * dead-lettered batch should resend only the indexes named. A message rejected as a whole (too
 * large, not UTF-8, not JSON, empty array, unsupported content type) is reported with index -1.
 */

/** Bodies larger than this are rejected unread: a feed batch of 1 MB holds over 5,000 ticks. */
export const MAX_TICK_BODY_BYTES = 1024 * 1024;

/** Reason families, the label of the bridge's dead-letter counter. */
export type RejectCode =
  | 'too_large'
  | 'not_utf8'
  | 'malformed'
  | 'empty_batch'
  | 'content_type'
  | 'not_finite'
  | 'invalid_price'
  | 'ask_below_bid'
  | 'invalid_symbol'
  | 'invalid_time'
  | 'invalid_field'
  /** Not produced by the parser: the bridge's label for a message it failed to process. */
  | 'internal';

export interface TickReject {
  /** Position of the tick in the batch (DWX: line), or -1 when the message as a whole is rejected. */
  index: number;
  reason: string;
  code: RejectCode;
}

export interface ParsedTickMessage {
  ticks: Tick[];
  rejects: TickReject[];
}

export interface TickMessageMeta {
  contentType?: string;
  routingKey: string;
  /** Epoch ms when the bridge received the message; the time of DWX quotes. */
  receivedAt: number;
}

/**
 * DWX quotes carry no time of their own. Both consumers of `mt.ticks` (the tick bridge and the
 * aggregator) stamp them with this, so a quote has the same time on `ticks/…` and in its candle. A message timestamp set by the publisher (or by RabbitMQ's
 * `timestamp_in_ms` interceptor) makes that time the same on every read; without one the first read
 * that commits decides, which still counts the quote once because offsets, not times, deduplicate.
 */
export function receiptTime(msg: { properties: { headers?: Record<string, unknown>; timestamp?: unknown } }, now: number): number {
  const inMs = msg.properties.headers?.['timestamp_in_ms'];
  if (typeof inMs === 'number' && Number.isFinite(inMs)) return inMs;
  const seconds = msg.properties.timestamp;
  return typeof seconds === 'number' && Number.isFinite(seconds) ? seconds * 1000 : now;
}

export interface TickParseOptions {
  /** IANA zone of the feed's timestamps (FEED_TIMEZONE). */
  timeZone: string;
  maxBytes?: number;
}

/** Latest instant accepted (2100-01-01): catches seconds sent as `time` in ms and similar unit mistakes. */
const MAX_TIME_MSC = Date.UTC(2100, 0, 1);
const NON_FINITE_MARK = '\u0000non-finite:';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseTickMessage(body: Buffer, meta: TickMessageMeta, opts: TickParseOptions): ParsedTickMessage {
  const maxBytes = opts.maxBytes ?? MAX_TICK_BODY_BYTES;
  if (body.length > maxBytes) {
    return whole('too_large', `body of ${body.length} bytes exceeds the limit of ${maxBytes} bytes`);
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return whole('not_utf8', 'body is not valid UTF-8');
  }

  const keySymbol = symbolFromRoutingKey(meta.routingKey);
  switch (bodyFormat(meta.contentType, text)) {
    case 'json':
      return parseJsonBody(text, keySymbol, opts.timeZone);
    case 'dwx':
      return parseDwxBody(text, meta.receivedAt);
    default:
      return whole('content_type', `unsupported content type ${JSON.stringify(meta.contentType)}: use application/json or text/plain`);
  }
}

/** Everything after the first dot of `{feed}.{SYMBOL}`; undefined when the key has no symbol part. */
export function symbolFromRoutingKey(routingKey: string): string | undefined {
  const dot = routingKey.indexOf('.');
  return dot === -1 || dot === routingKey.length - 1 ? undefined : routingKey.slice(dot + 1);
}

/** `x-ticktalk-error` for a message with rejects: bounded so it always fits an AMQP header table. */
export function describeRejects(result: ParsedTickMessage, maxLength = 2000): string {
  const total = result.ticks.length + result.rejects.filter((r) => r.index >= 0).length;
  const items = result.rejects.map((r) => (r.index < 0 ? r.reason : `#${r.index} ${r.reason}`));
  const head = result.rejects.some((r) => r.index < 0) ? 'message rejected' : `${result.rejects.length} of ${total} ticks rejected`;
  const text = `${head}: ${items.join('; ')}`;
  return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`;
}

function whole(code: RejectCode, reason: string): ParsedTickMessage {
  return { ticks: [], rejects: [{ index: -1, code, reason }] };
}

function bodyFormat(contentType: string | undefined, text: string): 'json' | 'dwx' | 'unsupported' {
  const mime = contentType?.split(';')[0].trim().toLowerCase();
  if (mime === 'application/json' || mime?.endsWith('+json')) return 'json';
  if (mime !== undefined && mime !== '' && mime !== 'text/plain') return 'unsupported';
  return /^\s*[[{]/.test(text) ? 'json' : 'dwx';
}

// ---------------------------------------------------------------------------------------------------
// JSON

/** A number field: finite (Python's NaN/Infinity arrive as marked strings), with a readable message. */
function numberField() {
  return z.number({
    error: (issue) =>
      isNonFinite(issue.input)
        ? `not a finite number (${String(issue.input).replace(NON_FINITE_MARK, '')})`
        : issue.input === undefined
          ? 'required'
          : `must be a number, got ${describeValue(issue.input)}`,
  });
}

const price = numberField().positive('must be positive');
const amount = numberField().nonnegative('must not be negative');
const feedTime = numberField().positive('must be positive');

/** The rules of one JSON feed tick; `checkFeedTick` applies the same ones by hand. */
export const feedTickSchema = z
  .object({
    symbol: z.string({ error: (i) => `must be a string, got ${describeValue(i.input)}` }).optional(),
    time_msc: feedTime.optional(),
    time: feedTime.optional(),
    bid: price,
    ask: price,
    last: amount.optional(),
    volume: amount.optional(),
    volume_real: amount.optional(),
    flags: numberField().int('must be an integer').nonnegative('must not be negative').optional(),
  })
  .refine((t) => t.time_msc !== undefined || t.time !== undefined, {
    message: 'required (time_msc or time)',
    path: ['time_msc'],
  })
  .refine((t) => t.ask >= t.bid, { message: 'must not be below bid', path: ['ask'] });

export type FeedTick = z.output<typeof feedTickSchema>;

/**
 * `feedTickSchema` checked by hand, at a fraction of zod's cost per tick: the tick (the item itself,
 * its fields read as the schema's output would hold them) or undefined where the schema would refuse
 * it; the schema is then asked for the wording.
 */
export function checkFeedTick(item: Record<string, unknown>): FeedTick | undefined {
  const { symbol, time_msc, time, bid, ask, flags } = item;
  if (symbol !== undefined && typeof symbol !== 'string') return undefined;
  if (!optionalTime(time_msc) || !optionalTime(time) || (time_msc === undefined && time === undefined)) return undefined;
  if (!isPositive(bid) || !isPositive(ask) || !(ask >= bid)) return undefined;
  if (!optionalAmount(item.last) || !optionalAmount(item.volume) || !optionalAmount(item.volume_real)) return undefined;
  return optionalCount(flags) ? (item as FeedTick) : undefined;
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

/** zod 4's `int()` means a safe integer. */
function optionalCount(value: unknown): boolean {
  return value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0);
}

function optionalTime(value: unknown): boolean {
  return value === undefined || isPositive(value);
}

function optionalAmount(value: unknown): boolean {
  return value === undefined || (typeof value === 'number' && Number.isFinite(value) && value >= 0);
}

function parseJsonBody(text: string, keySymbol: string | undefined, timeZone: string): ParsedTickMessage {
  let parsed: unknown;
  try {
    parsed = parseJsonAllowingNonFinite(text);
  } catch (err) {
    return whole('malformed', `body is not JSON: ${(err as Error).message}`);
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  if (items.length === 0) return whole('empty_batch', 'empty array: a batch holds at least one tick');

  const result: ParsedTickMessage = { ticks: [], rejects: [] };
  items.forEach((item, index) => {
    const outcome = jsonTick(item, keySymbol, timeZone);
    if ('tick' in outcome) result.ticks.push(outcome.tick);
    else result.rejects.push({ index, ...outcome.reject });
  });
  return result;
}

type TickOutcome = { tick: Tick } | { reject: Omit<TickReject, 'index'> };

function jsonTick(item: unknown, keySymbol: string | undefined, timeZone: string): TickOutcome {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    return { reject: { code: 'invalid_field', reason: `a tick must be an object, got ${describeValue(item)}` } };
  }
  let t = checkFeedTick(item as Record<string, unknown>);
  if (t === undefined) {
    const checked = feedTickSchema.safeParse(item);
    if (!checked.success) return { reject: fromIssue(checked.error.issues[0], item as Record<string, unknown>) };
    t = checked.data;
  }

  const symbol = checkSymbol(t.symbol ?? keySymbol, t.symbol !== undefined);
  if (typeof symbol !== 'string') return symbol;

  const time_msc = checkTime(t, timeZone);
  if (typeof time_msc !== 'number') return time_msc;

  const tick: Tick = {
    symbol,
    time_msc,
    bid: t.bid,
    ask: t.ask,
    last: t.last ?? 0,
    volume: t.volume ?? 0,
    flags: t.flags ?? 0,
  };
  if (t.volume_real !== undefined) tick.volume_real = t.volume_real;
  return { tick };
}

function checkSymbol(symbol: string | undefined, fromBody: boolean): string | { reject: Omit<TickReject, 'index'> } {
  if (symbol === undefined) {
    return { reject: { code: 'invalid_symbol', reason: 'symbol: missing (no "symbol" in the body and no routing key {feed}.{SYMBOL})' } };
  }
  if (!SYMBOL_PATTERN.test(symbol)) {
    const where = fromBody ? 'symbol' : 'routing key symbol';
    return { reject: { code: 'invalid_symbol', reason: `${where}: ${JSON.stringify(symbol)} must match [A-Za-z0-9._-]{1,32}` } };
  }
  return symbol;
}

/** The tick's UTC time in ms from its wall-clock `time_msc` (or `time` in seconds) in the feed's zone. */
function checkTime(t: FeedTick, timeZone: string): number | { reject: Omit<TickReject, 'index'> } {
  const wallMs = t.time_msc ?? (t.time as number) * 1000;
  const time_msc = wallMs < MAX_TIME_MSC ? Math.round(wallClockToUtc(wallMs, timeZone)) : NaN;
  if (time_msc > 0 && time_msc < MAX_TIME_MSC) return time_msc;
  const field = t.time_msc !== undefined ? 'time_msc' : 'time';
  return { reject: { code: 'invalid_time', reason: `${field}: out of range (1970 to 2099 UTC)` } };
}

function fromIssue(issue: z.core.$ZodIssue, item: Record<string, unknown>): Omit<TickReject, 'index'> {
  const field = issue.path.map(String).join('.');
  const code: RejectCode = isNonFinite(item[field])
    ? 'not_finite'
    : field === 'ask' && issue.code === 'custom'
      ? 'ask_below_bid'
      : field === 'bid' || field === 'ask'
        ? 'invalid_price'
        : field === 'time' || field === 'time_msc'
          ? 'invalid_time'
          : field === 'symbol'
            ? 'invalid_symbol'
            : 'invalid_field';
  return { code, reason: `${field}: ${issue.message}` };
}

/** Infinity from an overflowing literal such as 1e999, or a marked Python NaN/Infinity token. */
function isNonFinite(value: unknown): boolean {
  return (typeof value === 'number' && !Number.isFinite(value)) || (typeof value === 'string' && value.startsWith(NON_FINITE_MARK));
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return typeof value;
}

/**
 * JSON.parse, plus the bare `NaN`, `Infinity` and `-Infinity` tokens Python's json module writes by
 * default; those become marked strings so validation can name them. Strings in the body are left alone.
 */
function parseJsonAllowingNonFinite(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!/NaN|Infinity/.test(text)) throw err;
    const marked = text.replace(/"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)/g, (match, token: string | undefined) =>
      token === undefined ? match : JSON.stringify(NON_FINITE_MARK + token),
    );
    try {
      return JSON.parse(marked);
    } catch {
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// DWX (Darwinex ZeroMQ connector style)

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseDwxBody(text: string, receivedAt: number): ParsedTickMessage {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0) return whole('empty_batch', 'empty body: expected SYMBOL:|:BID;ASK');

  const result: ParsedTickMessage = { ticks: [], rejects: [] };
  lines.forEach((line, index) => {
    const outcome = dwxTick(line.trim(), receivedAt);
    if ('tick' in outcome) result.ticks.push(outcome.tick);
    else result.rejects.push({ index, ...outcome.reject });
  });
  return result;
}

function dwxTick(line: string, receivedAt: number): TickOutcome {
  const match = /^(.*):\|:([^;]*);([^;]*)$/.exec(line);
  if (!match) {
    return { reject: { code: 'malformed', reason: `not DWX form SYMBOL:|:BID;ASK: ${JSON.stringify(line.slice(0, 60))}` } };
  }
  const symbol = checkSymbol(match[1], true);
  if (typeof symbol !== 'string') return symbol;
  const bid = dwxPrice('bid', match[2]);
  if (typeof bid !== 'number') return bid;
  const ask = dwxPrice('ask', match[3]);
  if (typeof ask !== 'number') return ask;
  if (ask < bid) return { reject: { code: 'ask_below_bid', reason: 'ask: must not be below bid' } };
  return { tick: { symbol, time_msc: receivedAt, bid, ask, last: 0, volume: 0, flags: TICK_FLAG.BID | TICK_FLAG.ASK } };
}

function dwxPrice(field: 'bid' | 'ask', raw: string): number | { reject: Omit<TickReject, 'index'> } {
  const text = raw.trim();
  if (!DECIMAL.test(text)) {
    const nonFinite = /^[+-]?(?:nan|inf(?:inity)?)$/i.test(text);
    return {
      reject: nonFinite
        ? { code: 'not_finite', reason: `${field}: not a finite number (${text})` }
        : { code: 'invalid_price', reason: `${field}: must be a decimal number, got ${JSON.stringify(text.slice(0, 40))}` },
    };
  }
  const value = Number(text);
  if (!Number.isFinite(value)) return { reject: { code: 'not_finite', reason: `${field}: not a finite number (${text})` } };
  if (value <= 0) return { reject: { code: 'invalid_price', reason: `${field}: must be positive` } };
  return value;
}
