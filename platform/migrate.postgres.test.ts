import { describe, expect, it } from 'vitest';
import { SqlChatStore } from '../chat/sql-store.js';
import { openCandleStore } from '../ohlcv/store.js';
import { freshDatabase } from '../test/testing/postgres.js';
import { PostgresDatabase } from './database.js';

const NODES = 4;
const ROUNDS = 3;

describe('migrations on PostgreSQL', () => {
  it('several nodes starting at once on an empty database all open their stores, and each version runs once', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const fresh = await freshDatabase('migrate');
      const dbs = Array.from({ length: NODES }, () => new PostgresDatabase(fresh.url, 2));
      try {
        // What a Kubernetes rollout does: every pod opens both stores at the same moment.
        const opened = await Promise.allSettled(dbs.map((db) => Promise.all([SqlChatStore.open(db, { outbox: true }), openCandleStore(db)])));
        expect(opened.filter((r) => r.status === 'rejected').map((r) => String(r.reason))).toEqual([]);
        const { rows } = await dbs[0].query<{ component: string; n: string; distinct_n: string }>(
          'SELECT component, count(*) AS n, count(DISTINCT version) AS distinct_n FROM schema_migrations GROUP BY component ORDER BY component',
        );
        expect(rows.map((r) => r.component)).toEqual(['chat', 'ohlcv']);
        for (const r of rows) expect(r.n).toBe(r.distinct_n);
      } finally {
        await Promise.all(dbs.map((db) => db.close()));
        await fresh.drop();
      }
    }
  });
});
