import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../platform/database.js';
import { freshDatabase } from '../test/testing/postgres.js';
import { SqlChatStore } from './sql-store.js';
import { describeChatStore } from './testing/store-suite.js';

describeChatStore('PostgreSQL', async () => {
  const fresh = await freshDatabase('chat');
  const db = new PostgresDatabase(fresh.url);
  return {
    store: await SqlChatStore.open(db, { outbox: true }),
    close: async () => {
      await db.close();
      await fresh.drop();
    },
  };
});

describe('chat append on PostgreSQL', () => {
  it('probes indexes per message and never scans the message table, however stale the statistics', async () => {
    const fresh = await freshDatabase('chat');
    const db = new PostgresDatabase(fresh.url);
    try {
      const appends = new Map<string, { text: string; params: unknown[] }>();
      const query = db.query.bind(db);
      db.query = (text: string, params?: unknown[], name?: string) => {
        if (name?.startsWith('ticktalk_chat_append')) appends.set(name, { text, params: params ?? [] });
        return query(text, params, name);
      };
      const store = await SqlChatStore.open(db, { outbox: false });
      const message = (i: number, ref?: string) => ({
        room: 'busy',
        id: randomUUID(),
        user: 'u1',
        name: 'U',
        text: 'hi',
        ts: 1,
        ...(ref ? { ref } : {}),
      });
      // Statistics taken while the room was young, then thousands of rows autovacuum has not
      // analysed yet: what the planner sees in a busy room.
      for (let b = 0; b < 20; b++) await store.append(Array.from({ length: 100 }, (_, i) => message(b * 100 + i)));
      await db.query('ANALYZE chat_messages');
      for (let b = 20; b < 50; b++) await store.append(Array.from({ length: 100 }, (_, i) => message(b * 100 + i)));
      const withRefs = () => Array.from({ length: 100 }, (_, i) => message(i, i % 2 ? `r${i}` : undefined));
      await store.append(withRefs());
      // The same refs again: trusting the unique index fails the batch, which is retried probing.
      const again = await store.append(withRefs());
      expect(again.filter((o) => o.status === 'duplicate')).toHaveLength(50);
      expect([...appends.keys()].sort()).toEqual(['ticktalk_chat_append_probing', 'ticktalk_chat_append_trusting']);
      for (const { text, params } of appends.values()) {
        const { rows } = await db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${text}`, params);
        const scans: string[] = [];
        const walk = (node: Record<string, unknown>) => {
          if (node['Node Type'] === 'Seq Scan') scans.push(String(node['Relation Name']));
          for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
        };
        walk((rows[0]['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0].Plan);
        expect(scans).not.toContain('chat_messages');
      }
    } finally {
      await db.close();
      await fresh.drop();
    }
  });
});
