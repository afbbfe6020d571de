// What bench:idle and bench:storm share: options, load children, the processes measured.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parseEnvList, startTicktalk } from '../ticks/broker.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
export const { values: opt } = parseArgs({
  options: {
    mode: { type: 'string', default: 'idle' },
    clients: { type: 'string', default: '10000' },
    storm: { type: 'string', default: '12000' },
    existing: { type: 'string', default: '1000' },
    'tick-rate': { type: 'string', default: '300' },
    symbols: { type: 'string', default: '100' },
    'symbols-per-client': { type: 'string', default: '3' },
    rooms: { type: 'string', default: '50' },
    'per-address': { type: 'string', default: '16' },
    'per-child': { type: 'string', default: '4000' },
    timeout: { type: 'string', default: '10000' },
    settle: { type: 'string', default: '3000' },
    only: { type: 'string', default: 'ticktalk,mosquitto,bare' },
    redis: { type: 'string' },
    pglite: { type: 'boolean', default: false },
    snapshot: { type: 'string' },
    prof: { type: 'string' },
    'broker-env': { type: 'string', default: '' },
    unpinned: { type: 'boolean', default: false },
  },
});
export const num = (name) => Number(opt[name]);
export const runId = `C${randomBytes(3).toString('hex')}`;
export const secret = randomBytes(24).toString('base64url');
export const workload = { runId, symbols: num('symbols'), symbolsPerClient: num('symbols-per-client'), rooms: num('rooms') };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const log = (msg) => console.log(`[bench:${opt.mode}] ${msg}`);
export const kb = (bytes) => (bytes / 1024).toFixed(2);
export const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);

/** Request/response over a child's IPC channel. */
function rpc(child) {
  let nextId = 0;
  const waiting = new Map();
  child.on('message', ({ id, result, error }) => {
    const w = waiting.get(id);
    if (!w) return;
    waiting.delete(id);
    if (error) w.reject(new Error(error));
    else w.resolve(result);
  });
  return (message) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      waiting.set(id, { resolve, reject });
      child.send({ id, ...message });
    });
}

/** `count` load children, each an RPC handle. */
export function loadChildren(count) {
  return Array.from({ length: count }, () => {
    const child = fork(join(here, 'clients.mjs'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const call = rpc(child);
    return { child, call: (cmd, args) => call({ cmd, args }) };
  });
}

/** Opens `total` clients of one kind over the children, numbered from `first`, and merges their reports. */
export async function openSpread(children, total, plan) {
  const share = Math.ceil(total / children.length);
  const parts = children.map((c, k) => {
    const count = Math.max(0, Math.min(share, total - k * share));
    const first = plan.first + k * share;
    // Each child's clients get addresses of their own (perAddress per address).
    const addressBase = plan.addressBase + Math.ceil((k * share) / plan.perAddress);
    return count === 0 ? null : c.call('open', { ...workload, ...plan, count, first, addressBase });
  });
  const reports = (await Promise.all(parts)).filter(Boolean);
  const outcomes = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
  return {
    outcomes,
    ok: outcomes.ok ?? 0,
    lastMs: Math.max(...reports.map((r) => r.lastMs)),
    p50Ms: Math.max(...reports.map((r) => r.okMs.p50)),
    p99Ms: Math.max(...reports.map((r) => r.okMs.p99)),
    phases: reports.map((r) => r.phases),
  };
}

export function vmRss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export function mosquittoPid() {
  try {
    return Number(readFileSync('/run/mosquitto/mosquitto.pid', 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** A throwaway PostgreSQL database for the broker's chat store (dropped at the end). */
export async function freshDatabase() {
  const admin = 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `bench_conns_${runId.toLowerCase()}`;
  const run = async (sql) => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  return { url: `postgres://postgres@127.0.0.1:5432/${name}`, drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** ticktalk's broker role in its own process, pinned to core 0, with the memory probe preloaded. */
export async function startBroker(pinned, database) {
  const env = {
    // The per-address connect limit is the default: the clients come from many addresses instead.
    MQTT_CONNECTS_PER_IP_PER_S: '20',
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...(opt.redis ? { REDIS_URL: opt.redis } : {}),
    // `--broker-env K=V,…`: settings to try, e.g. MQTT_WRITE_WINDOW_MAX_MS=250.
    ...parseEnvList(opt['broker-env']),
  };
  const broker = await startTicktalk({
    root,
    secret,
    cpu: pinned ? 0 : undefined,
    env,
    nodeId: `bench-${runId}`,
    nodeArgs: ['--import', join(here, 'probe.mjs'), ...(opt.prof ? ['--cpu-prof', '--cpu-prof-dir', opt.prof] : [])],
    ipc: true,
  });
  const call = rpc(broker.child);
  // An interrupted run (Ctrl-C, timeout) leaves no broker behind.
  process.once('exit', () => broker.child.kill('SIGKILL'));
  return { ...broker, pid: broker.child.pid, probe: (probe, args) => call({ probe, args }) };
}

/** The bare Node server, with the memory probe preloaded. */
export async function startBare() {
  const child = fork(join(here, 'bare-server.mjs'), {
    execArgv: ['--import', join(here, 'probe.mjs')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise((resolve) => child.once('message', (m) => resolve(m.port)));
  const call = rpc(child);
  return { port, pid: child.pid, probe: (probe, args) => call({ probe, args }), stop: () => child.kill() };
}

export async function metricValue(httpPort, name) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^ticktalk_${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}
