import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { CREATE_FLAG, type PgliteErrorData, type PgliteReply, type PgliteRequest, type PgliteWorkerOptions } from './pglite-protocol.js';

/**
 * The worker thread that owns PGlite, so its WebAssembly PostgreSQL never runs on the broker's
 * event loop. It answers the requests of `PgliteDatabase` (platform/pglite-database.ts) one by one
 * in arrival order, as PGlite's own queue would in process.
 */

/** An open transaction: its handle, and how to end it once the main thread says commit or roll back. */
interface OpenTransaction {
  tx: Transaction;
  end(commit: boolean): void;
  done: Promise<unknown>;
}

/** Thrown into PGlite's transaction to make it roll back; the caller has its own error already. */
const ROLLBACK = new Error('rolled back by the caller');

function errorData(err: unknown): PgliteErrorData {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), fields: {} };
  const fields: Record<string, string | number> = {};
  // Scalar fields only: `params` and `query` may be large and are the caller's own anyway.
  for (const [key, value] of Object.entries(err)) {
    if ((typeof value === 'string' || typeof value === 'number') && key !== 'query') fields[key] = value;
  }
  return { name: err.name, message: err.message, fields };
}

async function open({ dataDir, settings }: PgliteWorkerOptions): Promise<PGlite> {
  const startParams = [...PGlite.defaultStartParams, ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
  return PGlite.create({ dataDir, startParams });
}

function serve(db: PGlite, port: NonNullable<typeof parentPort>): void {
  const transactions = new Map<number, OpenTransaction>();
  const reply = (message: PgliteReply) => port.postMessage(message);
  const answer = (id: number, work: Promise<Omit<PgliteReply, 'id'>>) =>
    work.then(
      (result) => reply({ id, ...result }),
      (err: unknown) => reply({ id, error: errorData(err) }),
    );

  const begin = (id: number) => {
    let started = false;
    let end!: (commit: boolean) => void;
    const decided = new Promise<boolean>((resolve) => (end = resolve));
    const done = db.transaction(async (tx) => {
      started = true;
      transactions.set(id, { tx, end, done });
      reply({ id, tx: id });
      if (!(await decided)) throw ROLLBACK;
    });
    // A transaction that never started (BEGIN failed) answers its `begin`; one that did, its `end`.
    done.catch((err: unknown) => (started ? undefined : reply({ id, error: errorData(err) })));
  };

  const finish = async (tx: number, commit: boolean) => {
    const open = transactions.get(tx);
    if (!open) throw new Error(`no open transaction ${tx}`);
    transactions.delete(tx);
    open.end(commit);
    await open.done.catch((err: unknown) => {
      if (err !== ROLLBACK) throw err;
    });
    return {};
  };

  const query = async (text: string, params: unknown[] | undefined, tx: number | undefined) => {
    const on = tx === undefined ? db : transactions.get(tx)?.tx;
    if (!on) throw new Error(`no open transaction ${tx}`);
    return { rows: (await on.query(text, params)).rows };
  };

  port.on('message', (request: PgliteRequest) => {
    switch (request.op) {
      case 'query':
        return void answer(request.id, query(request.text, request.params, request.tx));
      case 'begin':
        return begin(request.id);
      case 'end':
        return void answer(request.id, finish(request.tx, request.commit));
      case 'memory':
        // This thread's heap and external memory: PostgreSQL's WebAssembly memory and PGlite's buffers.
        return reply({ id: request.id, bytes: process.memoryUsage().heapTotal + process.memoryUsage().external });
      case 'close':
        return void answer(
          request.id,
          db.close().then(() => ({})),
        );
    }
  });
}

if (!parentPort && process.argv[2] === CREATE_FLAG) {
  await (await PGlite.create({ dataDir: process.argv[3] })).close();
} else if (parentPort) {
  const port = parentPort;
  open(workerData as PgliteWorkerOptions).then(
    (db) => {
      serve(db, port);
      port.postMessage({ id: 0 } satisfies PgliteReply);
    },
    (err: unknown) => port.postMessage({ id: 0, error: errorData(err) } satisfies PgliteReply),
  );
}
