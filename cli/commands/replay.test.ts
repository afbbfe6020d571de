import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateVhost } from '../../bridges/testing/rabbitmq.js';
import { until } from '../../bridges/testing/wait.js';
import { TickBridge } from '../../bridges/tick-bridge.js';
import { Health } from '../../platform/health.js';
import { Metrics } from '../../platform/metrics.js';
import { TickHub } from '../../platform/tick-hub.js';
import type { Tick } from '../../protocol/tick.js';
import { UsageError } from '../args.js';
import { command as replay } from './replay.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/EURUSD-ticks.tsv', import.meta.url));

describe('ticktalk replay (RabbitMQ, private vhost, through the tick bridge)', () => {
  let vhost: Awaited<ReturnType<typeof privateVhost>>;
  let bridge: TickBridge;
  let dir: string;
  const ticks: Tick[] = [];

  beforeAll(async () => {
    vhost = await privateVhost('tt_replay');
    dir = await mkdtemp(join(tmpdir(), 'tt-replay-'));
    const hub = new TickHub();
    hub.subscribe((batch) => ticks.push(...batch));
    const health = new Health();
    bridge = new TickBridge({ url: vhost.url, timeZone: 'UTC', log: pino({ level: 'silent' }), metrics: new Metrics(false), health });
    await bridge.start(hub);
    await until(async () => (await health.readiness()).ready, 'the tick bridge to consume');
  });

  afterAll(async () => {
    await bridge?.stop();
    await vhost?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('publishes every row of the sample export with exact values, server time converted to UTC', async () => {
    ticks.length = 0;
    expect(await replay.run(['--amqp', vhost.url, FIXTURE, '--tz', 'Europe/Athens'])).toBe(0);
    await expect.poll(() => ticks.length, { timeout: 10_000 }).toBe(400);
    expect(ticks[0]).toEqual({
      symbol: 'EURUSD',
      time_msc: Date.UTC(2025, 0, 1, 22, 0, 0, 351),
      bid: 1.08501,
      ask: 1.08508,
      last: 0,
      volume: 0,
      flags: 6,
    });
    // Row 4 has an empty BID: the previous bid is carried forward.
    expect(ticks[3]).toMatchObject({ time_msc: Date.UTC(2025, 0, 1, 22, 0, 1, 496), bid: 1.08503, ask: 1.08511, flags: 4 });
    expect(ticks.every((t, i) => i === 0 || t.time_msc > ticks[i - 1].time_msc)).toBe(true);
  });

  it('reads the UTF-16LE form MT5 writes, paced with --speed, under another symbol and feed', async () => {
    const baseline = ticks.slice(0, 400);
    const text = (await readFile(FIXTURE, 'utf8')).replace(/^\ufeff/, '');
    const utf16 = join(dir, 'export.csv');
    await writeFile(utf16, Buffer.from(`\ufeff${text}`, 'utf16le'));
    ticks.length = 0;
    expect(
      await replay.run(['--amqp', vhost.url, utf16, '--tz', 'Europe/Athens', '--speed', '1000', '--symbol', 'EURUSD.r', '--feed', 'mt5demo']),
    ).toBe(0);
    await expect.poll(() => ticks.length, { timeout: 10_000 }).toBe(400);
    expect(ticks).toEqual(baseline.map((t) => ({ ...t, symbol: 'EURUSD.r' })));
  });

  it('skips and reports bad rows, still publishing the good ones, and exits 1', async () => {
    const file = join(dir, 'GBPUSD_bad.tsv');
    await writeFile(
      file,
      '<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>\n' +
        '2025.01.02\t00:00:00.100\t1.25\t1.2502\t\t\t6\n' +
        '2025.01.02\tnoon\t1.25\t1.2502\t\t\t6\n' +
        '2025.01.02\t00:00:00.300\t1,26\t\t\t\t2\n' +
        '2025.01.02\t00:00:00.400\t1.2501\t\t\t\t2\n',
    );
    ticks.length = 0;
    expect(await replay.run(['--amqp', vhost.url, file])).toBe(1);
    await expect
      .poll(() => ticks.map((t) => [t.symbol, t.bid, t.ask]))
      .toEqual([
        ['GBPUSD', 1.25, 1.2502],
        ['GBPUSD', 1.2501, 1.2502],
      ]);
  });

  it('refuses bad arguments (exit 2 through UsageError) and unreadable input (exit 1)', async () => {
    await expect(replay.run(['--amqp', vhost.url])).rejects.toThrow(UsageError);
    await expect(replay.run(['--amqp', vhost.url, FIXTURE, '--tz', 'Mars/Olympus'])).rejects.toThrow(/--tz must be an IANA time zone/);
    await expect(replay.run(['--amqp', vhost.url, FIXTURE, '--speed', '0'])).rejects.toThrow(/--speed must be positive/);
    await expect(replay.run(['--amqp', 'http://x', FIXTURE])).rejects.toThrow(/amqp:\/\//);
    await expect(replay.run(['--amqp', vhost.url, join(dir, 'x.tsv'), '--symbol', 'EUR#'])).rejects.toThrow(/--symbol must match/);
    expect(await replay.run(['--amqp', vhost.url, join(dir, 'missing.tsv'), '--symbol', 'EURUSD'])).toBe(1);
    const notExport = join(dir, 'EURUSD_bars.csv');
    await writeFile(notExport, '<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\n');
    expect(await replay.run(['--amqp', vhost.url, notExport])).toBe(1);
    expect(await replay.run(['--amqp', 'amqp://guest:guest@127.0.0.1:1', FIXTURE])).toBe(1);
  });
});
