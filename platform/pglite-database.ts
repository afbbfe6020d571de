import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Database, Sql } from './database.js';
import type { PgliteErrorData, PgliteReply, PgliteRequest, PgliteWorkerOptions } from './pglite-worker.js';

/** Request bodies, without the id the client gives each. */
type Body = PgliteRequest extends infer R ? (R extends PgliteRequest ? Omit<R, 'id'> : never) : never;
type Answer = Extract<PgliteReply, { rows?: unknown[] }>;

export interface PgliteOptions {
  /** Undefined keeps everything in memory (tests). */
  dataDir?: string;
  /** PostgreSQL settings (`-c name=value`) on top of PGlite's defaults, e.g. `shared_buffers`. */
  settings?: Record<string, string>;
}

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

  static async open(options: PgliteOptions = {}): Promise<PgliteDatabase> {
    if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
    const workerData: PgliteWorkerOptions = { dataDir: options.dataDir, settings: options.settings ?? {} };
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
