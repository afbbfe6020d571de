/**
 * MetaTrader 5 tick exports (Symbols → Ticks → Export): tab-separated, a header
 * `<DATE> <TIME> <BID> <ASK> <LAST> <VOLUME> <FLAGS>`, rows such as
 * `2025.01.02␉00:00:00.351␉1.03512␉1.03524␉␉␉6`, times in the server's zone. MT5 writes only the
 * fields that changed, so an empty BID/ASK/LAST means "same as before". Files come as UTF-16LE
 * (MT5's default) or UTF-8, with or without a byte-order mark, with CRLF or LF line ends.
 */

/** One row, prices carried forward; `wallMs` is the server's wall clock read as if it were UTC. */
export interface Mt5Row {
  wallMs: number;
  bid: number;
  ask: number;
  last: number;
  volume: number;
  flags: number;
}

export type Mt5RowResult = { row: Mt5Row } | { skipped: string } | { error: string };

const REQUIRED = ['DATE', 'TIME', 'BID', 'ASK'] as const;
const OPTIONAL = ['LAST', 'VOLUME', 'FLAGS'] as const;
type Column = (typeof REQUIRED)[number] | (typeof OPTIONAL)[number];

const DATE = /^(\d{4})[.-](\d{2})[.-](\d{2})$/;
const TIME = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export class Mt5ExportParser {
  private readonly columns: Map<Column, number>;
  private previous = { bid: NaN, ask: NaN, last: 0 };

  /** Throws with a readable message when the header is not an MT5 tick export's. */
  constructor(headerLine: string) {
    const names = headerLine.split('\t').map((h) => h.trim().replace(/^<|>$/g, '').toUpperCase());
    this.columns = new Map();
    names.forEach((name, i) => {
      if ((REQUIRED as readonly string[]).includes(name) || (OPTIONAL as readonly string[]).includes(name)) {
        this.columns.set(name as Column, i);
      }
    });
    const missing = REQUIRED.filter((c) => !this.columns.has(c));
    if (missing.length > 0) {
      throw new Error(
        `not an MT5 tick export: header lacks ${missing.map((m) => `<${m}>`).join(' ')} (expected <DATE> <TIME> <BID> <ASK> <LAST> <VOLUME> <FLAGS>, tab-separated)`,
      );
    }
  }

  /** Parses the next row; rows before both a bid and an ask are known are skipped. */
  row(line: string): Mt5RowResult {
    const cells = line.split('\t');
    const cell = (c: Column) => {
      const i = this.columns.get(c);
      return i === undefined ? '' : (cells[i] ?? '').trim();
    };

    const wallMs = parseWallTime(cell('DATE'), cell('TIME'));
    if (wallMs === undefined) return { error: `bad date/time ${JSON.stringify(`${cell('DATE')} ${cell('TIME')}`)}` };

    const fields: Record<'BID' | 'ASK' | 'LAST' | 'VOLUME' | 'FLAGS', number | undefined> = {
      BID: undefined,
      ASK: undefined,
      LAST: undefined,
      VOLUME: undefined,
      FLAGS: undefined,
    };
    for (const name of Object.keys(fields) as (keyof typeof fields)[]) {
      const text = cell(name);
      if (text === '') continue;
      if (!DECIMAL.test(text)) return { error: `bad ${name} ${JSON.stringify(text.slice(0, 40))}` };
      fields[name] = Number(text);
    }
    if (fields.FLAGS !== undefined && !Number.isInteger(fields.FLAGS)) return { error: `bad FLAGS ${fields.FLAGS}` };

    const bid = fields.BID ?? this.previous.bid;
    const ask = fields.ASK ?? this.previous.ask;
    const last = fields.LAST ?? this.previous.last;
    this.previous = { bid, ask, last };
    if (Number.isNaN(bid) || Number.isNaN(ask)) return { skipped: 'no bid/ask known yet' };
    return { row: { wallMs, bid, ask, last, volume: fields.VOLUME ?? 0, flags: fields.FLAGS ?? 0 } };
  }
}

function parseWallTime(date: string, time: string): number | undefined {
  const d = DATE.exec(date);
  const t = TIME.exec(time);
  if (!d || !t) return undefined;
  const [year, month, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
  const [hour, minute, second] = [Number(t[1]), Number(t[2]), Number(t[3])];
  const ms = t[4] === undefined ? 0 : Number(t[4].padEnd(3, '0'));
  const value = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // Reject 2025.02.30 and 25:00 rather than letting Date roll them over.
  const check = new Date(value);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  return value;
}

/**
 * Lines of a text file given as chunks: the encoding is taken from the byte-order mark (UTF-8,
 * UTF-16LE, UTF-16BE) or, without one, guessed from NUL bytes (UTF-16LE, as MT5 writes) or else
 * UTF-8. Line ends may be CRLF or LF. Streams, so a year of ticks never sits in memory.
 */
export async function* textLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<string> {
  let decoder: InstanceType<typeof TextDecoder> | undefined;
  let pending = '';
  for await (const chunk of chunks) {
    decoder ??= new TextDecoder(sniffEncoding(chunk), { fatal: true });
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop() as string;
    for (const line of lines) yield line.endsWith('\r') ? line.slice(0, -1) : line;
  }
  if (decoder) pending += decoder.decode();
  if (pending !== '') yield pending.endsWith('\r') ? pending.slice(0, -1) : pending;
}

function sniffEncoding(head: Buffer): 'utf-8' | 'utf-16le' | 'utf-16be' {
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head.length >= 2 && head[0] !== 0 && head[1] === 0) return 'utf-16le';
  if (head.length >= 2 && head[0] === 0 && head[1] !== 0) return 'utf-16be';
  return 'utf-8';
}
