/**
 * `npm run bench:embedded`: issue 15 item 7's figures for the all-in-one start (`npm start`: every
 * role, PGlite in DATA_DIR, the built-in simulator generating its history on a fresh DATA_DIR).
 * For a fresh DATA_DIR and then for the same one again (existing), over BENCH_SECONDS (120) from
 * spawn, it reports
 *   - the process's RSS (from /proc, every thread, PGlite's worker included): peak, and every 20 s;
 *   - tick latency: a `feed` client publishes a tick every 20 ms on a symbol of its own with
 *     `time_msc` = now, a subscriber times each from that stamp to its arrival (same clock);
 *   - the broker's event-loop lag (its own /metrics, p99 and max per 10 s window);
 *   - when the chart is ready: seconds from spawn until `/udf/history` has ≥ 300 1m, ≥ 200 1H and
 *     ≥ 30 1D bars for every simulated symbol (issue 17: within 30 s of a first start);
 * split into 10 s windows with a chat writer off and on (BENCH_CHAT_RATE QoS 1 messages/s, default
 * 40, the issue's market-day rate, each stored before its PUBACK). Speed is measured here, never
 * asserted. BENCH_CLI picks another build's `bin/ticktalk.js` (a before/after comparison).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import { Hs256Auth } from '../../platform/auth.js';
import { loadConfig } from '../../protocol/config.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 120);
const CHAT_RATE = Number(process.env.BENCH_CHAT_RATE ?? 40);
const CLI = resolve(process.env.BENCH_CLI ?? 'bin/ticktalk.js');
const WINDOW_MS = 10_000;
const TICK_EVERY_MS = 20;
const SYMBOL = `BENCH${randomBytes(2).toString('hex').toUpperCase()}`;

const say = (line: string) => process.stdout.write(`${line}\n`);
const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function startTicktalk(dataDir: string, secret: string): Promise<{ child: ChildProcess; mqttUrl: string; metricsUrl: string }> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      MQTT_PORT: '0',
      HTTP_PORT: '0',
      DATA_DIR: dataDir,
      AUTH_JWT_SECRET: secret,
      SHUTDOWN_DRAIN_S: '0',
      LOG_LEVEL: 'info',
      CHAT_RATE_PER_S: '1000',
      CHAT_BURST: '1000',
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = createInterface({ input: child.stdout });
  const ports = await new Promise<{ mqtt: number; http: number }>((resolvePorts, reject) => {
    child.once('exit', (code) => reject(new Error(`ticktalk exited with ${code} before listening`)));
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line) as { msg?: string; ports?: { mqtt?: number; http: number } };
        if (event.msg === 'ticktalk started' && event.ports?.mqtt) resolvePorts({ mqtt: event.ports.mqtt, http: event.ports.http });
      } catch {
        // Not a log line.
      }
    });
  });
  return { child, mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`, metricsUrl: `http://127.0.0.1:${ports.http}/metrics` };
}

function connect(url: string, password: string): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 30_000, username: 'jwt', password });
  return new Promise((resolveClient, reject) => {
    client.once('connect', () => resolveClient(client));
    client.once('error', reject);
  });
}

/** The broker's event-loop lag since its previous scrape (prom-client resets it on each collect). */
async function eventLoopLag(metricsUrl: string): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const value = (name: string) => Number(new RegExp(`^ticktalk_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  return { p99: value('p99'), max: value('max') };
}

/** Issue 17's first-start promise: the bars a chart needs at 1m, 1H and 1D, for every simulated symbol. */
const CHART_BARS: readonly (readonly [string, number])[] = [
  ['1', 300],
  ['60', 200],
  ['1D', 30],
];

async function bars(httpUrl: string, symbol: string, resolution: string, countback: number): Promise<number> {
  const to = Math.floor(Date.now() / 1000) + 60;
  const res = await fetch(`${httpUrl}/udf/history?symbol=${symbol}&resolution=${resolution}&to=${to}&countback=${countback}`);
  return ((await res.json()) as { t?: number[] }).t?.length ?? 0;
}

/** Seconds from spawn until every simulated symbol has CHART_BARS (undefined: not by `until`). */
async function chartReady(httpUrl: string, started: number, until: number): Promise<number | undefined> {
  const symbols = loadConfig({}).SYMBOLS;
  while (Date.now() < until) {
    const counts = await Promise.all(
      symbols.flatMap((symbol) => CHART_BARS.map(([res, n]) => bars(httpUrl, symbol, res, n).then((got) => got >= n))),
    );
    if (counts.every(Boolean)) return (Date.now() - started) / 1000;
    await new Promise((wait) => setTimeout(wait, 250));
  }
  return undefined;
}

interface Window {
  chat: boolean;
  latencies: number[];
  lag: { p99: number; max: number };
  acked: number;
}

/** Alternating 10 s windows, chat off then on, until `until` (ms since epoch). */
async function measureWindows(mqttUrl: string, metricsUrl: string, auth: Hs256Auth, until: number): Promise<Window[]> {
  const [feed, reader, writer] = await Promise.all([
    connect(mqttUrl, await auth.issue({ sub: 'bench-feed', roles: ['feed'] }, 3600)),
    connect(mqttUrl, await auth.issue({ sub: 'bench-reader' }, 3600)),
    connect(mqttUrl, await auth.issue({ sub: 'bench-writer' }, 3600)),
  ]);
  const windows: Window[] = [];
  let current: Window | undefined;
  reader.on('message', (_topic, payload) => current?.latencies.push(Date.now() - (JSON.parse(payload.toString()) as { time_msc: number }).time_msc));
  await reader.subscribeAsync(`ticks/${SYMBOL}`, { qos: 0 });
  const ticks = setInterval(() => {
    const tick = { symbol: SYMBOL, time_msc: Date.now(), bid: 1.1, ask: 1.1002 };
    feed.publish(`ticks/${SYMBOL}`, JSON.stringify(tick), { qos: 0 });
  }, TICK_EVERY_MS);
  let chat: NodeJS.Timeout | undefined;
  try {
    await eventLoopLag(metricsUrl);
    for (let i = 0; Date.now() + WINDOW_MS <= until; i++) {
      const window: Window = { chat: i % 2 === 1, latencies: [], lag: { p99: NaN, max: NaN }, acked: 0 };
      current = window;
      if (window.chat) {
        chat = setInterval(() => {
          writer.publishAsync('chat/rooms/bench-embedded', JSON.stringify({ text: 'market day' }), { qos: 1 }).then(
            () => window.acked++,
            () => {},
          );
        }, 1000 / CHAT_RATE);
      }
      await new Promise((wait) => setTimeout(wait, WINDOW_MS));
      clearInterval(chat);
      window.lag = await eventLoopLag(metricsUrl);
      windows.push(window);
    }
  } finally {
    clearInterval(ticks);
    clearInterval(chat);
    await Promise.all([feed, reader, writer].map((c) => c.endAsync(true)));
  }
  return windows;
}

function report(label: string, rss: number[], windows: Window[]): void {
  say(`\n### ${label}\n`);
  say(
    `RSS peak ${mb(Math.max(...rss))}; every 20 s: ${rss
      .filter((_, i) => i % 20 === 19)
      .map(mb)
      .join(', ')}\n`,
  );
  say('| window | chat writes | acked | tick p50 ms | tick p99 ms | tick max ms | event-loop lag p99 / max ms |');
  say('| ---: | --- | ---: | ---: | ---: | ---: | --- |');
  windows.forEach((w, i) => {
    const lat = w.latencies;
    say(
      `| ${i + 1} | ${w.chat ? `${CHAT_RATE}/s` : 'off'} | ${w.acked} | ${ms(percentile(lat, 50))} | ${ms(percentile(lat, 99))} | ${ms(Math.max(...lat))} | ${ms(w.lag.p99)} / ${ms(w.lag.max)} |`,
    );
  });
  for (const chat of [false, true]) {
    const all = windows.filter((w) => w.chat === chat).flatMap((w) => w.latencies);
    const lag = Math.max(...windows.filter((w) => w.chat === chat).map((w) => w.lag.max));
    say(
      `\nchat ${chat ? 'on ' : 'off'}: tick p50 ${ms(percentile(all, 50))} ms, p99 ${ms(percentile(all, 99))} ms, max ${ms(Math.max(...all))} ms; event-loop lag max ${ms(lag)} ms`,
    );
  }
}

async function run(label: string, dataDir: string): Promise<void> {
  const secret = randomBytes(24).toString('base64url');
  const started = Date.now();
  const { child, mqttUrl, metricsUrl } = await startTicktalk(dataDir, secret);
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssBytes(child.pid!)), 1000);
  try {
    say(`${label}: listening after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const until = started + SECONDS * 1000;
    const [ready, windows] = await Promise.all([
      chartReady(metricsUrl.replace(/\/metrics$/, ''), started, until),
      measureWindows(mqttUrl, metricsUrl, new Hs256Auth(secret), until),
    ]);
    const bounds = CHART_BARS.map(([res, n]) => `≥ ${n} ${res === '60' ? '1H' : res === '1' ? '1m' : res}`).join(', ');
    say(
      `${label}: chart ready (${bounds} bars for every simulated symbol) ${ready === undefined ? 'not within the run' : `after ${ready.toFixed(1)} s from spawn`}`,
    );
    report(label, rss, windows);
  } finally {
    clearInterval(sampler);
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'ticktalk-embedded-'));
say(`bench:embedded: ${CLI}, ${SECONDS} s per start, DATA_DIR ${dataDir}, chat ${CHAT_RATE} msg/s in every other 10 s window`);
try {
  await run('fresh DATA_DIR', dataDir);
  await run('existing DATA_DIR', dataDir);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
