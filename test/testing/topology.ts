import type { IClientOptions, MqttClient } from 'mqtt';
import { expect } from 'vitest';
import type { RoleName } from '../../cli/app.js';
import type { Logger } from '../../platform/logger.js';
import { startTestApp, type TestApp } from './app.js';
import { freshDatabase } from './postgres.js';
import { privateRedis } from './private-redis.js';

/** One node in memory, or two nodes sharing Redis and one PostgreSQL database (production's shape). */
export type TopologyKind = 'single' | 'cluster';

/** For `describe.each(TOPOLOGIES)`: every end-to-end suite runs on both. */
export const TOPOLOGIES: readonly TopologyKind[] = ['single', 'cluster'];

/**
 * A TestApp to the tests that use one (`ctx`, `node`, `ports`, `httpUrl` are node 0's), whose
 * `connect()` spreads clients over the nodes: within one test, the first client goes to the last
 * node, the next to the one before, and so on round. So a test's subscriber (usually connected
 * first) and its publisher sit on different nodes, and a publish through `ctx` crosses Redis to the
 * first client. A single node is the same with one entry in `nodes`.
 */
export interface Topology extends TestApp {
  kind: TopologyKind;
  nodes: TestApp[];
  /** Node `index` modulo the node count: `at(1)` is "the other node" in a cluster, the node itself alone. */
  at(index: number): TestApp;
}

export interface NodeSetup {
  env?: Record<string, string>;
  roles?: RoleName[];
}

export interface TopologyOptions {
  /** Per-node additions to `env` and a node's own roles (one feed simulator in a cluster, say). */
  perNode?: (index: number) => NodeSetup;
  log?: Logger;
  /** One node on a fresh PostgreSQL database too, instead of PGlite (a cluster always gets one). */
  postgres?: boolean;
}

/**
 * Starts the topology. A cluster gets a Redis server of its own (Redis pub/sub ignores the database
 * number, so a shared server would let another run's publishes on the same topic names reach these
 * nodes) and, unless `env` names one, a fresh PostgreSQL database; `stop()` removes both.
 */
export async function startTopology(
  kind: TopologyKind,
  env: Record<string, string> = {},
  roles: RoleName[] = ['broker'],
  options: TopologyOptions = {},
): Promise<Topology> {
  const setup = (index: number): [Record<string, string>, RoleName[]] => {
    const own = options.perNode?.(index) ?? {};
    return [{ ...env, ...own.env }, own.roles ?? roles];
  };
  if (kind === 'single') {
    if (!options.postgres || env.DATABASE_URL) return topologyOf(kind, [await startTestApp(...setup(0), options.log)], []);
    const db = await freshDatabase('topo');
    const node = await startTestApp(...withDatabase(setup(0), db.url), options.log).catch(async (err: unknown) => {
      await db.drop();
      throw err;
    });
    return topologyOf(kind, [node], [() => db.drop()]);
  }

  const [redis, db] = await Promise.all([privateRedis(), env.DATABASE_URL ? undefined : freshDatabase('topo')]);
  const shared = { REDIS_URL: redis.url, ...(db ? { DATABASE_URL: db.url } : {}) };
  const started = await Promise.allSettled(
    [0, 1].map((index) => {
      const [nodeEnv, nodeRoles] = setup(index);
      return startTestApp({ NODE_ID: `node-${index}`, ...nodeEnv, ...shared }, nodeRoles, options.log);
    }),
  );
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const cleanups = [() => redis.dispose(), ...(db ? [() => db.drop()] : [])];
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopAll(nodes, cleanups);
    throw failed.reason;
  }
  return topologyOf(kind, nodes, cleanups);
}

function withDatabase([env, roles]: [Record<string, string>, RoleName[]], url: string): [Record<string, string>, RoleName[]] {
  return [{ ...env, DATABASE_URL: url }, roles];
}

function topologyOf(kind: TopologyKind, nodes: TestApp[], cleanups: (() => Promise<void>)[]): Topology {
  const at = (index: number) => nodes[index % nodes.length];
  const spread = connectionsByTest();
  return {
    ...nodes[0],
    kind,
    nodes,
    at,
    connect: (opts?: IClientOptions, onMessage?: (topic: string, payload: Buffer) => void): Promise<MqttClient> =>
      at(nodes.length - 1 - (spread() % nodes.length)).connect(opts, onMessage),
    stop: () => stopAll(nodes, cleanups),
  };
}

/** A counter that starts again at 0 in every test (by the running test's name), outside tests one count. */
function connectionsByTest(): () => number {
  let test: string | undefined;
  let count = 0;
  return () => {
    const current = expect.getState().currentTestName;
    if (current !== test) [test, count] = [current, 0];
    return count++;
  };
}

async function stopAll(nodes: TestApp[], cleanups: (() => Promise<void>)[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()));
  for (const cleanup of cleanups) await cleanup();
}
