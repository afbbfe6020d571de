import type { Redis } from 'ioredis';
import type { Clock, RateLimiter, RateVerdict } from './rate-limiter.js';
import { idleMsUntilFull, type BucketLimits } from './token-bucket.js';
import { redisScript, type RedisScript } from '../platform/redis-script.js';

/**
 * token-bucket.ts in one atomic Lua script, so every broker node draws from the same bucket.
 * The caller's clock is passed in (a script reading TIME would be no more consistent across nodes,
 * and a backwards step is ignored just like in memory).
 */
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then tokens = burst; at = now end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return {allowed, wait}
`;

export class RedisRateLimiter implements RateLimiter {
  private readonly ttlMs: number;
  private readonly takeScript: RedisScript;

  constructor(
    redis: Redis,
    private readonly limits: BucketLimits,
    private readonly keyPrefix: string,
    private readonly now: Clock = Date.now,
  ) {
    // A bucket idle long enough to be full again is equivalent to no bucket: let Redis forget it.
    this.ttlMs = idleMsUntilFull(limits) + 1000;
    this.takeScript = redisScript(redis, 'ticktalkRateTake', 1, TAKE);
  }

  async take(key: string): Promise<RateVerdict> {
    const [allowed, wait] = (await this.takeScript(
      `${this.keyPrefix}rate:${key}`,
      this.limits.ratePerS,
      this.limits.burst,
      this.now(),
      this.ttlMs,
    )) as [number, number];
    return { allowed: allowed === 1, retryAfterMs: wait };
  }
}
