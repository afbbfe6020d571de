import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { nextMessage, startTestApp, type TestApp } from '../test/testing/app.js';
import { privateRedis, type PrivateRedis } from '../test/testing/private-redis.js';

/**
 * A broker node whose Redis goes away and comes back. The Redis is this test's own (its own port
 * and data dir), killed and restarted here; nothing else uses it.
 */
describe('broker node when its Redis goes away', () => {
  let redis: PrivateRedis;
  let app: TestApp;
  beforeAll(async () => {
    redis = await privateRedis();
    app = await startTestApp({ REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await app?.stop();
    await redis?.dispose();
  });

  const status = async (path: string) => (await fetch(`${app.httpUrl}${path}`)).status;

  it('stays up and not ready while Redis is down, then serves again once it is back', async () => {
    expect(await status('/readyz')).toBe(200);
    // ioredis prints the errors nobody listens for: every connection's must reach the structured log instead.
    const printed = vi.spyOn(console, 'error');

    await redis.stop();
    // The cluster connections' errors used to be unheard 'error' events, which end the process.
    await expect.poll(() => status('/readyz'), { timeout: 10_000 }).toBe(503);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await status('/healthz')).toBe(200);

    await redis.start();
    await expect.poll(() => status('/readyz'), { timeout: 20_000, interval: 200 }).toBe(200);
    const client = await app.connect({ password: await app.token('olga') });
    await client.subscribeAsync('chat/rooms/after-outage', { qos: 1 });
    const got = nextMessage(client, 'chat/rooms/after-outage');
    await app.ctx.mqtt.publish('chat/rooms/after-outage', '{"text":"back"}', { qos: 1, retain: false });
    expect((await got).payload.toString()).toBe('{"text":"back"}');
    expect(printed.mock.calls.filter((args) => String(args[0]).includes('[ioredis]'))).toEqual([]);
    printed.mockRestore();
  }, 60_000);
});
