import { afterAll, beforeAll, describe } from 'vitest';
import { freshDatabase } from '../../test/testing/postgres.js';
import { privateRedis, type PrivateRedis } from '../../test/testing/private-redis.js';
import { startChatTestApp, type ChatTestApp } from './app.js';

/** Where a suite's clients go: `first` and `second` are one node, or two nodes sharing Redis and PostgreSQL. */
export type Nodes = () => { first: ChatTestApp; second: ChatTestApp };

/**
 * Declares `suite` twice: on one node with chat (no Redis), and on two nodes over a Redis server of
 * their own; each on a fresh PostgreSQL database (PGlite can take a minute to open on a loaded machine).
 */
export function onOneNodeAndTwo(title: string, run: string, suite: (nodes: Nodes, tag: string) => void): void {
  describe(`${title}, on one node`, () => {
    let pg: Awaited<ReturnType<typeof freshDatabase>>;
    let app: ChatTestApp;
    beforeAll(async () => {
      pg = await freshDatabase('chat_one');
      app = await startChatTestApp({ DATABASE_URL: pg.url });
    });
    afterAll(async () => {
      await app?.stop();
      await pg?.drop();
    });
    suite(() => ({ first: app, second: app }), 'one');
  });

  describe(`${title}, on two nodes over Redis`, () => {
    let pg: Awaited<ReturnType<typeof freshDatabase>>;
    let a: ChatTestApp;
    let b: ChatTestApp;
    let redis: PrivateRedis;
    beforeAll(async () => {
      [pg, redis] = await Promise.all([freshDatabase('chat_two'), privateRedis()]);
      a = await startChatTestApp({ REDIS_URL: redis.url, DATABASE_URL: pg.url, NODE_ID: `a-${run}` });
      b = await startChatTestApp({ REDIS_URL: redis.url, DATABASE_URL: pg.url, NODE_ID: `b-${run}` });
    });
    afterAll(async () => {
      await a?.stop();
      await b?.stop();
      await redis?.dispose();
      await pg?.drop();
    });
    suite(() => ({ first: a, second: b }), 'two');
  });
}
