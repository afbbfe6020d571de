import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { Hs256Auth } from '../platform/auth.js';
import { freshDatabase } from '../test/testing/postgres.js';

/** The built CLI, as an operator runs it (`npm test` builds first through `pretest`). */
const BIN = fileURLToPath(new URL('../bin/ticktalk.js', import.meta.url));
const SECRET = 'cli-test-secret-0123456789';

/** Every run gets a DATA_DIR of its own here unless it names one: never `./data` in the checkout. */
const scratch = mkdtempSync(join(tmpdir(), 'ticktalk-cli-'));
let runs = 0;
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', DATA_DIR: join(scratch, `run-${++runs}`), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

/** The first JSON log line (stdout) containing `text`, parsed; undefined when there is none. */
function logLine(out: string, text: string): Record<string, unknown> | undefined {
  const line = out.split('\n').find((l) => l.includes(text));
  return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
}

/** `serve --roles ROLES` on ephemeral ports of 127.0.0.1 with a DATA_DIR of its own, once it logs "ticktalk started". */
async function serveStarted(roles: string, dataDir: string, drainS: number) {
  const p = run(['serve', '--roles', roles], {
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_PORT: '0',
    DATA_DIR: dataDir,
    SHUTDOWN_DRAIN_S: String(drainS),
    AUTH_JWT_SECRET: SECRET,
  });
  children.push(p.child);
  await expect.poll(() => /"msg":"ticktalk started"/.test(p.out()), { timeout: 60_000 }).toBe(true);
  return { ...p, ports: logLine(p.out(), 'ticktalk started')!.ports as { mqtt: number; http: number } };
}

describe('ticktalk CLI', () => {
  it('help lists every command with what it does, and how serve stops', async () => {
    const p = run(['help']);
    expect(await p.exited).toBe(0);
    const lines = p.out().split('\n');
    for (const name of ['serve', 'token', 'feed-sim', 'replay', 'config']) {
      expect(
        lines.some((l) => new RegExp(`^  ${name} +\\S`).test(l)),
        name,
      ).toBe(true);
    }
    expect(p.out()).toMatch(/a second one exits at once/);
  });

  it('token prints a JWT the server accepts', async () => {
    const p = run(['token', '--sub', 'alice', '--name', 'Alice', '--roles', 'trader,moderator', '--ttl', '10m'], { AUTH_JWT_SECRET: SECRET });
    expect(await p.exited).toBe(0);
    await expect(new Hs256Auth(SECRET).verify(p.out().trim())).resolves.toEqual({ sub: 'alice', name: 'Alice', roles: ['trader', 'moderator'] });
  });

  it('token refuses bad arguments and a missing secret with exit code 2', async () => {
    const bad = run(['token', '--sub', 'a/b'], { AUTH_JWT_SECRET: SECRET });
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toMatch(/--sub must match/);
    const emptyDataDir = mkdtempSync(join(tmpdir(), 'ticktalk-cli-'));
    try {
      const noSecret = run(['token', '--sub', 'alice'], { DATA_DIR: emptyDataDir });
      expect(await noSecret.exited).toBe(2);
      expect(noSecret.err()).toMatch(/AUTH_JWT_SECRET is not set and .*jwt-secret does not exist/);
    } finally {
      rmSync(emptyDataDir, { recursive: true, force: true });
    }
  });

  it('token signs with the secret a server keeps in DATA_DIR when AUTH_JWT_SECRET is unset', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ticktalk-cli-'));
    try {
      writeFileSync(join(dataDir, 'jwt-secret'), `${SECRET}\n`, { mode: 0o600 });
      const p = run(['token', '--sub', 'alice'], { DATA_DIR: dataDir });
      expect(await p.exited).toBe(0);
      await expect(new Hs256Auth(SECRET).verify(p.out().trim())).resolves.toMatchObject({ sub: 'alice' });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('token without --sub says --sub is required; several bad flags are all named', async () => {
    const env = { AUTH_JWT_SECRET: SECRET };
    const [missing, bad, unknown, noValue] = await Promise.all(
      [
        ['token'],
        ['token', '--sub', 'alice', '--roles', 'king', '--ttl', 'soon'],
        ['token', '--sub', 'alice', '--expires', '1h'],
        ['token', '--sub'],
      ].map(async (args) => {
        const p = run(args, env);
        return { code: await p.exited, err: p.err() };
      }),
    );
    expect(missing).toEqual({ code: 2, err: expect.stringMatching(/^ticktalk token: --sub is required\nusage: ticktalk token --sub ID/) });
    expect(bad).toEqual({ code: 2, err: expect.stringMatching(/--roles takes trader, feed, moderator, admin; --ttl: bad ttl "soon"/) });
    expect(unknown).toEqual({ code: 2, err: expect.stringMatching(/^ticktalk token: unknown option --expires\n/) });
    expect(noValue).toEqual({ code: 2, err: expect.stringMatching(/^ticktalk token: --sub needs a value\n/) });
  }, 90_000);

  it('config --check lists every bad variable at once and never prints a secret', async () => {
    const p = run(['config', '--check'], {
      MQTT_PORT: 'eighteen',
      AUTH_JWT_SECRET: 'hunter2-short',
      DATABASE_URL: 'mysql://admin:s3cr3t-pw@db.example/app',
      ACL_FILE: '/nonexistent/acl',
    });
    expect(await p.exited).toBe(2);
    const lines = p.err().trim().split('\n');
    expect(lines.map((l) => /^ticktalk: invalid configuration: (\w+):/.exec(l)?.[1])).toEqual([
      'MQTT_PORT',
      'DATABASE_URL',
      'AUTH_JWT_SECRET',
      'ACL_FILE',
    ]);
    expect(p.err()).toContain('(got "mysql://admin:***@db.example/app")');
    expect(p.err()).toContain('AUTH_JWT_SECRET: must be at least 16 characters (got 13 characters, not shown)');
    expect(p.err()).toContain('ACL_FILE: cannot read /nonexistent/acl: ENOENT');
    expect(p.err() + p.out()).not.toMatch(/hunter2|s3cr3t/);
  });

  it('config --check names an invalid ACL_FILE and a DATA_DIR that is not a directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticktalk-check-'));
    try {
      writeFileSync(join(dir, 'acl'), 'user alice\ntopic readwrite chat/#\n');
      const p = run(['config', '--check'], { ACL_FILE: join(dir, 'acl'), DATA_DIR: join(dir, 'acl', 'data') });
      expect(await p.exited).toBe(2);
      expect(p.err()).toMatch(/invalid configuration: ACL_FILE: line 2: "chat\/#" touches a built-in topic family/);
      expect(p.err()).toContain(`invalid configuration: DATA_DIR: ${join(dir, 'acl')} is not a directory`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('config --check on a good environment exits 0 with a short summary, passwords masked', async () => {
    const p = run(['config', '--check'], {
      AUTH_JWT_SECRET: SECRET,
      DATABASE_URL: 'postgres://ticktalk:pg-pass-123@127.0.0.1:5432/ticktalk',
      REDIS_URL: 'redis://:redis-pass-456@127.0.0.1:6379',
    });
    expect(await p.exited).toBe(0);
    // LOG_LEVEL and DATA_DIR are the fourth and fifth, set by run().
    expect(p.out()).toMatch(/^configuration OK: 5 set, the rest default\n/);
    expect(p.out()).toMatch(/\n {2}AUTH_JWT_SECRET +26 characters, not shown\n/);
    expect(p.out()).toMatch(/\n {2}database +PostgreSQL postgres:\/\/ticktalk:\*\*\*@127\.0\.0\.1:5432\/ticktalk\n/);
    expect(p.out()).toMatch(/\n {2}cluster +Redis redis:\/\/:\*\*\*@127\.0\.0\.1:6379\n/);
    expect(p.out()).not.toMatch(new RegExp(`${SECRET}|pg-pass-123|redis-pass-456`));
  });

  it('help lines up its columns for every command', async () => {
    const helps = await Promise.all(
      ['--help', 'serve --help', 'token --help', 'feed-sim --help', 'replay --help', 'config -h'].map(async (args) => {
        const p = run(args.split(' '));
        expect(await p.exited).toBe(0);
        return p.out();
      }),
    );
    for (const text of helps) {
      // Each indented block's second column starts at one place: two spaces after its widest first column.
      for (const block of text
        .split(/\n(?! {2})/)
        .map((b) => b.split('\n').filter((l) => l.startsWith('  ')))
        .filter((b) => b.length > 0)) {
        const starts = new Set(block.map((l) => /^ {2}\S.*?  +(?=\S)/.exec(l)?.[0].length));
        expect(starts.size, block.join('\n')).toBe(1);
      }
    }
    expect(helps[0]).toMatch(/\n {2}feed-sim {2}publish simulated/);
  }, 90_000);

  it('a bad variable stops serve with a message naming it', async () => {
    const p = run(['serve'], { MQTT_PORT: 'eighteen' });
    expect(await p.exited).toBe(2);
    expect(p.err()).toMatch(/invalid configuration: MQTT_PORT/);
  });

  it('an unreadable or widening ACL_FILE stops serve with a message naming it', async () => {
    const missing = run(['serve', '--roles', 'broker'], { HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_PORT: '0', ACL_FILE: '/nonexistent/acl' });
    expect(await missing.exited).toBe(2);
    expect(missing.err()).toMatch(/invalid configuration: ACL_FILE: cannot read \/nonexistent\/acl: ENOENT/);
    const dir = mkdtempSync(join(tmpdir(), 'ticktalk-acl-'));
    try {
      writeFileSync(join(dir, 'acl'), 'user alice\ntopic readwrite chat/#\n');
      const widening = run(['serve', '--roles', 'broker'], { HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_PORT: '0', ACL_FILE: join(dir, 'acl') });
      expect(await widening.exited).toBe(2);
      expect(widening.err()).toMatch(/invalid configuration: ACL_FILE: line 2: "chat\/#" touches a built-in topic family/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a port already in use stops serve with a message naming the variable', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const p = run(['serve', '--roles', 'broker'], { HOST: '127.0.0.1', MQTT_PORT: String(port), HTTP_PORT: '0' });
      expect(await p.exited).toBe(2);
      expect(p.err()).toMatch(new RegExp(`invalid configuration: MQTT_PORT: port ${port} on 127.0.0.1 is already in use`));
    } finally {
      taken.close();
    }
  });

  it('serve prints where to connect and the engines chosen on stderr, JSON logs stay on stdout', async () => {
    const db = await freshDatabase('tt_cli');
    // Trust authentication ignores the password: it is there to be masked.
    const url = new URL(db.url);
    url.password = 'pg-pass-789';
    try {
      const p = run(['serve'], {
        HOST: '127.0.0.1',
        MQTT_PORT: '0',
        HTTP_PORT: '0',
        DATABASE_URL: url.toString(),
        FEED_SIM: 'off',
        SHUTDOWN_DRAIN_S: '0',
      });
      children.push(p.child);
      // stderr and stdout are separate pipes: either may arrive first.
      await expect.poll(() => /\n {2}feed .*\n/.test(p.err()) && /"msg":"ticktalk started"/.test(p.out()), { timeout: 60_000 }).toBe(true);
      const { ports } = JSON.parse(
        p
          .out()
          .split('\n')
          .find((l) => l.includes('ticktalk started'))!,
      );
      const http = `http://127.0.0.1:${ports.http}`;
      url.password = '***';
      expect(p.err()).toContain(
        [
          `  web page        ${http}/`,
          `  MQTT            mqtt://127.0.0.1:${ports.mqtt}`,
          `  MQTT WebSocket  ws://127.0.0.1:${ports.http}/mqtt`,
          `  metrics         ${http}/metrics`,
          '  cluster         memory: this process only (REDIS_URL unset)',
          `  database        PostgreSQL ${url.toString()}`,
          '  feed            none (FEED_SIM off, AMQP_URL unset)',
        ].join('\n'),
      );
      expect(p.err()).toMatch(/^ticktalk \S+ started, roles broker, bridge, ohlcv, web\n/);
      expect(p.err() + p.out()).not.toContain('pg-pass-789');
      // The URLs printed are the ones that answer.
      expect((await fetch(`${http}/`)).status).toBe(200);
      expect(await (await fetch(`${http}/metrics`)).text()).toMatch(/^# HELP ticktalk_/m);
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { reconnectPeriod: 0 });
      await client.endAsync();
      for (const line of p.out().trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();

      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await db.drop();
    }
  }, 90_000);

  it('serve runs until SIGTERM, disconnects its clients and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ticktalk-cli-'));
    try {
      const p = await serveStarted('broker,bridge', dataDir, 1);
      const chosen = p
        .out()
        .split('\n')
        .filter((l) => l.includes('"engines chosen"'));
      expect(chosen.map((l) => JSON.parse(l).engines)).toEqual([{ cluster: 'memory', database: 'pglite', feed: 'simulator' }]);
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${p.ports.mqtt}`, { reconnectPeriod: 0 });
      const tick = new Promise<string>((resolve) => client.once('message', (t) => resolve(t)));
      await client.subscribeAsync('ticks/+');
      expect(await tick).toMatch(/^ticks\//);
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));

      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      await closed;
      expect(p.out()).toMatch(/"msg":"stopped"/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('serve exits at once with 1 on a second SIGINT during the drain (Ctrl-C twice)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ticktalk-cli-'));
    const clients: mqtt.MqttClient[] = [];
    try {
      const p = await serveStarted('broker', dataDir, 30);
      // Five clients are closed over the 30 s one slice at a time (0, 6, … 24 s): the drain lasts.
      for (let i = 0; i < 5; i++) clients.push(await mqtt.connectAsync(`mqtt://127.0.0.1:${p.ports.mqtt}`, { reconnectPeriod: 0 }));

      p.child.kill('SIGINT');
      await expect.poll(() => /"msg":"draining MQTT clients"/.test(p.out()), { timeout: 10_000 }).toBe(true);
      expect(logLine(p.out(), 'draining MQTT clients'), 'a drain of five clients over 30 s is under way').toMatchObject({ clients: 5, seconds: 30 });
      const secondAt = Date.now();
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(1);
      expect(Date.now() - secondAt, 'exits at once, not when the 30 s drain ends').toBeLessThan(15_000);
      expect(logLine(p.out(), 'second signal: exiting now'), 'the log says it exits now').toMatchObject({ signal: 'SIGINT' });
      expect(p.out(), 'the drain was cut short').not.toContain('"step":"mqtt-drain"');
    } finally {
      for (const client of clients) client.end(true);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
