import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresDatabase, type Database } from '../../platform/database.js';
import { PgliteDatabase } from '../../platform/pglite-database.js';
import { freshDatabase } from '../../test/testing/postgres.js';

/**
 * The two engines every store suite runs against. Each hands out a database that survives
 * `reopen()` (a process restart: new handle, same data) and is removed by `cleanup()`.
 */
export interface TestEngine {
  name: 'pglite' | 'postgres';
  create(): Promise<ReopenableDatabase>;
}

export interface ReopenableDatabase {
  db: Database;
  reopen(): Promise<Database>;
  cleanup(): Promise<void>;
}

export const ENGINES: readonly TestEngine[] = [
  {
    name: 'pglite',
    async create() {
      const dir = mkdtempSync(join(tmpdir(), 'ticktalk-ohlcv-'));
      const handle: ReopenableDatabase = {
        db: await PgliteDatabase.open({ dataDir: dir }),
        async reopen() {
          await handle.db.close();
          handle.db = await PgliteDatabase.open({ dataDir: dir });
          return handle.db;
        },
        async cleanup() {
          await handle.db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
      return handle;
    },
  },
  {
    name: 'postgres',
    async create() {
      const { url, drop } = await freshDatabase('tt_ohlcv');
      const handle: ReopenableDatabase = {
        db: new PostgresDatabase(url),
        async reopen() {
          await handle.db.close();
          handle.db = new PostgresDatabase(url);
          return handle.db;
        },
        async cleanup() {
          await handle.db.close();
          await drop();
        },
      };
      return handle;
    },
  },
];
