import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { Hs256Auth } from '../broker/auth.js';

/** The built CLI, as an operator runs it (`npm test` builds first through `pretest`). */
const BIN = fileURLToPath(new URL('../bin/ticktalk.js', import.meta.url));
const SECRET = 'cli-test-secret-0123456789';

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env },
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

describe('ticktalk CLI', () => {
  it('help lists every command with its usage and, aligned below, what it does', async () => {
    const p = run(['help']);
    expect(await p.exited).toBe(0);
    const lines = p.out().split('\n');
    for (const name of ['serve', 'token', 'feed-sim', 'replay', 'config']) {
      const at = lines.findIndex((l) => l.startsWith(`  ticktalk ${name} `));
      expect(at, name).toBeGreaterThan(0);
      expect(lines[at + 1], name).toMatch(/^ {6}\S/);
    }
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
    const noSecret = run(['token', '--sub', 'alice']);
    expect(await noSecret.exited).toBe(2);
    expect(noSecret.err()).toMatch(/AUTH_JWT_SECRET is not set/);
  });

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

  it('serve runs until SIGTERM, disconnects its clients and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ticktalk-cli-'));
    try {
      const p = run(['serve', '--roles', 'broker,bridge'], {
        HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_PORT: '0', DATA_DIR: dataDir, SHUTDOWN_DRAIN_S: '1', AUTH_JWT_SECRET: SECRET,
      });
      children.push(p.child);
      await expect.poll(() => /"msg":"ticktalk started"/.test(p.out()), { timeout: 20_000 }).toBe(true);
      const started = JSON.parse(p.out().split('\n').find((l) => l.includes('ticktalk started'))!);
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${started.ports.mqtt}`, { reconnectPeriod: 0 });
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
  });
});
