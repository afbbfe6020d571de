// Starts ticktalk's broker role in a child process on 127.0.0.1 with ephemeral ports.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

/** CPU seconds (user + system) a process has used so far, from /proc; NaN where unreadable. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** The pid of the system Mosquitto, or undefined. */
export function mosquittoPid() {
  try {
    return Number(execFileSync('pidof', ['mosquitto'], { encoding: 'utf8' }).trim().split(' ')[0]) || undefined;
  } catch {
    return undefined;
  }
}

/** `K=V,K2=V2` (a bench's `--broker-env`) as an environment object for startTicktalk. */
export function parseEnvList(list) {
  return Object.fromEntries(
    list
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=')),
  );
}

/** Pin this process (the load generator) to one core. */
export function pinSelf(cpu) {
  execFileSync('taskset', ['-pc', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

/**
 * `ticktalk serve --roles {roles}` (default: broker) pinned to `cpu` (when taskset exists), with a
 * CPU profile written to `profileDir` when given. Resolves once it logs "ticktalk started" with its
 * bound ports.
 */
export async function startTicktalk({ root, secret, cpu, env = {}, nodeId = 'bench', roles = 'broker', profileDir, nodeArgs = [], ipc = false }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticktalk-bench-'));
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const cmd = [...profile, ...nodeArgs, join(root, 'bin/ticktalk.js'), 'serve', '--roles', roles];
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
    // A loaded machine (PGlite opening beside other work) can take a while; a child that never starts is not left behind.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('ticktalk did not start within 120 s'));
    }, 120_000);
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
    pid: child.pid,
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
