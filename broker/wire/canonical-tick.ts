/**
 * Reads a tick payload written exactly as `encodeTick` writes it (the canonical form, what ticktalk's
 * own sources and well-behaved feeds send) straight from the bytes: no string, no JSON.parse, no
 * object, no re-encoding (the bytes are the ones every subscriber would get anyway). Pure.
 *
 * It accepts only what the general path (JSON.parse, the schema, encodeTick) would accept and
 * re-encode to the same bytes: the seven fields in order, no whitespace, numbers in the plain form
 * JavaScript prints (no sign, no leading or trailing zeros, no exponent) with at most 15 significant
 * digits (so the text is the shortest that round-trips, and m / 10^k of its digits is the correctly
 * rounded value), every rule of `tickPayloadSchema` met and the symbol equal to the topic's.
 * Anything else is left to the general path, which decides it and words any refusal.
 */
export class CanonicalTickReader {
  /** time_msc of the last tick read (valid after read returned true). */
  timeMsc = 0;
  private pos = 0;
  /** The number just read, and its digits for the form checks. */
  private value = 0;
  private mantissa = 0;
  private significant = 0;
  private readonly values = new Float64Array(FIELDS.length);

  /** True when `payload` is a canonical, valid tick for `symbol`. */
  read(payload: Buffer, symbol: string): boolean {
    this.pos = 0;
    if (!this.literal(payload, SYMBOL_KEY) || !this.symbol(payload, symbol)) return false;
    for (let i = 0; i < FIELDS.length; i++) {
      if (!this.literal(payload, FIELDS[i].key) || !this.number(payload, FIELDS[i].fraction)) return false;
      this.values[i] = this.value;
    }
    const bid = this.values[BID];
    const ask = this.values[ASK];
    if (bid <= 0 || ask < bid) return false;
    if (this.pos !== payload.length - 1 || payload[this.pos] !== CLOSE_BRACE) return false;
    this.timeMsc = this.values[TIME];
    return true;
  }

  private literal(payload: Buffer, bytes: Buffer): boolean {
    const at = this.pos;
    if (at + bytes.length > payload.length) return false;
    for (let i = 0; i < bytes.length; i++) if (payload[at + i] !== bytes[i]) return false;
    this.pos = at + bytes.length;
    return true;
  }

  /** The symbol's characters (docs/protocol.md#conventions), equal to the topic's, then the closing quote. */
  private symbol(payload: Buffer, symbol: string): boolean {
    const n = symbol.length;
    const at = this.pos;
    if (n < 1 || n > MAX_SYMBOL || at + n >= payload.length || payload[at + n] !== QUOTE) return false;
    for (let i = 0; i < n; i++) {
      const c = payload[at + i];
      if (c !== symbol.charCodeAt(i) || SYMBOL_CHAR[c] !== 1) return false;
    }
    this.pos = at + n + 1;
    return true;
  }

  /** A non-negative number in JavaScript's plain form into `value` (`fraction`: it may have one). */
  private number(payload: Buffer, fraction: boolean): boolean {
    this.mantissa = 0;
    this.significant = 0;
    if (!this.integerPart(payload)) return false;
    let scale = 0;
    if (payload[this.pos] === DOT) {
      scale = fraction ? this.fractionPart(payload) : -1;
      if (scale <= 0) return false;
    }
    if (this.significant > MAX_SIGNIFICANT) return false;
    this.value = scale === 0 ? this.mantissa : this.mantissa / POW10[scale];
    return true;
  }

  /** `0` or digits without a leading zero. */
  private integerPart(payload: Buffer): boolean {
    let at = this.pos;
    const first = payload[at];
    if (first === ZERO) at++;
    else if (!(first > ZERO && first <= NINE)) return false;
    for (; isDigit(payload[at]); at++, this.significant++) this.mantissa = this.mantissa * 10 + payload[at] - ZERO;
    // `0` then a digit: a leading zero.
    if (first === ZERO && at !== this.pos + 1) return false;
    this.pos = at;
    return true;
  }

  /** The digits after the dot: their count, or 0 when the form is not JavaScript's. */
  private fractionPart(payload: Buffer): number {
    let at = this.pos + 1;
    let scale = 0;
    for (; isDigit(payload[at]); at++, scale++) {
      this.mantissa = this.mantissa * 10 + payload[at] - ZERO;
      if (this.mantissa > 0) this.significant++;
      // Below 1e-6 JavaScript switches to exponent form.
      else if (scale >= MAX_LEADING_FRACTION_ZEROS) return 0;
    }
    // `1.` or a trailing zero.
    if (scale === 0 || payload[at - 1] === ZERO) return 0;
    this.pos = at;
    return scale;
  }
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= ZERO && c <= NINE;

const ascii = (s: string) => Buffer.from(s, 'latin1');
const SYMBOL_KEY = ascii('{"symbol":"');
/** The fields after the symbol, in encodeTick's order; integers take no fraction. */
const FIELDS = [
  { key: ascii(',"time_msc":'), fraction: false },
  { key: ascii(',"bid":'), fraction: true },
  { key: ascii(',"ask":'), fraction: true },
  { key: ascii(',"last":'), fraction: true },
  { key: ascii(',"volume":'), fraction: true },
  { key: ascii(',"flags":'), fraction: false },
];
const [TIME, BID, ASK] = [0, 1, 2];
const QUOTE = 0x22;
const CLOSE_BRACE = 0x7d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const MAX_SYMBOL = 32;
/** At most 15 significant digits: every such decimal round-trips through a double (DBL_DIG). */
const MAX_SIGNIFICANT = 15;
const MAX_LEADING_FRACTION_ZEROS = 5;
/** Exact powers of ten (every 10^k with k ≤ 22 is a double). */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
/** [A-Za-z0-9._-], SYMBOL_PATTERN's characters. */
const SYMBOL_CHAR = new Uint8Array(256);
for (const c of ascii('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-')) SYMBOL_CHAR[c] = 1;
