import * as z from 'zod/mini';

/**
 * A tick as the broker publishes it on `ticks/{SYMBOL}` (protocol/tick.ts `encodeTick`: every field
 * present). The server's own schema validates what feeds send, with defaults; this one checks what
 * the page receives, in zod's small build so the page stays light.
 */
export const publishedTickSchema = z.object({
  symbol: z.string(),
  time_msc: z.int(),
  bid: z.number().check(z.positive()),
  ask: z.number().check(z.positive()),
  last: z.number(),
  volume: z.number(),
  flags: z.int(),
});
