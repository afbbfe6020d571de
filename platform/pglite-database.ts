import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { Database, Sql } from './database.js';
import { CREATE_FLAG, type PgliteErrorData, type PgliteReply, type PgliteRequest, type PgliteWorkerOptions } from './pglite-protocol.js';

/** Request bodies, without the id the client gives each. */
type Body = PgliteRequest extends infer R ? (R extends PgliteRequest ? Omit<R, 'id'> : never) : never;
type Answer = Extract<PgliteReply, { rows?: unknown[] }>;

export interface PgliteOptions {
  /** Undefined keeps everything in memory (tests). */
  dataDir?: string;
  /** PostgreSQL's page cache (`shared_buffers`) in MB; PGlite's default is 128. */
  cacheMb?: number;
}

/**
 * PostgreSQL's per-query and maintenance memory, kept small: the WebAssembly memory they grow
 * is never given back, and the embedded database serves one process's small queries. The
 * operating system's file cache stays outside the process.
 */
const MEMORY_SETTINGS = { work_mem: '2MB', maintenance_work_mem: '16MB', temp_buffers: '2MB', wal_buffers: '1MB' };

/**
 * Embedded PostgreSQL (PGlite) in a worker thread of its own: its WebAssembly runs there, so a
 * chat commit or a history insert never holds up the broker's event loop, and its memory is its
 * own. Queries, transactions and errors cross a MessagePort: rows arrive as PGlite parsed them
 * (structured clone keeps dates, bigints and bytes), errors with PostgreSQL's fields (`code`,
 * `constraint`, `detail`, ...). The worker keeps the process alive only while a request is open,
 * as PGlite in process did.
 */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(reply: Answer): void; reject(err: Error): void }>();
  private exited = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: PgliteReply) => this.settle(reply));
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => {
      this.exited = true;
      this.failAll(new Error(`the PGlite worker has exited (code ${code})`));
    });
  }

  static async open({ dataDir, cacheMb }: PgliteOptions = {}): Promise<PgliteDatabase> {
    const settings = { ...MEMORY_SETTINGS, ...(cacheMb ? { shared_buffers: `${cacheMb}MB` } : {}) };
    if (dataDir) {
      mkdirSync(dataDir, { recursive: true });
      if (!existsSync(join(dataDir, 'PG_VERSION'))) await createDataDir(dataDir);
    }
    return PgliteDatabase.start({ dataDir, settings });
  }

  private static async start(workerData: PgliteWorkerOptions): Promise<PgliteDatabase> {
    const db = new PgliteDatabase(new Worker(workerScript(), { workerData }));
    try {
      await db.expect(0);
    } catch (err) {
      await db.worker.terminate();
      throw err;
    }
    return db;
  }

  async query<R extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return { rows: (await this.request({ op: 'query', text, params })).rows as R[] };
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const { tx } = await this.request({ op: 'begin' });
    if (tx === undefined) throw new Error('the PGlite worker began no transaction');
    let result: T;
    try {
      result = await fn({ query: async (text, params) => ({ rows: (await this.request({ op: 'query', text, params, tx })).rows as never[] }) });
    } catch (err) {
      await this.request({ op: 'end', tx, commit: false }).catch(() => {});
      throw err;
    }
    await this.request({ op: 'end', tx, commit: true });
    return result;
  }

  /** Bytes the worker thread holds: its JavaScript heap, PostgreSQL's WebAssembly memory and PGlite's buffers. */
  async memoryBytes(): Promise<number> {
    return (await this.request({ op: 'memory' })).bytes ?? 0;
  }

  async ping(): Promise<boolean> {
    return !this.exited;
  }

  /** Closes PGlite (its data flushed) and ends the worker thread. */
  async close(): Promise<void> {
    if (this.exited) return;
    try {
      await this.request({ op: 'close' });
    } finally {
      await this.worker.terminate();
    }
  }

  private request(body: Body): Promise<Answer> {
    if (this.exited) return Promise.reject(new Error('the PGlite database is closed'));
    const id = this.nextId++;
    const answer = this.expect(id);
    try {
      this.worker.postMessage({ ...body, id });
    } catch (err) {
      // A parameter that cannot be cloned (a function, say) fails here, before anything ran.
      this.settle({ id, error: { name: 'TypeError', message: (err as Error).message, fields: {} } });
    }
    return answer;
  }

  private expect(id: number): Promise<Answer> {
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  private settle(reply: PgliteReply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if ('error' in reply) waiting.reject(asError(reply.error));
    else waiting.resolve(reply);
  }

  private failAll(err: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    this.worker.unref();
    for (const w of waiting) w.reject(err);
  }
}

/** initdb in a process of its own (see CREATE_FLAG): what creating holds goes back to the system when it exits. */
async function createDataDir(dataDir: string): Promise<void> {
  const script = fileURLToPath(workerScript());
  try {
    await promisify(execFile)(process.execPath, [script, CREATE_FLAG, dataDir]);
  } catch (err) {
    throw new Error(
      `could not create the PGlite data directory ${dataDir}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`,
      { cause: err },
    );
  }
}

/** The worker's error as an Error of the same name, message and PostgreSQL fields. */
function asError({ name, message, fields }: PgliteErrorData): Error {
  const err = Object.assign(new Error(message), fields);
  err.name = name;
  return err;
}

/**
 * The compiled worker script: beside this module in dist/. Run from source (vitest, the benches'
 * esbuild bundles) there is none beside it, and the build's copy serves (`npm run build`).
 */
function workerScript(): URL {
  const beside = new URL('./pglite-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  const built = resolve('dist/platform/pglite-worker.js');
  if (!existsSync(built)) throw new Error(`the PGlite worker script is missing (${built}): run npm run build`);
  return pathToFileURL(built);
}
