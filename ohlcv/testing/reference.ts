import { RESOLUTIONS, type Resolution } from '../../protocol/names.js';
import type { Tick } from '../../protocol/tick.js';
import { tickPrice, tickVolume, type CandleMode } from '../aggregate.js';

/**
 * The naive reference the tests compare everything with: docs/protocol.md#candles written as plainly as possible,
 * with calendar arithmetic through Date and no shared code with the real bucketing or merging.
 */

export interface ReferenceBar {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

const INTRADAY_SECONDS: Partial<Record<Resolution, number>> = {
  '1S': 1,
  '1': 60,
  '5': 300,
  '15': 900,
  '30': 1800,
  '60': 3600,
  '240': 14400,
};

export function referenceBucket(timeMs: number, res: Resolution): number {
  const seconds = INTRADAY_SECONDS[res];
  if (seconds !== undefined) return timeMs - (timeMs % (seconds * 1000));
  const d = new Date(timeMs);
  const midnight = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (res === '1D') return midnight;
  if (res === '1W') return midnight - ((d.getUTCDay() + 6) % 7) * 86_400_000;
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** `key(symbol, res)` -> bars ascending by time, from ticks given in arrival order. */
export function referenceBars(ticks: readonly Tick[], mode: CandleMode): Map<string, ReferenceBar[]> {
  const groups = new Map<string, { tick: Tick; arrival: number }[]>();
  ticks.forEach((tick, arrival) => {
    if (!(tickPrice(tick, mode.price) > 0)) return;
    for (const res of RESOLUTIONS) {
      const k = `${seriesKey(tick.symbol, res)}|${referenceBucket(tick.time_msc, res)}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = []));
      g.push({ tick, arrival });
    }
  });
  const out = new Map<string, ReferenceBar[]>();
  for (const [k, members] of groups) {
    const [symbol, res, time] = k.split('|') as [string, Resolution, string];
    members.sort((a, b) => a.tick.time_msc - b.tick.time_msc || a.arrival - b.arrival);
    const prices = members.map((m) => tickPrice(m.tick, mode.price));
    const bar: ReferenceBar = {
      time: Number(time),
      open: prices[0],
      high: Math.max(...prices),
      low: Math.min(...prices),
      close: prices[prices.length - 1],
      volume: members.reduce((sum, m) => sum + tickVolume(m.tick, mode.volume), 0),
    };
    const sk = seriesKey(symbol, res);
    let list = out.get(sk);
    if (!list) out.set(sk, (list = []));
    list.push(bar);
  }
  for (const list of out.values()) list.sort((a, b) => a.time - b.time);
  return out;
}

export function seriesKey(symbol: string, res: Resolution): string {
  return `${symbol}|${res}`;
}
