import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from './database.js';
import { PgliteDatabase } from './pglite-database.js';

/** What a rejected promise was rejected with. */
async function rejection(work: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await work;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

/** The fields a store may look at, to compare the worker's error with PGlite's own. */
const visible = (err: Error & Record<string, unknown>) => ({
  name: err.name,
  message: err.message,
  code: err.code,
  constraint: err.constraint,
  detail: err.detail,
  table: err.table,
  severity: err.severity,
});

const SETUP = 'CREATE TABLE t (id int PRIMARY KEY, n bigint, at timestamptz, doc jsonb, raw bytea, tags text[])';
const ROW: unknown[] = [1, 9007199254740993n, new Date('2025-01-02T03:04:05.678Z'), { a: [1, 'x'] }, new Uint8Array([0, 255]), ['p', 'q']];
const INSERT = 'INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6)';

describe('PGlite in a worker thread', () => {
  let db: PgliteDatabase;
  let inProcess: PGlite;

  beforeAll(async () => {
    [db, inProcess] = await Promise.all([PgliteDatabase.open(), PGlite.create()]);
    await db.query(SETUP);
    await inProcess.query(SETUP);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([db?.close(), inProcess?.close()]);
  });

  it('returns rows as PGlite parses them: bigints, dates, JSON, bytes, arrays', async () => {
    await db.query(INSERT, ROW);
    await inProcess.query(INSERT, ROW);
    const mine = await db.query('SELECT * FROM t');
    const theirs = await inProcess.query('SELECT * FROM t');
    expect(mine.rows).toEqual(theirs.rows);
    expect(mine.rows[0]).toMatchObject({ id: 1, n: 9007199254740993n, at: new Date('2025-01-02T03:04:05.678Z') });
  });

  it('rejects a failed query with the error PGlite raises, code and fields included', async () => {
    const mine = await rejection(db.query(INSERT, [1, null, null, null, null, null]));
    const theirs = await rejection(inProcess.query(INSERT, [1, null, null, null, null, null]));
    expect(visible(mine)).toEqual(visible(theirs));
    expect(mine).toMatchObject({ code: '23505', constraint: 't_pkey' });
    expect(mine).toBeInstanceOf(Error);
  });

  it('rejects a failed query inside a transaction with the same code, and rolls the transaction back', async () => {
    const err = await rejection(
      db.transaction(async (tx) => {
        await tx.query(INSERT, [2, null, null, null, null, null]);
        await tx.query(INSERT, [2, null, null, null, null, null]);
      }),
    );
    expect(err.code).toBe('23505');
    expect((await db.query('SELECT id FROM t WHERE id = 2')).rows).toEqual([]);
  });

  it("rolls back on the caller's own error and rethrows that very error", async () => {
    const mine = new Error('changed my mind');
    await expect(
      db.transaction(async (tx) => {
        await tx.query(INSERT, [3, null, null, null, null, null]);
        throw mine;
      }),
    ).rejects.toBe(mine);
    expect((await db.query('SELECT id FROM t WHERE id = 3')).rows).toEqual([]);
  });

  it('commits a transaction and returns its result; concurrent transactions and queries run one at a time', async () => {
    const add = (id: number) =>
      db.transaction(async (tx) => {
        const { rows } = await tx.query<{ c: number }>('SELECT count(*)::int AS c FROM t');
        await tx.query(INSERT, [id, rows[0].c, null, null, null, null]);
        return id;
      });
    const results = await Promise.all([add(10), db.query('SELECT 1'), add(11), add(12)]);
    expect(results[0]).toBe(10);
    const { rows } = await db.query<{ n: bigint }>('SELECT n FROM t WHERE id >= 10 ORDER BY id');
    expect(rows.map((r) => Number(r.n))).toEqual([1, 2, 3]);
  });

  it('runs migrations under their advisory lock, once, however many start together', async () => {
    const migrations = ['CREATE TABLE m (x int);\nINSERT INTO m VALUES (1);'];
    await Promise.all([migrate(db, 'worker-test', migrations), migrate(db, 'worker-test', migrations)]);
    expect((await db.query('SELECT x FROM m')).rows).toEqual([{ x: 1 }]);
  });

  it('refuses a parameter that cannot cross to the worker, and keeps serving', async () => {
    const err = await rejection(db.query('SELECT $1::text', [() => 1]));
    expect(err.message).toMatch(/could not be cloned/);
    expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});

describe('PGlite in a worker thread on a data directory', () => {
  it('creates a new directory (in a child process), keeps what was committed across a reopen, and reports its memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticktalk-pglite-'));
    try {
      const first = await PgliteDatabase.open({ dataDir: join(dir, 'pglite'), cacheMb: 8 });
      await first.query('CREATE TABLE kept (x int)');
      await first.query('INSERT INTO kept VALUES (42)');
      expect((await first.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0].shared_buffers).toBe('8MB');
      expect(await first.memoryBytes()).toBeGreaterThan(2 ** 20);
      await first.close();
      const again = await PgliteDatabase.open({ dataDir: join(dir, 'pglite') });
      expect((await again.query('SELECT x FROM kept')).rows).toEqual([{ x: 42 }]);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('closing PGlite in a worker thread', () => {
  it('ends the worker: not ready any more, and a later query is refused', async () => {
    const db = await PgliteDatabase.open();
    expect(await db.ping()).toBe(true);
    await db.close();
    expect(await db.ping()).toBe(false);
    await expect(db.query('SELECT 1')).rejects.toThrow(/closed/);
    await db.close();
  }, 180_000);
});
