import type { Redis } from 'ioredis';

export type RedisScript = (...keysThenArgs: (string | number)[]) => Promise<unknown>;

/**
 * A Lua script that Redis runs by its SHA1 (EVALSHA): the body crosses the wire again only when
 * the server does not know it yet (ioredis falls back to EVAL on NOSCRIPT), not on every call.
 */
export function redisScript(redis: Redis, name: string, numberOfKeys: number, lua: string): RedisScript {
  const commands = redis as unknown as Record<string, RedisScript | undefined>;
  if (typeof commands[name] !== 'function') redis.defineCommand(name, { numberOfKeys, lua });
  return (...keysThenArgs) => commands[name]!.call(redis, ...keysThenArgs);
}
