import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { randomBytes } from 'node:crypto';
import { RedisPresenceStore } from './redis-presence-store.js';
import { describePresenceStore } from './testing/presence-suite.js';
import { Presence } from './presence.js';
import { deleteKeys } from './testing/redis.js';

const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
const run = randomBytes(6).toString('hex');
const prefixes: string[] = [];
const freshPrefix = () => {
  const p = `tt-test:${run}:${prefixes.length}:`;
  prefixes.push(p);
  return p;
};

describePresenceStore('Redis', () => new RedisPresenceStore(redis, freshPrefix(), 60_000));

describe('Presence across Redis nodes', () => {
  it("takes a dead node's members offline once, from a survivor", async () => {
    const prefix = freshPrefix();
    const sent: string[] = [];
    const log = pino({ level: 'silent' });
    const node = (id: string) =>
      new Presence(new RedisPresenceStore(redis, prefix, 300), async (_t, p) => void sent.push(`${id}:${p}`), { node: id, heartbeatMs: 100 }, log);
    const [a, b, c] = [node('a'), node('b'), node('c')];
    await Promise.all([a.start(), b.start(), c.start()]);
    await a.join('client-1', { sub: 'alice', name: 'Alice', roles: ['trader'] }, 'lobby');
    expect(await b.members('lobby')).toEqual([{ user: 'alice', name: 'Alice' }]);

    // Node a dies without a goodbye: its heartbeat stops, nothing is cleared.
    (a as unknown as { timer: NodeJS.Timeout }).timer.close();
    const deadline = Date.now() + 5_000;
    while (!sent.some((s) => s.includes('offline')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all([b.stop(), c.stop()]);

    const offline = sent.filter((s) => s.includes('"state":"offline"'));
    expect(offline).toHaveLength(1);
    expect(offline[0]).toMatch(/^[bc]:\{"user":"alice","name":"Alice","state":"offline"\}$/);
    expect(await b.members('lobby')).toEqual([]);
  });
});

afterAll(async () => {
  for (const p of prefixes) await deleteKeys(redis, `${p}*`);
  redis.disconnect();
});
