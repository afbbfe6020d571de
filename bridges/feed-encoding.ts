import type { Tick } from '../protocol/tick.js';
import { zoneOffsetMs } from './feed-time.js';

/**
 * How our feed tools (`feed-sim`, `replay`) write ticks onto `mt.ticks`: exactly the bodies the
 * bridge accepts from any MT feed (docs/protocol.md#tick-feeds), so the tools exercise the same path.
 */
export type FeedFormat = 'json' | 'dwx';

export interface FeedMessage {
  routingKey: string;
  body: Buffer;
  contentType: 'application/json' | 'text/plain';
}

/** Routing key `{feed}.{SYMBOL}`. */
export function feedRoutingKey(feed: string, symbol: string): string {
  return `${feed}.${symbol}`;
}

/**
 * One tick as one message. JSON times are written as the feed's wall clock in `timeZone`
 * (what the bridge's FEED_TIMEZONE expects); DWX carries no time (the bridge stamps receipt).
 */
export function encodeFeedMessage(tick: Tick, opts: { feed: string; format: FeedFormat; timeZone: string }): FeedMessage {
  const routingKey = feedRoutingKey(opts.feed, tick.symbol);
  if (opts.format === 'dwx') {
    return { routingKey, contentType: 'text/plain', body: Buffer.from(`${tick.symbol}:|:${tick.bid};${tick.ask}`) };
  }
  const body: Record<string, unknown> = {
    symbol: tick.symbol,
    time_msc: tick.time_msc + zoneOffsetMs(tick.time_msc, opts.timeZone),
    bid: tick.bid,
    ask: tick.ask,
    last: tick.last,
    volume: tick.volume,
    flags: tick.flags,
  };
  if (tick.volume_real !== undefined) body.volume_real = tick.volume_real;
  return { routingKey, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) };
}
