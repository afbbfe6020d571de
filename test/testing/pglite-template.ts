import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteDatabase } from '../../platform/pglite-database.js';

const { version } = JSON.parse(readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** One freshly initialised PGlite data directory per PGlite version, shared by every test process. */
const TEMPLATE = join(tmpdir(), `ticktalk-pglite-template-${version}`);

/**
 * Fills `dataDir` (a test app's `DATA_DIR/pglite`) with a copy of a freshly initialised PGlite
 * directory: initdb takes seconds per test app, a copy a fraction of one. What a new data directory
 * gets is tested once, in platform/pglite-database.test.ts and cli/first-start.test.ts; every app
 * still opens real PGlite and runs the migrations itself.
 */
export async function seedPgliteDir(dataDir: string): Promise<void> {
  if (!existsSync(join(TEMPLATE, 'PG_VERSION'))) await createTemplate();
  cpSync(TEMPLATE, dataDir, { recursive: true });
}

async function createTemplate(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'ticktalk-pglite-scratch-'));
  const dir = join(scratch, 'pglite');
  const db = await PgliteDatabase.open({ dataDir: dir });
  await db.close();
  try {
    // Atomic: another test process creating it at the same time leaves one whole template.
    renameSync(dir, TEMPLATE);
  } catch {
    // Another process's template is already in place.
  }
  rmSync(scratch, { recursive: true, force: true });
}
