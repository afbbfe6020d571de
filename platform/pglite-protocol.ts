/** What the main thread and PGlite's worker thread (platform/pglite-worker.ts) say to each other. */

export interface PgliteWorkerOptions {
  /** Undefined keeps everything in memory (tests). */
  dataDir?: string;
  /** PostgreSQL settings (`-c name=value`) on top of PGlite's defaults. */
  settings: Record<string, string>;
}

/**
 * `node pglite-worker.js --create DIR` creates a data directory (initdb) and exits. Creating leaves
 * several hundred MB of WebAssembly memory and buffers behind that PGlite never gives back, and
 * a thread that ends returns them to its process's allocator, not to the system: a process of
 * its own does.
 */
export const CREATE_FLAG = '--create';

export type PgliteRequest =
  | { id: number; op: 'query'; text: string; params?: unknown[]; tx?: number }
  | { id: number; op: 'begin' }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'memory' }
  | { id: number; op: 'close' };

/** A PostgreSQL error's message and fields (`code`, `detail`, `constraint`, ...), as plain data. */
export interface PgliteErrorData {
  name: string;
  message: string;
  fields: Record<string, string | number>;
}

export type PgliteReply = { id: number; rows?: unknown[]; tx?: number; bytes?: number } | { id: number; error: PgliteErrorData };
