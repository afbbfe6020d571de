import { expect } from 'vitest';
import type { Tick } from '../../protocol/tick.js';
import type { TestApp } from './app.js';

const tick = (symbol: string, volume: number): Tick => ({
  symbol,
  time_msc: 1_763_769_600_000 + volume,
  bid: 1,
  ask: 1.1,
  last: 0,
  volume,
  flags: 6,
});

/** Resolves once `done()` holds, checking every 10 ms (bounded). */
async function eventually(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!done()) throw new Error(`timed out waiting for ${what}`);
}

/**
 * The tick write window seen by a subscriber on `sub` for ticks and chat published on `pub` (the
 * same node, or another over Redis): ticks published together reach it as each symbol's latest
 * (`windowed`) or all of them in order (window 0), and QoS 1 chat published amid tick bursts
 * arrives complete and in order.
 */
export async function writeWindowScenario(sub: TestApp, pub: TestApp, tag: string, windowed: boolean): Promise<void> {
  const [a, b, room] = [`WA${tag}`, `WB${tag}`, `chat/rooms/window-${tag.toLowerCase()}`];
  const client = await sub.connect({ password: await sub.token(`window-${tag.toLowerCase()}`) });
  await client.subscribeAsync({ [`ticks/${a}`]: { qos: 0 }, [`ticks/${b}`]: { qos: 0 }, [room]: { qos: 1 } });
  await new Promise((r) => setTimeout(r, 200)); // a cluster's subscriptions propagate through Redis
  const got = new Map<string, number[]>([
    [a, []],
    [b, []],
  ]);
  const chat: number[] = [];
  client.on('message', (topic, payload) => {
    const body = JSON.parse(payload.toString());
    if (topic === room) chat.push(body.i);
    else got.get(body.symbol)?.push(body.volume);
  });

  pub.ctx.mqtt.publishTicks([tick(a, 1), tick(a, 2), tick(b, 1), tick(a, 3), tick(a, 4)]);
  await eventually(() => got.get(a)!.at(-1) === 4 && got.get(b)!.at(-1) === 1, 'the latest ticks');
  pub.ctx.mqtt.publishTicks([tick(b, 2)]);
  await eventually(() => got.get(b)!.at(-1) === 2, 'the marker tick');
  expect(got.get(a)).toEqual(windowed ? [4] : [1, 2, 3, 4]);
  expect(got.get(b)).toEqual([1, 2]);

  for (let i = 0; i < 30; i++) {
    pub.ctx.mqtt.publishTicks(Array.from({ length: 50 }, (_, k) => tick(k % 2 ? a : b, 100 + i * 50 + k)));
    await pub.ctx.mqtt.publish(room, JSON.stringify({ i }), { qos: 1, retain: false });
  }
  await eventually(() => chat.length >= 30 && got.get(a)!.at(-1) === 100 + 29 * 50 + 49, 'chat and the last ticks');
  expect(chat).toEqual(Array.from({ length: 30 }, (_, i) => i));
  client.end(true);
}
