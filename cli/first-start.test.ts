import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import mqtt from 'mqtt';
import { loadConfig } from '../protocol/config.js';
import { PgliteDatabase } from '../platform/pglite-database.js';
import { openCandleStore } from '../ohlcv/store.js';
import { aggregate } from '../ohlcv/aggregate.js';
import { bucketStart, DAY_MS } from '../ohlcv/bucket.js';
import { symbolSightings } from '../ohlcv/symbols.js';
import { JWT_SECRET_FILE } from '../platform/jwt-secret.js';
import { ROLE_NAMES, startApp, type App, type RoleName } from './app.js';

/**
 * What a newcomer meets on `npm start` (all roles, PGlite in DATA_DIR, the built-in simulator):
 * a chart with history at once, and a session that outlives a restart.
 */
const dirs: string[] = [];
const apps: App[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ticktalk-first-start-'));
  dirs.push(dir);
  return dir;
}

/** `ticktalk serve` on a DATA_DIR, ports chosen by the OS; the log lines are kept for assertions. */
async function serve(dir: string, env: Record<string, string>, roles: RoleName[] = [...ROLE_NAMES]) {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const config = loadConfig({ HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_PORT: '0', DATA_DIR: dir, SHUTDOWN_DRAIN_S: '0', ...env });
  const app = await startApp({ config, roles, log });
  apps.push(app);
  const http = `http://127.0.0.1:${app.ports.http}`;
  return { app, lines, http, mqtt: `mqtt://127.0.0.1:${app.ports.mqtt}` };
}

async function barCount(http: string, symbol: string, resolution: string, countback: number): Promise<number> {
  const to = Math.floor(Date.now() / 1000) + 60;
  const body = (await (await fetch(`${http}/udf/history?symbol=${symbol}&resolution=${resolution}&to=${to}&countback=${countback}`)).json()) as {
    t?: number[];
  };
  return body.t?.length ?? 0;
}

/** The bid of the first tick seen on `ticks/{symbol}` (retained, so the newest one at subscribe time). */
async function firstBid(url: string, symbol: string): Promise<number> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  try {
    const got = new Promise<number>((resolve) => client.once('message', (_t, payload) => resolve(JSON.parse(payload.toString()).bid)));
    await client.subscribeAsync(`ticks/${symbol}`);
    return await got;
  } finally {
    await client.endAsync(true);
  }
}

describe('first start with the built-in simulator', () => {
  it('serves months of history for every simulated symbol soon after start, continuing into the live feed', async () => {
    const startedAt = Date.now();
    const { http, mqtt: url } = await serve(dataDir(), { FEED_SIM: 'on' });
    const liveBid = await firstBid(url, 'EURUSD');
    const symbols = loadConfig({}).SYMBOLS;
    for (const symbol of symbols) {
      await expect.poll(() => barCount(http, symbol, '1', 300), { timeout: 240_000, interval: 1000 }).toBe(300);
      await expect.poll(() => barCount(http, symbol, '60', 200), { timeout: 60_000, interval: 1000 }).toBe(200);
      await expect.poll(() => barCount(http, symbol, '1D', 30), { timeout: 60_000, interval: 1000 }).toBe(30);
    }
    // No jump: the last generated minute before the start closes where the live ticks begin.
    const minute = bucketStart(startedAt, '1') / 1000 - 60;
    const body = (await (await fetch(`${http}/udf/history?symbol=EURUSD&resolution=1&from=${minute}&to=${minute + 60}`)).json()) as { c: number[] };
    expect(Math.abs(liveBid / body.c[0] - 1)).toBeLessThan(0.002);
  }, 420_000);

  it('generates nothing when the symbol has history, and the walk resumes from its last stored quote', async () => {
    const dir = dataDir();
    // An earlier run left EURUSD at 1.2 (its profile starts at 1.085).
    const db = await PgliteDatabase.open({ dataDir: join(dir, 'pglite') });
    const store = await openCandleStore(db);
    const time = Date.now() - 3_600_000;
    const ticks = [{ symbol: 'EURUSD', time_msc: time, bid: 1.2, ask: 1.20008, last: 0, volume: 0, flags: 6 }];
    await store.commit(() => ({ bars: aggregate(ticks, { price: 'bid', volume: 'ticks' }).bars, symbols: symbolSightings(ticks) }));
    await db.close();

    const { lines, mqtt: url } = await serve(dir, { FEED_SIM: 'on', SYMBOLS: 'EURUSD' });
    expect(Math.abs((await firstBid(url, 'EURUSD')) / 1.2 - 1)).toBeLessThan(0.001);
    // Generation is announced before start-up returns; here it never was.
    expect(lines.join('')).not.toContain('generating simulated candle history');
  }, 300_000);
});

describe('a first start stopped while it writes history', () => {
  /** The generated 1-minute and 5-minute bars before the live start: how many, and their volumes. */
  async function storedHistory(dir: string) {
    const db = await PgliteDatabase.open({ dataDir: join(dir, 'pglite') });
    try {
      const { rows } = await db.query<{ end_time: number; days: number; written_from: number | null }>(
        'SELECT end_time::float8 AS end_time, days, written_from::float8 AS written_from FROM ohlcv_generated_history',
      );
      const mark = rows[0];
      const { rows: series } = await db.query<{ resolution: string; bars: number; first: number; lo: number; hi: number }>(
        `SELECT resolution, count(*)::int AS bars, min(time)::float8 AS first, min(volume) AS lo, max(volume) AS hi
         FROM ohlcv_bars WHERE resolution IN ('1', '5') AND time < $1 GROUP BY resolution ORDER BY resolution`,
        [bucketStart(mark.end_time, '5')],
      );
      return { mark, series };
    } finally {
      await db.close();
    }
  }

  it('finishes it on the next start: every minute of the span once, no day counted twice', async () => {
    const dir = dataDir();
    const env = { FEED_SIM: 'on', SYMBOLS: 'EURUSD', FEED_SIM_HISTORY_DAYS: '120' };
    const first = await serve(dir, env);
    await expect
      .poll(() => first.lines.join(''), { timeout: 120_000, interval: 100 })
      .toContain('hourly and coarser bars and the last hours written');
    await apps.splice(0)[0].stop();
    const stopped = await storedHistory(dir);
    const start = bucketStart(stopped.mark.end_time, '1D') - 120 * DAY_MS;
    // Stopped during the second pass: the older minutes are only partly there.
    expect(stopped.mark.written_from ?? Infinity).toBeGreaterThan(start);

    const second = await serve(dir, env);
    await expect.poll(() => second.lines.join(''), { timeout: 240_000, interval: 250 }).toContain('simulated history complete');
    expect(second.lines.join('')).toContain('finishing the simulated candle history an earlier start left half written');
    expect(second.lines.join('')).not.toContain('generating simulated candle history');
    await apps.splice(0)[0].stop();

    const { mark, series } = await storedHistory(dir);
    expect(mark).toEqual({ ...stopped.mark, written_from: start });
    // Ticks volume at 10 ticks/s: 600 a minute, 3,000 in five; a day written twice would show double.
    const minutes = (bucketStart(mark.end_time, '5') - start) / 60_000;
    expect(series).toEqual([
      { resolution: '1', bars: minutes, first: start, lo: 600, hi: 600 },
      { resolution: '5', bars: minutes / 5, first: start, lo: 3000, hi: 3000 },
    ]);
  }, 420_000);
});

describe('sessions without AUTH_JWT_SECRET', () => {
  it('a guest token outlives a restart: the secret is kept in DATA_DIR, mode 0600, and never logged', async () => {
    const dir = dataDir();
    const env = { FEED_SIM: 'off', AUTH_JWT_SECRET: '' };
    const first = await serve(dir, env, ['broker', 'web']);
    const res = await fetch(`${first.http}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Ann' }),
    });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const path = join(dir, JWT_SECRET_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(first.lines.join('')).toContain(path);
    await apps.splice(0)[0].stop();

    const second = await serve(dir, env, ['broker', 'web']);
    expect(second.lines.join('')).toContain(path);
    const client = await mqtt.connectAsync(second.mqtt, { reconnectPeriod: 0, username: 'jwt', password: token });
    await client.endAsync(true);
    // The same check refuses a token this secret did not sign.
    const forged = token.slice(0, token.lastIndexOf('.') + 1) + 'AAAA';
    await expect(mqtt.connectAsync(second.mqtt, { reconnectPeriod: 0, username: 'jwt', password: forged })).rejects.toThrow();
    const secret = readFileSync(path, 'utf8').trim();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect([...first.lines, ...second.lines].join('')).not.toContain(secret);
  }, 300_000);
});

describe('the shipped MT5 sample in the default setup', () => {
  it('loads with one command (`ticktalk replay --store`) and shows on the chart', async () => {
    const dir = dataDir();
    const bin = fileURLToPath(new URL('../bin/ticktalk.js', import.meta.url));
    const fixture = fileURLToPath(new URL('../fixtures/EURUSD-ticks.tsv', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'replay', '--store', fixture], { env: { ...process.env, DATA_DIR: dir } });
    expect(stdout).toMatch(/^stored 400 ticks of EURUSD as candles in PGlite in .*; rows 400, bad rows 0/);

    const { http } = await serve(dir, { FEED_SIM: 'off' }, ['ohlcv', 'web']);
    const from = Date.UTC(2025, 0, 2) / 1000;
    const body = (await (await fetch(`${http}/udf/history?symbol=EURUSD&resolution=1D&from=${from}&to=${from + 86_400}`)).json()) as {
      s: string;
      o: number[];
      v: number[];
    };
    expect(body).toMatchObject({ s: 'ok', o: [1.08501], v: [400] });
  }, 300_000);
});
