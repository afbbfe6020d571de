// npm run bench:marketday [-- --clients 12000 --duration 30 --cluster …] (flags below; bench/README.md)
// The market-day mix against ticktalk (its broker in its own process, pinned to one core) and the
// ticks part against the system Mosquitto, with the same clients in the same run.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { hasTaskset, parseEnvList, pinSelf } from '../ticks/broker.mjs';
import { planClients } from './workload.mjs';
import { Feed } from './feed.mjs';
import { mosquittoTarget, scrape, startTicktalkTarget, totalCpu, totalRss } from './target.mjs';
import { summarize, printReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const { Hs256Auth } = await import(join(root, 'dist/platform/auth.js'));

/** Flag → [default, env variable]: every parameter also comes from the environment. */
const PARAMS = {
  clients: ['2000', 'BENCH_CLIENTS'],
  'symbols-per-client': ['3', 'BENCH_SYMBOLS_PER_CLIENT'],
  symbols: ['100', 'BENCH_SYMBOLS'],
  'tick-rate': ['300', 'BENCH_TICK_RATE'],
  rooms: ['50', 'BENCH_ROOMS'],
  'chat-rate': ['40', 'BENCH_CHAT_RATE'],
  'slow-share': ['0.98', 'BENCH_SLOW_SHARE'],
  'mqtt5-share': ['0', 'BENCH_MQTT5_SHARE'],
  'slow-tick-rate': ['0', 'BENCH_SLOW_TICK_RATE'],
  duration: ['20', 'BENCH_DURATION_S'],
  warmup: ['5', 'BENCH_WARMUP_S'],
  grace: ['6', 'BENCH_GRACE_S'],
  zipf: ['1', 'BENCH_ZIPF'],
  processes: ['0', 'BENCH_PROCESSES'],
  'per-address': ['10', 'BENCH_PER_ADDRESS'],
  redis: ['redis://127.0.0.1:6379/15', 'BENCH_REDIS_URL'],
  'broker-env': ['', 'BENCH_BROKER_ENV'],
  profile: ['', 'BENCH_PROFILE_DIR'],
};
const { values } = parseArgs({
  options: {
    ...Object.fromEntries(Object.keys(PARAMS).map((k) => [k, { type: 'string' }])),
    cluster: { type: 'boolean', default: process.env.BENCH_CLUSTER === '1' },
    'no-mosquitto': { type: 'boolean', default: process.env.BENCH_MOSQUITTO === '0' },
    unpinned: { type: 'boolean', default: false },
  },
});
const opt = Object.fromEntries(Object.entries(PARAMS).map(([k, [def, env]]) => [k, values[k] ?? process.env[env] ?? def]));
const num = (k) => Number(opt[k]);
const runId = `M${randomBytes(2).toString('hex')}`;
const log = (msg) => console.log(`[bench:marketday] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Loads run on their own processes: a process may hold 20,000 open files; 7,000 clients each leaves room. */
const CLIENTS_PER_PROCESS = 7_000;
/** ticktalk's own view at the end of the measured time (sums over nodes; the window gauge too). */
const BROKER_SERIES = [
  'ticktalk_ticks_routed_total',
  'ticktalk_ticks_conflated_total{reason="window"}',
  'ticktalk_ticks_conflated_total{reason="backlog"}',
  'ticktalk_ticks_conflated_total{reason="client_rate"}',
  'ticktalk_tick_write_window_ms',
];

const pinned = !values.unpinned && hasTaskset();
if (pinned) pinSelf(1);
const plan = planClients({
  runId,
  clients: num('clients'),
  symbolsPerClient: num('symbols-per-client'),
  symbols: num('symbols'),
  rooms: num('rooms'),
  slowShare: num('slow-share'),
  mqtt5Share: num('mqtt5-share'),
  slowTickRate: num('slow-tick-rate'),
  zipfS: num('zipf'),
  perAddress: num('per-address'),
  seed: 42,
});
const brokerEnv = parseEnvList(opt['broker-env']);

/** Load processes with a request/response over IPC. */
function startLoads(count) {
  return Array.from({ length: count }, () => {
    const child = fork(join(here, 'load-process.mjs'), { stdio: 'inherit' });
    const waiting = new Map();
    let id = 0;
    child.on('message', (m) => {
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(m.error));
    });
    const ask = (cmd, extra = {}) =>
      new Promise((resolve, reject) => {
        waiting.set(++id, { resolve, reject });
        child.send({ id, cmd, ...extra });
      });
    return { ask, end: () => child.disconnect() };
  });
}

const all = (loads, cmd, extra = () => ({})) => Promise.all(loads.map((l, i) => l.ask(cmd, extra(i))));

async function freshDatabase() {
  const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await admin.connect();
  const name = `md_${runId.toLowerCase()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** One target through the phases: connect, idle (memory), ticks (+ chat), grace, report. */
async function runTarget(target, loads, secret, feedToken) {
  const slices = loads.map((_, i) => plan.filter((c) => c.index % loads.length === i));
  await sleep(2000);
  const rssBefore = totalRss(target.pids);
  log(`${target.name}: connecting ${plan.length} clients from ${Math.ceil(plan.length / num('per-address'))} loopback addresses…`);
  const runPrefix = `${runId}-${target.name.slice(0, 2)}`;
  const connects = await all(loads, 'connect', (i) => ({ ports: target.ports, plan: slices[i], secret, seed: 7 + i, runPrefix }));
  await sleep(3000);
  const rssIdle = totalRss(target.pids);
  const feed = await Feed.open({ port: target.ports[0], token: feedToken, plan, runId, symbols: num('symbols'), zipfS: num('zipf') });
  feed.start(num('tick-rate'));
  await sleep(num('warmup') * 1000);
  await all(loads, 'measure');
  if (target.chat) await all(loads, 'chat', (i) => ({ perSec: num('chat-rate') / loads.length, runTag: `${runPrefix}-p${i}`, seed: 99 + i }));
  const cpu0 = totalCpu(target.pids);
  const t0 = performance.now();
  let rssPeak = 0;
  for (let s = 0; s < num('duration'); s++) {
    await sleep(1000);
    rssPeak = Math.max(rssPeak, totalRss(target.pids));
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (totalCpu(target.pids) - cpu0) / seconds;
  const broker = target.metrics.length > 0 ? await scrape(target.metrics, BROKER_SERIES) : undefined;
  await all(loads, 'stop');
  await all(loads, 'stopChat');
  feed.stop();
  if (target.chat) await sleep(num('grace') * 1000);
  const reports = await all(loads, 'report');
  await all(loads, 'close');
  return summarize({
    target,
    connects,
    reports,
    seconds,
    cpu,
    rssBefore,
    rssIdle,
    rssPeak,
    ticksSent: feed.sentWhile(t0),
    clients: plan.length,
    broker,
  });
}

async function main() {
  const secret = randomBytes(24).toString('base64url');
  const feedToken = await new Hs256Auth(secret).issue({ sub: `${runId.toLowerCase()}-feed`, roles: ['feed'] }, 3600);
  const processes = num('processes') || Math.max(1, Math.ceil(plan.length / CLIENTS_PER_PROCESS));
  log(
    `${plan.length} clients (${plan.filter((c) => c.slow).length} slow readers, ${plan.filter((c) => c.mqtt5).length} on MQTT 5) × ${opt['symbols-per-client']} of ${opt.symbols} symbols, ` +
      `${opt.rooms} rooms; ${opt['tick-rate']} ticks/s, ${opt['chat-rate']} chat/s; ${processes} load processes` +
      (pinned ? '; broker on core 0, load on core 1' : '; unpinned'),
  );
  const db = await freshDatabase();
  const loads = startLoads(processes);
  const results = [];
  try {
    const tt = await startTicktalkTarget({
      root,
      secret,
      cpu: pinned ? 0 : undefined,
      cluster: values.cluster,
      redis: opt.redis,
      databaseUrl: db.url,
      env: brokerEnv,
      profileDir: opt.profile || undefined,
    });
    try {
      results.push(await runTarget(tt, loads, secret, feedToken));
    } finally {
      await tt.stop();
    }
    const mosquitto = mosquittoTarget();
    if (!values['no-mosquitto'] && mosquitto.pids.length > 0) results.push(await runTarget(mosquitto, loads, secret, feedToken));
  } finally {
    for (const l of loads) l.end();
    await db.drop();
  }
  printReport(results, { opt, cluster: values.cluster, brokerEnv });
}

await main();
