import { z } from 'zod';
import { SYMBOL_PATTERN } from './names.js';

/**
 * A tick as carried on `ticks/{SYMBOL}` (docs/protocol.md#ticks): already validated, time in UTC milliseconds.
 * Every tick source (simulator, RabbitMQ bridge, replay) produces exactly this shape.
 */
export interface Tick {
  symbol: string;
  time_msc: number;
  bid: number;
  ask: number;
  last: number;
  volume: number;
  flags: number;
  /** Real volume when the feed sends it; used by CANDLE_VOLUME=real. Not part of the MQTT payload. */
  volume_real?: number;
}

const price = z.number().finite().positive();

/** Validates a tick payload seen on MQTT `ticks/…` (from a `feed` role client). */
export const tickPayloadSchema = z
  .object({
    symbol: z.string().regex(SYMBOL_PATTERN),
    time_msc: z.number().int().nonnegative(),
    bid: price,
    ask: price,
    last: z.number().finite().nonnegative().default(0),
    volume: z.number().finite().nonnegative().default(0),
    flags: z.number().int().nonnegative().default(0),
  })
  .refine((t) => t.ask >= t.bid, { message: 'ask must not be below bid', path: ['ask'] });

/** MT5 tick flags (MqlTick.flags). */
export const TICK_FLAG = {
  BID: 2,
  ASK: 4,
  LAST: 8,
  VOLUME: 16,
  BUY: 32,
  SELL: 64,
} as const;

/**
 * The MQTT payload: exactly the public fields, in a stable order. Written by hand: for the finite
 * numbers a valid tick holds, a number's string form is JSON's, and this is several times cheaper
 * per tick than JSON.stringify of a fresh object (the tick path encodes every tick it takes in).
 */
export function encodeTick(t: Tick): string {
  return `{"symbol":${JSON.stringify(t.symbol)},"time_msc":${t.time_msc},"bid":${t.bid},"ask":${t.ask},"last":${t.last},"volume":${t.volume},"flags":${t.flags}}`;
}
