// What the bench measures on a broker process from outside: CPU time and RSS from /proc, and the
// brokers under test (ticktalk single or cluster, the system Mosquitto).
import { readFileSync, readdirSync } from 'node:fs';
import { cpuSeconds, startTicktalk } from '../ticks/broker.mjs';

/** Resident set size in bytes, 0 when unreadable. */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function pidNamed(name) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) return Number(entry);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return undefined;
}

/** Sum over the broker processes of a target (a cluster's nodes share the core). */
/** A process that is gone counts 0 (cpuSeconds says NaN). */
export const totalCpu = (pids) => pids.reduce((s, pid) => s + (cpuSeconds(pid) || 0), 0);
export const totalRss = (pids) => pids.reduce((s, pid) => s + rssBytes(pid), 0);

/**
 * ticktalk's broker role, one node or two over Redis, pinned to `cpu`; clients connect round-robin
 * to `ports`, the feed to the first. The per-address connect limit is the default (not raised).
 */
export async function startTicktalkTarget({ root, secret, cpu, cluster, redis, databaseUrl, env, profileDir }) {
  const common = { root, secret, cpu, profileDir, env: { DATABASE_URL: databaseUrl, MQTT_CONNECTS_PER_IP_PER_S: '20', ...env } };
  const nodes = cluster
    ? [
        await startTicktalk({ ...common, nodeId: 'md-a', env: { ...common.env, REDIS_URL: redis } }),
        await startTicktalk({ ...common, nodeId: 'md-b', env: { ...common.env, REDIS_URL: redis } }),
      ]
    : [await startTicktalk({ ...common, nodeId: 'md' })];
  // A bench that dies must not leave its brokers running.
  const orphans = () => nodes.forEach((n) => process.kill(n.pid, 'SIGKILL'));
  process.once('exit', orphans);
  return {
    name: cluster ? 'ticktalk (2 nodes)' : 'ticktalk',
    chat: true,
    ports: nodes.map((n) => n.ports.mqtt),
    pids: nodes.map((n) => n.pid),
    metrics: nodes.map((n) => `http://127.0.0.1:${n.ports.http}/metrics`),
    stop: async () => {
      process.off('exit', orphans);
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

export function mosquittoTarget() {
  const pid = pidNamed('mosquitto');
  return { name: 'Mosquitto', chat: false, ports: [1883], pids: pid ? [pid] : [], metrics: [], stop: async () => {} };
}

/** Sums of the named series over a target's nodes (their /metrics), e.g. ticktalk_ticks_conflated_total{reason="window"}. */
export async function scrape(urls, names) {
  const sums = Object.fromEntries(names.map((n) => [n, 0]));
  for (const url of urls) {
    const text = await (await globalThis.fetch(url)).text();
    for (const line of text.split('\n')) {
      const space = line.lastIndexOf(' ');
      const name = line.slice(0, space);
      if (name in sums) sums[name] += Number(line.slice(space + 1));
    }
  }
  return sums;
}
