/**
 * `npm run bench:chat`: issue 5's figures. The same QoS 1 chat workload against
 *   - ticktalk (validate, rate-limit, stamp, store in PostgreSQL, then PUBACK and forward), and
 *   - the local Mosquitto on 127.0.0.1:1883 (forwards, stores nothing),
 * reporting acked messages/s and end-to-end latency (publish → subscriber) p50/p99, and the ratio
 * (target >= 0.5x). Needs the local PostgreSQL (a throwaway database) unless BENCH_PGLITE=1.
 * Sizes: BENCH_ROUNDS (9; the brokers take turns and the median ratio is the figure), BENCH_MESSAGES
 * (per broker per round, default 20000), BENCH_PUBLISHERS (10), BENCH_WINDOW (QoS 1 publishes in
 * flight per publisher, 20). BENCH_REFS=1 gives every message a random client `ref` (both brokers get
 * the same payloads). BENCH_PROF=1 writes a CPU profile of the ticktalk process to /tmp/chatprof.
 * "delivered" counts what the subscriber got within 30 s of the last ack: Mosquitto drops QoS 1
 * messages for a subscriber whose queue is full (max_queued_messages), ticktalk does not.
 * The machine is shared, so msg/s moves with its load; the CPU time per message (from /proc) of the
 * ticktalk process, the PostgreSQL server, the load generator and the whole machine tells where
 * the time went.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { Hs256Auth } from '../../platform/auth.js';
import { freshDatabase } from '../../test/testing/postgres.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const PUBLISHERS = Number(process.env.BENCH_PUBLISHERS ?? 10);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 20);
/** Messages each broker gets before anything is measured: after 5,000 the JIT was still compiling ticktalk's hot path (perf). */
const WARMUP = 20_000;
const MOSQUITTO_URL = process.env.BENCH_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883';
const PGLITE = process.env.BENCH_PGLITE === '1';
/** Give every message a client `ref`, as the web page does (stored once per ref: one more index entry per message). */
const REFS = process.env.BENCH_REFS === '1';

const say = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
  delivered: number;
}

function connect(url: string, password?: string): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...(password ? { username: 'jwt', password } : {}) });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    client.once('close', () => reject(new Error(`${url} closed the connection before CONNACK`)));
  });
}

/** NaN when nothing was delivered. */
function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/**
 * PUBLISHERS clients each keep WINDOW QoS 1 publishes in flight until `count` are acked; one
 * subscriber times every message from its publish to its arrival (the send time rides in the text).
 */
async function workload(url: string, topic: string, count: number, tokens: (i: number) => Promise<string | undefined>): Promise<Result> {
  const subscriber = await connect(url, await tokens(-1));
  const latencies = new Float64Array(count);
  let delivered = 0;
  let allDelivered!: () => void;
  const done = new Promise<void>((resolve) => (allDelivered = resolve));
  subscriber.on('message', (_t, payload) => {
    const sentAt = Number((JSON.parse(payload.toString()) as { text: string }).text);
    if (delivered < count) latencies[delivered] = performance.now() - sentAt;
    if (++delivered === count) allDelivered();
  });
  await subscriber.subscribeAsync(topic, { qos: 1 });
  const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, async (_, i) => connect(url, await tokens(i))));

  // Random like the web page's, and made before the clock starts: the load generator's CPU is the same either way.
  const refs = REFS ? Array.from({ length: count }, () => `r-${randomBytes(8).toString('hex')}`) : [];
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    publishers.flatMap((client) =>
      Array.from({ length: WINDOW }, async () => {
        while (issued < count) {
          const ref = refs[issued++];
          const text = String(performance.now());
          await client.publishAsync(topic, JSON.stringify(ref === undefined ? { text } : { text, ref }), { qos: 1 });
        }
      }),
    ),
  );
  const ackedIn = (performance.now() - started) / 1000;
  const timeout = setTimeout(allDelivered, 30_000);
  await done;
  clearTimeout(timeout);
  await Promise.all([subscriber, ...publishers].map((c) => c.endAsync(true)));
  const sorted = latencies.slice(0, Math.min(delivered, count)).sort();
  return { perSecond: count / ackedIn, p50: percentile(sorted, 50), p99: percentile(sorted, 99), delivered };
}

/** CPU seconds (user + system, every thread) a process has used so far; 0 once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function row(r: Result): string {
  const ms = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(1));
  return `${fmt(r.perSecond)} | ${ms(r.p50)} | ${ms(r.p99)} | ${fmt(r.delivered)}`;
}

async function storedCount(url: string, room: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ last_seq: string }>('SELECT last_seq FROM chat_rooms WHERE room = $1', [room]);
    return Number(rows[0]?.last_seq ?? 0);
  } finally {
    await client.end();
  }
}

/** Messages and transactions ticktalk's group commit has written so far (from its /metrics). */
async function commits(metricsUrl: string): Promise<{ messages: number; transactions: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const value = (name: string) => Number(new RegExp(`^ticktalk_chat_commit_batch_messages_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { messages: value('sum'), transactions: value('count') };
}

/** CPU seconds every core of the machine has spent busy (not idle or waiting on I/O) since boot. */
function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** Pids of the processes whose command name is `name`. */
function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return pids;
}

/**
 * CPU seconds of every PostgreSQL server process (backends, WAL writer, checkpointer, autovacuum):
 * pools open and close backends between runs, and a commit's work is not all in its backend.
 */
function postgresSeconds(): number {
  return pidsNamed('postgres').reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** `ticktalk serve --roles broker` from the build, in a process of its own; its start log names the port. */
async function startTicktalk(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; metricsUrl: string }> {
  const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ticktalk.js');
  const profile = process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/chatprof'] : [];
  const child = spawn(process.execPath, [...profile, cli, 'serve', '--roles', 'broker'], {
    env: { ...process.env, HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_PORT: '0', FEED_SIM: 'off', SHUTDOWN_DRAIN_S: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const ports = await new Promise<{ mqtt: number; http: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`ticktalk exited with ${code} before listening`)));
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line) as { msg?: string; ports?: { mqtt?: number; http: number }; level?: number };
        if (event.msg === 'ticktalk started' && event.ports?.mqtt) resolve({ mqtt: event.ports.mqtt, http: event.ports.http });
        else if ((event.level ?? 0) >= 40) process.stderr.write(`${line}\n`);
      } catch {
        process.stderr.write(`${line}\n`);
      }
    });
  });
  return { child, url: `mqtt://127.0.0.1:${ports.mqtt}`, metricsUrl: `http://127.0.0.1:${ports.http}/metrics` };
}

/** Where ticktalk listens, how its clients sign in, and where its CPU time and stored rows are read. */
interface Ticktalk {
  url: string;
  metricsUrl: string;
  run: string;
  token: (i: number) => Promise<string>;
  pgUrl?: string;
  pid: number;
}

/** ROUNDS rounds, the brokers taking turns, one table row each; returns ticktalk's msg/s over Mosquitto's per round. */
async function compareRounds(ours: Ticktalk): Promise<number[]> {
  // The local Mosquitto's process, when this machine runs it (its CPU per message is shown too).
  const mosquitto = pidsNamed('mosquitto')[0];
  const cpu = () => ({
    ticktalk: cpuSeconds(ours.pid),
    pg: ours.pgUrl ? postgresSeconds() : 0,
    clients: cpuSeconds(process.pid),
    machine: machineBusySeconds(),
  });
  say('');
  say(
    '| round | broker | acked msg/s | e2e p50 ms | e2e p99 ms | delivered | stored | msgs per commit | CPU µs/msg: broker, PostgreSQL, load generator, machine |',
  );
  say('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const room = `bench-${ours.run}-${round}`;
    const measureOurs = async () => {
      const [before, batchesBefore] = [cpu(), await commits(ours.metricsUrl)];
      const result = await workload(ours.url, `chat/rooms/${room}`, MESSAGES, ours.token);
      const [after, batchesAfter] = [cpu(), await commits(ours.metricsUrl)];
      const perCommit = (batchesAfter.messages - batchesBefore.messages) / (batchesAfter.transactions - batchesBefore.transactions);
      const us = (k: keyof typeof before) => (((after[k] - before[k]) * 1e6) / MESSAGES).toFixed(0);
      const stored = ours.pgUrl ? fmt(await storedCount(ours.pgUrl, room)) : 'n/a';
      say(
        `| ${round} | ticktalk (stamp + store, then PUBACK) | ${row(result)} | ${stored} | ${perCommit.toFixed(0)} | ${us('ticktalk')}, ${ours.pgUrl ? us('pg') : '-'}, ${us('clients')}, ${us('machine')} |`,
      );
      return result;
    };
    const measureTheirs = async () => {
      const before = { broker: mosquitto ? cpuSeconds(mosquitto) : 0, clients: cpuSeconds(process.pid), machine: machineBusySeconds() };
      const result = await workload(MOSQUITTO_URL, `chat/rooms/${room}`, MESSAGES, async () => undefined);
      const after = { broker: mosquitto ? cpuSeconds(mosquitto) : 0, clients: cpuSeconds(process.pid), machine: machineBusySeconds() };
      const us = (k: keyof typeof before) => (((after[k] - before[k]) * 1e6) / MESSAGES).toFixed(0);
      say(
        `| ${round} | Mosquitto 127.0.0.1:1883 | ${row(result)} | - | - | ${mosquitto ? us('broker') : '?'}, -, ${us('clients')}, ${us('machine')} |`,
      );
      return result;
    };
    // Alternate who goes first: a drift in the machine's load then favours neither.
    const [mine, theirs] =
      round % 2 === 1 ? [await measureOurs(), await measureTheirs()] : await measureTheirs().then(async (t) => [await measureOurs(), t]);
    ratios.push(mine.perSecond / theirs.perSecond);
  }
  return ratios;
}

async function main(): Promise<void> {
  const secret = randomBytes(24).toString('base64url');
  const auth = new Hs256Auth(secret);
  const pgDb = PGLITE ? undefined : await freshDatabase('bench_chat');
  const { child, url, metricsUrl } = await startTicktalk({
    AUTH_JWT_SECRET: secret,
    // The limit is not what is measured: every publisher may send as fast as it can.
    CHAT_RATE_PER_S: '1000000',
    CHAT_BURST: '1000000',
    NODE_ID: 'bench-chat',
    // One load generator opens every connection from 127.0.0.1.
    MQTT_CONNECTS_PER_IP_PER_S: '10000',
    ...(pgDb ? { DATABASE_URL: pgDb.url } : { DATA_DIR: join('node_modules', '.cache', 'ticktalk-bench', `pglite-${secret.slice(0, 8)}`) }),
  });
  const run = randomBytes(4).toString('hex');
  const token = (i: number) => auth.issue({ sub: i < 0 ? `bench-reader-${run}` : `bench-${run}-${i}` }, 3600);
  try {
    say(
      `chat QoS 1: ${ROUNDS} rounds of ${fmt(MESSAGES)} messages per broker, ${PUBLISHERS} publishers x ${WINDOW} in flight, ` +
        `1 subscriber; ${REFS ? 'a client ref on every message; ' : ''}storage ${pgDb ? 'PostgreSQL' : 'PGlite'}; the brokers take turns, so both see the machine's same moods`,
    );
    // Warm both (JIT, connection pools, PostgreSQL caches) before anything is measured.
    await workload(url, `chat/rooms/warmup-${run}`, WARMUP, token);
    await workload(MOSQUITTO_URL, `bench/warmup-${run}`, WARMUP, async () => undefined);
    const ratios = await compareRounds({ url, metricsUrl, run, token, pgUrl: pgDb?.url, pid: child.pid! });
    const sorted = [...ratios].sort((a, b) => a - b);
    say('');
    say(
      `ratio ticktalk / Mosquitto per round: ${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')}; ` +
        `median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)}x (target >= 0.5x)`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await pgDb?.drop();
  }
}

await main();
