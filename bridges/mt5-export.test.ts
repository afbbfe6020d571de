import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Mt5ExportParser, textLines, type Mt5Row } from './mt5-export.js';

const HEADER = '<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>';

async function lines(...chunks: Buffer[]): Promise<string[]> {
  const out: string[] = [];
  for await (const line of textLines(
    (async function* () {
      yield* chunks;
    })(),
  ))
    out.push(line);
  return out;
}

describe('Mt5ExportParser', () => {
  it('parses the contract example row', () => {
    const parser = new Mt5ExportParser(HEADER);
    expect(parser.row('2025.01.02\t00:00:00.351\t1.03512\t1.03524\t\t\t6')).toEqual({
      row: { wallMs: Date.UTC(2025, 0, 2, 0, 0, 0, 351), bid: 1.03512, ask: 1.03524, last: 0, volume: 0, flags: 6 },
    });
  });

  it('carries bid, ask and last forward when a row leaves them empty; volume is per row', () => {
    const parser = new Mt5ExportParser(HEADER);
    const rows = [
      '2025.01.02\t00:00:00.351\t1.03512\t1.03524\t\t\t6',
      '2025.01.02\t00:00:00.500\t\t1.03526\t\t\t4',
      '2025.01.02\t00:00:00.700\t1.03515\t\t0\t0\t2',
      '2025.01.02\t00:00:01\t\t\t1.0352\t3\t88',
      '2025.01.02\t00:00:01.5\t1.03516\t\t\t\t2',
    ].map((l) => (parser.row(l) as { row: Mt5Row }).row);
    expect(rows.map((r) => [r.bid, r.ask, r.last, r.volume, r.flags])).toEqual([
      [1.03512, 1.03524, 0, 0, 6],
      [1.03512, 1.03526, 0, 0, 4],
      [1.03515, 1.03526, 0, 0, 2],
      [1.03515, 1.03526, 1.0352, 3, 88],
      [1.03516, 1.03526, 1.0352, 0, 2],
    ]);
    expect(rows[3].wallMs).toBe(Date.UTC(2025, 0, 2, 0, 0, 1));
    expect(rows[4].wallMs).toBe(Date.UTC(2025, 0, 2, 0, 0, 1, 500));
  });

  it('skips rows until both bid and ask are known', () => {
    const parser = new Mt5ExportParser(HEADER);
    expect(parser.row('2025.01.02\t00:00:00.351\t1.03512\t\t\t\t2')).toEqual({ skipped: 'no bid/ask known yet' });
    expect('row' in parser.row('2025.01.02\t00:00:00.400\t\t1.03524\t\t\t4')).toBe(true);
  });

  it('reports malformed rows with the cause', () => {
    const parser = new Mt5ExportParser(HEADER);
    expect(parser.row('2025.02.30\t00:00:00\t1\t1\t\t\t6')).toEqual({ error: 'bad date/time "2025.02.30 00:00:00"' });
    expect(parser.row('2025.01.02\t24:00:00\t1\t1\t\t\t6')).toHaveProperty('error');
    expect(parser.row('2025.01.02\t00:00:00\t1,5\t1\t\t\t6')).toEqual({ error: 'bad BID "1,5"' });
    expect(parser.row('2025.01.02\t00:00:00\t1\t1\t\t\t6.5')).toEqual({ error: 'bad FLAGS 6.5' });
    expect(parser.row('')).toHaveProperty('error');
  });

  it('finds columns by header name, in any order and case; refuses other files', () => {
    const parser = new Mt5ExportParser('<time>\t<date>\t<ask>\t<bid>');
    expect(parser.row('12:00:00.000\t2025.01.02\t1.2\t1.1')).toEqual({
      row: { wallMs: Date.UTC(2025, 0, 2, 12), bid: 1.1, ask: 1.2, last: 0, volume: 0, flags: 0 },
    });
    expect(() => new Mt5ExportParser('<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>')).toThrow(/header lacks <BID> <ASK>/);
  });
});

describe('textLines', () => {
  const text = `${HEADER}\r\n2025.01.02\t00:00:00.351\t1.03512\t1.03524\t\t\t6\r\n`;
  const expected = [HEADER, '2025.01.02\t00:00:00.351\t1.03512\t1.03524\t\t\t6'];

  it('UTF-8 with a byte-order mark and CRLF', async () => {
    expect(await lines(Buffer.from(`\ufeff${text}`))).toEqual(expected);
  });

  it('UTF-16LE with and without a byte-order mark, split mid-character', async () => {
    const withBom = Buffer.from(`\ufeff${text}`, 'utf16le');
    expect(await lines(withBom.subarray(0, 7), withBom.subarray(7, 30), withBom.subarray(30))).toEqual(expected);
    expect(await lines(Buffer.from(text, 'utf16le'))).toEqual(expected);
  });

  it('UTF-16BE with a byte-order mark', async () => {
    expect(await lines(Buffer.from(`\ufeff${text}`, 'utf16le').swap16())).toEqual(expected);
  });

  it('LF line ends and no final newline', async () => {
    expect(await lines(Buffer.from('a\nb\n'), Buffer.from('c'))).toEqual(['a', 'b', 'c']);
  });

  it('refuses bytes that are not text in the detected encoding', async () => {
    await expect(lines(Buffer.from([0x41, 0x42, 0xff, 0x0a]))).rejects.toThrow();
  });
});

describe('fixtures/EURUSD-ticks.tsv', () => {
  it('is a valid export: every row parses, times ascend, ask >= bid', async () => {
    const [header, ...rows] = await lines(readFileSync(new URL('../fixtures/EURUSD-ticks.tsv', import.meta.url)));
    const parser = new Mt5ExportParser(header);
    const parsed = rows.filter((l) => l !== '').map((l) => parser.row(l));
    expect(parsed.length).toBeGreaterThanOrEqual(300);
    const good = parsed.flatMap((p) => ('row' in p ? [p.row] : []));
    expect(good.length).toBe(parsed.length);
    expect(good.every((r, i) => r.ask >= r.bid && (i === 0 || r.wallMs > good[i - 1].wallMs))).toBe(true);
  });
});
