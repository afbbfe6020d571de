// Starts ticktalk's broker role in a child process on 127.0.0.1 with ephemeral ports.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export function hasTaskset() {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pin this process (the load generator) to one core. */
export function pinSelf(cpu) {
  execFileSync('taskset', ['-pc', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

/**
 * `ticktalk serve --roles broker` pinned to `cpu` (when taskset exists). Resolves once it logs
 * "ticktalk started" with its bound ports.
 */
export async function startTicktalk({ root, secret, cpu, env = {}, nodeId = 'bench', nodeArgs = [], ipc = false }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticktalk-bench-'));
  const cmd = [...nodeArgs, join(root, 'bin/ticktalk.js'), 'serve', '--roles', 'broker'];
  const [file, args] = cpu === undefined ? [process.execPath, cmd] : ['taskset', ['-c', String(cpu), process.execPath, ...cmd]];
  const child = spawn(file, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit', ...(ipc ? ['ipc'] : [])],
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      MQTT_PORT: '0',
      HTTP_PORT: '0',
      DATA_DIR: dataDir,
      AUTH_JWT_SECRET: secret,
      FEED_SIM: 'off',
      LOG_LEVEL: 'info',
      NODE_ID: nodeId,
      MQTT_CONNECTS_PER_IP_PER_S: '100000',
      SHUTDOWN_DRAIN_S: '0',
      ...env,
    },
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ticktalk did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`ticktalk exited with ${code} before starting`)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        return;
      }
      if (rec.level >= 50) console.error(`  [${nodeId}] ${rec.msg}`);
      if (rec.msg === 'ticktalk started') {
        clearTimeout(timer);
        resolve(rec.ports);
      }
    });
  });
  return {
    ports,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
