import pg from 'pg';

/**
 * One SQL port, two engines: PostgreSQL through `pg` and embedded PGlite. Stores (candles, chat)
 * are written once against this interface and run one shared test suite against both.
 */
export interface Sql {
  /**
   * `name` marks a hot statement whose text never changes: PostgreSQL then parses and plans it
   * once per connection instead of on every call (PGlite, in process, ignores it). Its plan must
   * not depend on the parameter values, since it is not re-planned for them.
   */
  query<R extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[], name?: string): Promise<{ rows: R[] }>;
}

export interface Database extends Sql {
  readonly kind: 'postgres' | 'pglite';
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  /**
   * Named statements run on connections that keep one generic plan per statement. By default
   * PostgreSQL kept re-planning the chat append for every call (its parameter is a whole
   * group-commit batch, different each time), a millisecond of CPU per batch.
   */
  private readonly preparedPool: pg.Pool;

  constructor(url: string, max = 10) {
    this.pool = new pg.Pool({ connectionString: url, max });
    this.preparedPool = new pg.Pool({ connectionString: url, max: 2, options: '-c plan_cache_mode=force_generic_plan' });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    this.pool.on('error', () => {});
    this.preparedPool.on('error', () => {});
  }

  query<R extends Record<string, unknown>>(text: string, params?: unknown[], name?: string): Promise<{ rows: R[] }> {
    return name ? this.preparedPool.query<R>({ name, text, values: params }) : this.pool.query<R>(text, params as unknown[]);
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn({
        query: (text, params, name) => (name ? client.query({ name, text, values: params }) : client.query(text, params as unknown[])) as never,
      });
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.preparedPool.end()]);
  }
}

/**
 * Versioned migrations per component (`ohlcv`, `chat`, ...): each list only ever grows; entry i is
 * version i+1 and runs once. Everything, creating `schema_migrations` included, runs in one
 * transaction under one advisory lock: nodes of a rollout starting together on an empty database
 * otherwise race on `CREATE TABLE IF NOT EXISTS` (duplicate key in pg_type) and one of them dies.
 */
export async function migrate(db: Database, component: string, migrations: readonly string[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [MIGRATION_LOCK]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      component text NOT NULL, version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (component, version))`);
    const { rows } = await tx.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations WHERE component = $1', [component]);
    const current = Number(rows[0]?.v ?? 0);
    for (let i = current; i < migrations.length; i++) {
      for (const statement of splitStatements(migrations[i])) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (component, version) VALUES ($1, $2)', [component, i + 1]);
    }
  });
}

/** One lock for every component: they share `schema_migrations`, and migrating is rare and short. */
const MIGRATION_LOCK = 'ticktalk.migrate';

/** Migrations are plain DDL separated by `;` at line ends (no functions with bodies). */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}
