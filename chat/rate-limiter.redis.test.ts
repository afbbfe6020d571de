import { afterAll } from 'vitest';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { RedisRateLimiter } from './redis-rate-limiter.js';
import { describeRateLimiter } from './testing/rate-limiter-suite.js';
import { deleteKeys } from './testing/redis.js';

const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `tt-test:${randomBytes(6).toString('hex')}:`;

describeRateLimiter('Redis', (limits, clock) => new RedisRateLimiter(redis, limits, prefix, clock));

afterAll(async () => {
  await deleteKeys(redis, `${prefix}*`);
  redis.disconnect();
});
