import { describe, expect, it } from 'vitest';
import type { Clock, RateLimiter } from '../rate-limiter.js';
import type { BucketLimits } from '../token-bucket.js';

/** One suite for every RateLimiter (memory, Redis), driven by a manual clock. */
export function describeRateLimiter(engine: string, make: (limits: BucketLimits, clock: Clock) => RateLimiter): void {
  describe(`RateLimiter in ${engine}`, () => {
    const setup = () => {
      let now = 1_000_000;
      const limiter = make({ ratePerS: 5, burst: 10 }, () => now);
      return { limiter, advance: (ms: number) => (now += ms), key: `u-${Math.random().toString(36).slice(2)}` };
    };
    const takeMany = async (limiter: RateLimiter, key: string, n: number) => {
      const out: boolean[] = [];
      for (let i = 0; i < n; i++) out.push((await limiter.take(key)).allowed);
      return out;
    };

    it('allows a burst, then refuses with the wait until the next token', async () => {
      const { limiter, key } = setup();
      expect(await takeMany(limiter, key, 10)).toEqual(Array(10).fill(true));
      expect(await limiter.take(key)).toEqual({ allowed: false, retryAfterMs: 200 });
    });

    it('refills at the rate, never beyond the burst', async () => {
      const { limiter, advance, key } = setup();
      await takeMany(limiter, key, 10);
      advance(400);
      expect(await takeMany(limiter, key, 3)).toEqual([true, true, false]);
      advance(60_000);
      expect(await takeMany(limiter, key, 11)).toEqual([...Array(10).fill(true), false]);
    });

    it('keeps users apart and ignores a clock that steps back', async () => {
      const { limiter, advance, key } = setup();
      await takeMany(limiter, key, 10);
      expect((await limiter.take(`${key}-other`)).allowed).toBe(true);
      advance(-5_000);
      expect((await limiter.take(key)).allowed).toBe(false);
    });
  });
}
