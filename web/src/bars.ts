import * as z from 'zod/mini';
import type { Resolution } from '../../protocol/names.js';

/** Payload of `candles/{SYMBOL}/{RES}`: the forming bar, re-sent as it changes. */
export const candlePayloadSchema = z.object({
  time: z.int().check(z.nonnegative()),
  open: z.number(),
  high: z.number(),
  low: z.number(),
  close: z.number(),
  volume: z.number().check(z.nonnegative()),
});

/** One OHLCV bar as the server speaks it: `time` is the bar's open in UTC seconds (docs/protocol.md#candles). */
export type Bar = z.infer<typeof candlePayloadSchema>;

const RESOLUTION_SECONDS: Record<Resolution, number> = {
  '1S': 1,
  '1': 60,
  '5': 300,
  '15': 900,
  '30': 1800,
  '60': 3600,
  '240': 14_400,
  '1D': 86_400,
  '1W': 604_800,
  // Months vary; this is only used to size look-back windows, never to place bars.
  '1M': 31 * 86_400,
};

export function resolutionSeconds(resolution: Resolution): number {
  return RESOLUTION_SECONDS[resolution];
}

/** Ascending by time, one bar per time; where both lists hold a time, `incoming` wins. */
export function mergeBars(existing: readonly Bar[], incoming: readonly Bar[]): Bar[] {
  const byTime = new Map<number, Bar>();
  for (const bar of existing) byTime.set(bar.time, bar);
  for (const bar of incoming) byTime.set(bar.time, bar);
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}

/**
 * What a live bar means against the newest bar already drawn. Charts (lightweight-charts and
 * TradingView alike) accept only an update of the last bar or a new last bar; anything older is a
 * correction of history (a late tick) and needs the affected range reloaded.
 */
export type LiveBarAction = 'append' | 'update' | 'correction';

export function classifyLiveBar(lastTime: number | undefined, bar: Pick<Bar, 'time'>): LiveBarAction {
  if (lastTime === undefined || bar.time > lastTime) return 'append';
  return bar.time === lastTime ? 'update' : 'correction';
}
