import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Hs256Auth } from '../../platform/auth.js';

/** docs/protocol.md#command-line, through the built CLI as an operator runs it (`npm test` builds first). */

const BIN = fileURLToPath(new URL('../../bin/ticktalk.js', import.meta.url));
const SECRET = 'contract-cli-secret-0123456789';

async function ticktalk(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'silent', ...env },
      // Generous: on a loaded machine loading the CLI alone has taken over 15 s.
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('protocol: command line', { timeout: 90_000 }, () => {
  it('token --sub --name --roles --ttl prints a JWT signed with AUTH_JWT_SECRET', async () => {
    const run = await ticktalk(['token', '--sub', 'alice', '--name', 'Alice', '--roles', 'trader,moderator', '--ttl', '1h'], {
      AUTH_JWT_SECRET: SECRET,
    });
    expect(run.code).toBe(0);
    await expect(new Hs256Auth(SECRET).verify(run.stdout.trim())).resolves.toEqual({ sub: 'alice', name: 'Alice', roles: ['trader', 'moderator'] });
  });

  it.each([
    ['MQTT_PORT', 'abc'],
    ['HTTP_PORT', '99999'],
    ['CANDLE_PRICE', 'close'],
    ['FEED_TIMEZONE', 'Mars/Olympus'],
    ['AMQP_URL', 'http://127.0.0.1'],
    ['SYMBOLS', 'EUR/USD'],
  ])('serve with a bad %s stops with a message naming the variable', async (name, value) => {
    const run = await ticktalk(['serve'], { MQTT_PORT: '0', HTTP_PORT: '0', DATA_DIR: '/nonexistent-contract-dir', [name]: value });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(name);
  });

  it('config --check names every bad variable at once, exit 2, without their secret values', async () => {
    const run = await ticktalk(['config', '--check'], {
      MQTT_PORT: 'abc',
      CANDLE_PRICE: 'close',
      AUTH_JWT_SECRET: 'too-short',
      AMQP_URL: 'http://feed:amqp-secret@127.0.0.1',
      ACL_FILE: '/nonexistent-contract-acl',
    });
    expect(run.code).toBe(2);
    for (const name of ['MQTT_PORT', 'CANDLE_PRICE', 'AUTH_JWT_SECRET', 'AMQP_URL', 'ACL_FILE']) {
      expect(run.stderr).toMatch(new RegExp(`^ticktalk: invalid configuration: ${name}: `, 'm'));
    }
    expect(run.stderr + run.stdout).not.toMatch(/too-short|amqp-secret/);
  });

  it('config --check on a good environment exits 0', async () => {
    const run = await ticktalk(['config', '--check'], { AUTH_JWT_SECRET: SECRET });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^configuration OK/);
    expect(run.stdout).not.toContain(SECRET);
  });

  it('token without --sub says --sub is required, exit 2', async () => {
    const run = await ticktalk(['token'], { AUTH_JWT_SECRET: SECRET });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--sub is required/);
  });
});
