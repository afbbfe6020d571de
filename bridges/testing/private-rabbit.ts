import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../test/testing/free-port.js';

const run = promisify(execFile);
const RABBIT_BIN = '/usr/lib/rabbitmq/bin';

export interface PrivateRabbit {
  url: string;
  nodeName: string;
  /** Closes every listener and connection (RabbitMQ "goes away") without stopping the Erlang node. */
  stopApp(): Promise<void>;
  startApp(): Promise<void>;
  /** Halts the node and removes its files; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * A RabbitMQ node of the test's own: own node name, AMQP and distribution ports, data, log,
 * config, env file and Erlang cookie, no plugins. It never reads the system node's config
 * (`/etc/rabbitmq`) and is controlled only by its own name, so `rabbit@localhost` is never touched.
 * Starting takes a few seconds: start one per test file and toggle it with stopApp/startApp.
 */
export async function startPrivateRabbit(): Promise<PrivateRabbit> {
  const dir = await mkdtemp(join(tmpdir(), 'tt-rabbit-'));
  const node: NodeConfig = {
    dir,
    nodeName: `tt_${randomBytes(4).toString('hex')}@localhost`,
    amqpPort: await freePort(),
    distPort: await freePort(),
  };
  const env = await writeNodeFiles(node);
  const ctl = async (...args: string[]) => {
    await run(join(RABBIT_BIN, 'rabbitmqctl'), ['-n', node.nodeName, ...args], { env, timeout: 60_000 });
  };

  const server: ChildProcess = spawn(join(RABBIT_BIN, 'rabbitmq-server'), [], { env, cwd: dir, stdio: 'ignore', detached: true });
  const stop = stopOnce(server, dir, ctl);
  await awaitStartup(server, ctl, stop);
  return {
    url: `amqp://guest:guest@127.0.0.1:${node.amqpPort}`,
    nodeName: node.nodeName,
    stopApp: () => ctl('stop_app'),
    startApp: () => ctl('start_app'),
    stop,
  };
}

interface NodeConfig {
  /** Everything of the node: its home, data, log, config and env file. */
  dir: string;
  nodeName: string;
  amqpPort: number;
  distPort: number;
}

type Ctl = (...args: string[]) => Promise<void>;

/** The node's cookie, config and plugin files under `dir`; returns the environment that points RabbitMQ at them. */
async function writeNodeFiles({ dir, nodeName, amqpPort, distPort }: NodeConfig): Promise<NodeJS.ProcessEnv> {
  const home = join(dir, 'home');
  await mkdir(home);
  await writeFile(join(home, '.erlang.cookie'), randomBytes(16).toString('hex').toUpperCase());
  await chmod(join(home, '.erlang.cookie'), 0o400);
  await writeFile(join(dir, 'enabled_plugins'), '[].\n');
  await writeFile(join(dir, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${amqpPort}\n`);
  await writeFile(join(dir, 'env.conf'), '');
  return {
    ...process.env,
    HOME: home,
    RABBITMQ_CONF_ENV_FILE: join(dir, 'env.conf'),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_PID_FILE: join(dir, 'pid'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_FLAGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

/** Halts the node and removes its files; the second call does nothing. */
function stopOnce(server: ChildProcess, dir: string, ctl: Ctl): () => Promise<void> {
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    await ctl('stop').catch(() => {});
    // The node ignored or missed `stop`: end its process group (only ever the one we spawned).
    if (server.exitCode === null && server.pid !== undefined) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
}

/** `await_startup` fails fast until the node has registered its name, so poll it (bounded); a node that never starts is stopped. */
async function awaitStartup(server: ChildProcess, ctl: Ctl, stop: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ctl('await_startup', '--timeout', '60');
      return;
    } catch (err) {
      if (attempt >= 60 || server.exitCode !== null) {
        await stop();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
