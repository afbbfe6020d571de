import { Redis } from 'ioredis';

/** Removes every key a test run created, by a glob naming only its own keys (unique prefix or run id). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/**
 * Removes a test run's client ids from the broker's Redis session store's set of session owners (`clients`):
 * its per-client keys go with deleteKeys, but the set would otherwise keep growing run after run.
 */
export async function forgetSessions(redis: Redis, runId: string): Promise<void> {
  const stale = (await redis.smembers('clients')).filter((id) => id.includes(runId));
  if (stale.length > 0) await redis.srem('clients', ...stale);
}

/** Removes everything a test run left in the Redis at `url`: its keys (by run id) and its sessions. */
export async function forgetRun(url: string, runId: string): Promise<void> {
  const redis = new Redis(url);
  try {
    await deleteKeys(redis, `*${runId}*`);
    await forgetSessions(redis, runId);
  } finally {
    redis.disconnect();
  }
}
