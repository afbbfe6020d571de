import type { ConfirmChannel } from 'amqplib';
import type { Tick } from '../../protocol/tick.js';

/**
 * Publishes ticks to a feed exchange in every body form of docs/protocol.md#tick-feeds, mixed: a JSON tick with its
 * symbol, a JSON tick named by the routing key with `time` in seconds, JSON arrays, DWX text (time
 * from the message timestamp, so the tick is rounded to its second) and now and then an invalid
 * message. Returns the ticks as the aggregator must count them, in arrival order.
 */
export async function publishFeed(
  channel: ConfirmChannel,
  exchange: string,
  ticks: readonly Tick[],
  seed: number,
): Promise<{ expected: Tick[]; messages: number }> {
  const expected: Tick[] = [];
  let messages = 0;
  let s = seed >>> 0 || 1;
  const random = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const send = (routingKey: string, body: string, contentType: string, timestamp?: number) => {
    channel.publish(exchange, routingKey, Buffer.from(body), { contentType, persistent: true, ...(timestamp === undefined ? {} : { timestamp }) });
    messages++;
  };
  const json = (t: Tick) => ({
    symbol: t.symbol,
    time_msc: t.time_msc,
    bid: t.bid,
    ask: t.ask,
    last: t.last,
    volume: t.volume,
    flags: t.flags,
    ...(t.volume_real === undefined ? {} : { volume_real: t.volume_real }),
  });

  for (let i = 0; i < ticks.length;) {
    const t = ticks[i];
    const form = random();
    if (form < 0.03) {
      send(`feed.${t.symbol}`, JSON.stringify({ ...json(t), ask: t.bid / 2 }), 'application/json');
      continue; // invalid: counts nothing, the same tick goes out properly next
    }
    if (form < 0.35) {
      send('feed.any', JSON.stringify(json(t)), 'application/json');
      expected.push(t);
      i++;
    } else if (form < 0.55) {
      const { symbol: _symbol, time_msc, ...rest } = json(t);
      send(`feed.${t.symbol}`, JSON.stringify({ ...rest, time: time_msc / 1000 }), 'application/json');
      expected.push(t);
      i++;
    } else if (form < 0.8) {
      const batch = ticks.slice(i, i + 2 + Math.floor(random() * 4));
      send('feed.any', JSON.stringify(batch.map(json)), 'application/json');
      expected.push(...batch);
      i += batch.length;
    } else {
      const second = Math.floor(t.time_msc / 1000);
      send(`feed.${t.symbol}`, `${t.symbol}:|:${t.bid};${t.ask}`, 'text/plain', second);
      expected.push({ symbol: t.symbol, time_msc: second * 1000, bid: t.bid, ask: t.ask, last: 0, volume: 0, flags: 6 });
      i++;
    }
  }
  await channel.waitForConfirms();
  return { expected, messages };
}

/** Polls until `done` holds; bounded, so a stuck pipeline fails the test instead of hanging it. */
export async function waitFor(done: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
