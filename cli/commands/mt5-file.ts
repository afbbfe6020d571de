import { createReadStream } from 'node:fs';
import { wallClockToUtc } from '../../bridges/feed-time.js';
import { Mt5ExportParser, textLines } from '../../bridges/mt5-export.js';
import type { Tick } from '../../protocol/tick.js';

/** Rows reported individually before the rest are only counted. */
export const MAX_REPORTED_ERRORS = 5;

export interface ExportCounts {
  rows: number;
  bad: number;
  /** Rows before the first quote (no bid or ask to carry forward yet). */
  skipped: number;
}

/**
 * The ticks of an MT5 tick export in file order, wall-clock times read in `tz` and converted to
 * UTC. Unreadable rows are counted in `counts`, the first few reported through `report`; a file
 * without a header row throws.
 */
export async function* exportTicks(
  file: string,
  opts: { symbol: string; tz: string; counts: ExportCounts; report: (message: string) => void },
): AsyncGenerator<Tick> {
  let parser: Mt5ExportParser | undefined;
  let lineNo = 0;
  for await (const line of textLines(createReadStream(file))) {
    lineNo++;
    if (line.trim() === '') continue;
    if (!parser) {
      parser = new Mt5ExportParser(line);
      continue;
    }
    opts.counts.rows++;
    const result = parser.row(line);
    if ('error' in result) {
      if (++opts.counts.bad <= MAX_REPORTED_ERRORS) opts.report(`${file}:${lineNo}: ${result.error}`);
      continue;
    }
    if ('skipped' in result) {
      opts.counts.skipped++;
      continue;
    }
    const { row } = result;
    yield {
      symbol: opts.symbol,
      time_msc: wallClockToUtc(row.wallMs, opts.tz),
      bid: row.bid,
      ask: row.ask,
      last: row.last,
      volume: row.volume,
      flags: row.flags,
    };
  }
  if (!parser) throw new Error('the file is empty');
}
