import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { describeRejects, MAX_TICK_BODY_BYTES, parseTickMessage, receiptTime, symbolFromRoutingKey, type TickMessageMeta } from './tick-body.js';

const RECEIVED_AT = Date.UTC(2025, 0, 2, 10, 0, 0, 123);
const json: TickMessageMeta = { contentType: 'application/json', routingKey: 'mt5.EURUSD', receivedAt: RECEIVED_AT };
const utc = { timeZone: 'UTC' };

const parse = (body: string | Buffer, meta: Partial<TickMessageMeta> = {}, opts = utc) =>
  parseTickMessage(typeof body === 'string' ? Buffer.from(body) : body, { ...json, ...meta }, opts);

const base = { time_msc: 1735776000351, bid: 1.03512, ask: 1.03524 };
const one = (fields: Record<string, unknown>) => JSON.stringify({ ...base, ...fields });

describe('JSON bodies', () => {
  it('one tick, symbol from the routing key, exact values, defaults for optional fields', () => {
    expect(parse(JSON.stringify(base))).toEqual({
      ticks: [{ symbol: 'EURUSD', time_msc: 1735776000351, bid: 1.03512, ask: 1.03524, last: 0, volume: 0, flags: 0 }],
      rejects: [],
    });
  });

  it('keeps every given field, including volume_real', () => {
    const { ticks } = parse(one({ symbol: 'XAUUSD', last: 2650.5, volume: 3, volume_real: 0.25, flags: 30 }));
    expect(ticks).toEqual([
      { symbol: 'XAUUSD', time_msc: 1735776000351, bid: 1.03512, ask: 1.03524, last: 2650.5, volume: 3, volume_real: 0.25, flags: 30 },
    ]);
  });

  it('a symbol in the body wins over the routing key', () => {
    expect(parse(one({ symbol: 'GBPUSD' }), { routingKey: 'mt5.EURUSD' }).ticks[0].symbol).toBe('GBPUSD');
  });

  it('the symbol is everything after the first dot of the routing key', () => {
    expect(parse(JSON.stringify(base), { routingKey: 'icmarkets.EURUSD.raw' }).ticks[0].symbol).toBe('EURUSD.raw');
    expect(symbolFromRoutingKey('feed.BTCUSD')).toBe('BTCUSD');
    expect(symbolFromRoutingKey('feed')).toBeUndefined();
    expect(symbolFromRoutingKey('feed.')).toBeUndefined();
  });

  it('an array of ticks', () => {
    const body = JSON.stringify([base, { ...base, symbol: 'USDJPY', bid: 157.123, ask: 157.135 }]);
    const { ticks, rejects } = parse(body);
    expect(rejects).toEqual([]);
    expect(ticks.map((t) => [t.symbol, t.bid, t.ask])).toEqual([
      ['EURUSD', 1.03512, 1.03524],
      ['USDJPY', 157.123, 157.135],
    ]);
  });

  it('time in seconds, possibly fractional', () => {
    const { ticks } = parse(JSON.stringify({ time: 1735776000.351, bid: 1, ask: 1 }));
    expect(ticks[0].time_msc).toBe(1735776000351);
    expect(parse(JSON.stringify({ time: 1735776000, bid: 1, ask: 1 })).ticks[0].time_msc).toBe(1735776000000);
  });

  it('time_msc wins over time when both are given', () => {
    expect(parse(one({ time: 1 })).ticks[0].time_msc).toBe(1735776000351);
  });

  it('converts FEED_TIMEZONE wall-clock time to UTC (EET in winter and EEST in summer)', () => {
    const winter = parse(JSON.stringify({ ...base, time_msc: Date.UTC(2025, 0, 2, 0, 0, 0, 351) }), {}, { timeZone: 'Europe/Athens' });
    expect(winter.ticks[0].time_msc).toBe(Date.UTC(2025, 0, 1, 22, 0, 0, 351));
    const summer = parse(JSON.stringify({ bid: 1.1, ask: 1.1, time: Date.UTC(2025, 6, 1, 12) / 1000 }), {}, { timeZone: 'EET' });
    expect(summer.ticks[0].time_msc).toBe(Date.UTC(2025, 6, 1, 9));
  });

  it('rounds a fractional time_msc to the millisecond', () => {
    expect(parse(one({ time_msc: 1735776000351.6 })).ticks[0].time_msc).toBe(1735776000352);
  });

  it('ignores fields it does not know', () => {
    expect(parse(one({ spread: 12, comment: 'x' })).ticks).toHaveLength(1);
  });

  it('accepts a content type with parameters and +json types', () => {
    expect(parse(JSON.stringify(base), { contentType: 'application/json; charset=utf-8' }).ticks).toHaveLength(1);
    expect(parse(JSON.stringify(base), { contentType: 'application/vnd.mt5+json' }).ticks).toHaveLength(1);
  });

  it('reads JSON when the content type is absent (pika default) or text/plain', () => {
    expect(parse(` ${JSON.stringify([base])}`, { contentType: undefined }).ticks).toHaveLength(1);
    expect(parse(JSON.stringify(base), { contentType: 'text/plain' }).ticks).toHaveLength(1);
  });

  it('accepts a UTF-8 byte-order mark', () => {
    expect(parse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(base))])).ticks).toHaveLength(1);
  });

  it('delivers the exact doubles any JSON writer produces (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-8, max: 1e7, noNaN: true }),
        fc.double({ min: 0, max: 1e4, noNaN: true }),
        fc.integer({ min: 1, max: 4_000_000_000_000 }),
        fc.stringMatching(/^[A-Za-z0-9._-]{1,32}$/),
        (bid, spread, time_msc, symbol) => {
          const ask = bid + spread;
          const { ticks } = parse(JSON.stringify({ symbol, time_msc, bid, ask }));
          expect(ticks).toEqual([{ symbol, time_msc, bid, ask, last: 0, volume: 0, flags: 0 }]);
        },
      ),
    );
  });
});

describe('DWX text bodies', () => {
  const dwx = { contentType: 'text/plain', routingKey: 'dwx.EURUSD' };

  it('SYMBOL:|:BID;ASK stamped with the time of receipt, flags BID|ASK', () => {
    expect(parse('EURUSD:|:1.08312;1.08325', dwx)).toEqual({
      ticks: [{ symbol: 'EURUSD', time_msc: RECEIVED_AT, bid: 1.08312, ask: 1.08325, last: 0, volume: 0, flags: 6 }],
      rejects: [],
    });
  });

  it('the symbol in the body wins over the routing key; receipt time is not zone-shifted', () => {
    const { ticks } = parse('GBPUSD:|:1.25;1.2501', dwx, { timeZone: 'Europe/Athens' });
    expect(ticks[0]).toMatchObject({ symbol: 'GBPUSD', time_msc: RECEIVED_AT });
  });

  it('one quote per line, CRLF tolerated, without a content type', () => {
    const { ticks, rejects } = parse('EURUSD:|:1.1;1.2\r\nUSDJPY:|:157.1;157.2\r\n', { contentType: undefined });
    expect(rejects).toEqual([]);
    expect(ticks.map((t) => t.symbol)).toEqual(['EURUSD', 'USDJPY']);
  });

  it('rejects malformed lines and keeps the good ones', () => {
    const { ticks, rejects } = parse(
      'EURUSD:|:1.1;1.2\nEURUSD 1.1 1.2\nEURUSD:|:nan;1.2\nEURUSD:|:1.3;1.2\nE#:|:1;2\nEURUSD:|:0x10;20\nEURUSD:|:-1;2',
      dwx,
    );
    expect(ticks).toHaveLength(1);
    expect(rejects.map((r) => [r.index, r.code])).toEqual([
      [1, 'malformed'],
      [2, 'not_finite'],
      [3, 'ask_below_bid'],
      [4, 'invalid_symbol'],
      [5, 'invalid_price'],
      [6, 'invalid_price'],
    ]);
  });

  it('an empty text body is rejected', () => {
    expect(parse('\n', dwx).rejects).toEqual([{ index: -1, code: 'empty_batch', reason: expect.stringContaining('empty') }]);
  });
});

describe('bad input (docs/protocol.md#tick-feeds): rejected with a reason, the rest of the batch delivered', () => {
  const rejectOf = (fields: Record<string, unknown>, meta: Partial<TickMessageMeta> = {}) => {
    const { ticks, rejects } = parse(one(fields), meta);
    expect(ticks).toEqual([]);
    expect(rejects).toHaveLength(1);
    return rejects[0];
  };

  it('not finite: an overflowing literal and Python NaN/Infinity tokens', () => {
    expect(parse(`{"time_msc":1735776000351,"bid":1e999,"ask":2e999}`).rejects[0]).toEqual({
      index: 0,
      code: 'not_finite',
      reason: 'bid: not a finite number (Infinity)',
    });
    const body =
      `[{"time_msc":1735776000351,"bid":NaN,"ask":1.1},{"time_msc":1735776000351,"bid":1.1,"ask":Infinity},` +
      `{"symbol":"NaN","time_msc":1735776000351,"bid":1.1,"ask":1.2,"comment":"Infinity \\" NaN"},` +
      `{"time_msc":1735776000351,"bid":1.1,"ask":1.2,"volume":-Infinity}]`;
    const { ticks, rejects } = parse(body);
    expect(ticks.map((t) => t.symbol)).toEqual(['NaN']);
    expect(rejects).toEqual([
      { index: 0, code: 'not_finite', reason: 'bid: not a finite number (NaN)' },
      { index: 1, code: 'not_finite', reason: 'ask: not a finite number (Infinity)' },
      { index: 3, code: 'not_finite', reason: 'volume: not a finite number (-Infinity)' },
    ]);
  });

  it('not positive', () => {
    expect(rejectOf({ bid: 0 })).toEqual({ index: 0, code: 'invalid_price', reason: 'bid: must be positive' });
    expect(rejectOf({ bid: -1.1, ask: -1 }).code).toBe('invalid_price');
    expect(rejectOf({ time_msc: 0 })).toMatchObject({ code: 'invalid_time', reason: 'time_msc: must be positive' });
    expect(rejectOf({ time_msc: undefined, time: -5 }).code).toBe('invalid_time');
    expect(rejectOf({ volume: -1 })).toMatchObject({ code: 'invalid_field', reason: 'volume: must not be negative' });
  });

  it('ask below bid', () => {
    expect(rejectOf({ bid: 1.2, ask: 1.1 })).toEqual({ index: 0, code: 'ask_below_bid', reason: 'ask: must not be below bid' });
    expect(parse(one({ bid: 1.2, ask: 1.2 })).ticks).toHaveLength(1);
  });

  it('known fields of the wrong type', () => {
    expect(rejectOf({ bid: '1.03512' })).toEqual({ index: 0, code: 'invalid_price', reason: 'bid: must be a number, got string "1.03512"' });
    expect(rejectOf({ time_msc: '1735776000351' }).code).toBe('invalid_time');
    expect(rejectOf({ flags: 6.5 })).toMatchObject({ code: 'invalid_field', reason: 'flags: must be an integer' });
    expect(rejectOf({ volume_real: true })).toMatchObject({ code: 'invalid_field', reason: 'volume_real: must be a number, got boolean' });
    expect(rejectOf({ last: null }).reason).toBe('last: must be a number, got null');
    expect(rejectOf({ symbol: 42 })).toMatchObject({ code: 'invalid_symbol', reason: 'symbol: must be a string, got number' });
  });

  it('missing required fields', () => {
    expect(rejectOf({ bid: undefined })).toMatchObject({ code: 'invalid_price', reason: 'bid: required' });
    expect(rejectOf({ time_msc: undefined })).toMatchObject({ code: 'invalid_time', reason: 'time_msc: required (time_msc or time)' });
  });

  it('time out of range (a unit mistake)', () => {
    expect(rejectOf({ time_msc: undefined, time: 1735776000351 })).toMatchObject({
      code: 'invalid_time',
      reason: 'time: out of range (1970 to 2099 UTC)',
    });
    expect(rejectOf({ time_msc: 1e300 }).code).toBe('invalid_time');
  });

  it('symbols with MQTT wildcards or outside [A-Za-z0-9._-]{1,32}', () => {
    for (const symbol of ['EUR#', 'EUR+USD', 'EUR/USD', '', 'EURUSD ', 'A'.repeat(33), 'ÉURUSD']) {
      expect(rejectOf({ symbol }).code).toBe('invalid_symbol');
    }
    expect(rejectOf({}, { routingKey: 'mt5.EUR#USD' })).toMatchObject({
      code: 'invalid_symbol',
      reason: 'routing key symbol: "EUR#USD" must match [A-Za-z0-9._-]{1,32}',
    });
    expect(rejectOf({}, { routingKey: 'mt5.EUR/USD' }).code).toBe('invalid_symbol');
    expect(rejectOf({}, { routingKey: 'nosymbol' }).reason).toMatch(/symbol: missing/);
  });

  it('non-UTF-8', () => {
    const body = Buffer.concat([Buffer.from('{"bid":1,"ask":1,"time":1,"symbol":"EUR'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    expect(parse(body)).toEqual({ ticks: [], rejects: [{ index: -1, code: 'not_utf8', reason: 'body is not valid UTF-8' }] });
  });

  it('a 10 MB body is rejected unread', () => {
    const body = Buffer.alloc(10 * 1024 * 1024, 0x20);
    expect(parse(body).rejects).toEqual([
      { index: -1, code: 'too_large', reason: `body of ${body.length} bytes exceeds the limit of ${MAX_TICK_BODY_BYTES} bytes` },
    ]);
  });

  it('an empty array', () => {
    expect(parse('[]').rejects).toEqual([{ index: -1, code: 'empty_batch', reason: 'empty array: a batch holds at least one tick' }]);
  });

  it('non-JSON with a JSON content type', () => {
    for (const body of ['{"bid":', 'EURUSD:|:1;2', '', '{"bid":NaN']) {
      const { ticks, rejects } = parse(body);
      expect(ticks).toEqual([]);
      expect(rejects).toEqual([{ index: -1, code: 'malformed', reason: expect.stringMatching(/^body is not JSON: /) }]);
    }
  });

  it('JSON values that are not tick objects', () => {
    expect(parse('null').rejects[0]).toEqual({ index: 0, code: 'invalid_field', reason: 'a tick must be an object, got null' });
    expect(parse('[1, [2], "x"]').rejects.map((r) => r.reason)).toEqual([
      'a tick must be an object, got number',
      'a tick must be an object, got an array',
      'a tick must be an object, got string "x"',
    ]);
  });

  it('an unsupported content type', () => {
    expect(parse(JSON.stringify(base), { contentType: 'application/octet-stream' }).rejects[0]).toMatchObject({
      index: -1,
      code: 'content_type',
    });
  });

  it('a batch with bad ticks still delivers its valid ticks, in order', () => {
    const body = JSON.stringify([
      base,
      { ...base, bid: 1.2, ask: 1.1 },
      { ...base, symbol: 'GBPUSD' },
      { ...base, symbol: 'A+B' },
      { ...base, symbol: 'USDJPY', bid: 157.1, ask: 157.2 },
    ]);
    const result = parse(body);
    expect(result.ticks.map((t) => t.symbol)).toEqual(['EURUSD', 'GBPUSD', 'USDJPY']);
    expect(result.rejects.map((r) => r.index)).toEqual([1, 3]);
    expect(describeRejects(result)).toBe('2 of 5 ticks rejected: #1 ask: must not be below bid; #3 symbol: "A+B" must match [A-Za-z0-9._-]{1,32}');
  });
});

describe('describeRejects', () => {
  it('names a message rejected as a whole', () => {
    expect(describeRejects(parse('[]'))).toBe('message rejected: empty array: a batch holds at least one tick');
  });

  it('stays within its bound however many ticks were rejected', () => {
    const result = parse(JSON.stringify(Array.from({ length: 5000 }, () => ({ ...base, bid: 0 }))));
    expect(result.rejects).toHaveLength(5000);
    const text = describeRejects(result);
    expect(text.length).toBe(2000);
    expect(text.startsWith('5000 of 5000 ticks rejected: #0 bid: must be positive; #1')).toBe(true);
  });
});

describe('receiptTime', () => {
  it('prefers the publisher timestamp so both consumers of mt.ticks stamp a DWX quote alike', () => {
    expect(receiptTime({ properties: { headers: { timestamp_in_ms: 1_700_000_000_123 } } }, 5)).toBe(1_700_000_000_123);
    expect(receiptTime({ properties: { headers: {}, timestamp: 1_700_000_000 } }, 5)).toBe(1_700_000_000_000);
    expect(receiptTime({ properties: { headers: {} } }, 5)).toBe(5);
  });
});
