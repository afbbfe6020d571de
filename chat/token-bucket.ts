/**
 * Token bucket arithmetic, pure: `burst` tokens at most, refilled at `ratePerS`. The Redis limiter
 * runs the same steps in Lua (redis-rate-limiter.ts); keep the two in step.
 */
export interface Bucket {
  tokens: number;
  /** Unix ms of the last refill. */
  at: number;
}

export interface BucketLimits {
  ratePerS: number;
  burst: number;
}

export interface TakeResult {
  allowed: boolean;
  /** When refused: ms until a token is available. */
  retryAfterMs: number;
  bucket: Bucket;
}

export function takeToken(bucket: Bucket | undefined, now: number, limits: BucketLimits): TakeResult {
  let { tokens, at } = bucket ?? { tokens: limits.burst, at: now };
  // A clock that went backwards (another node's, or NTP) never refills twice.
  if (now > at) {
    tokens = Math.min(limits.burst, tokens + ((now - at) * limits.ratePerS) / 1000);
    at = now;
  }
  if (tokens >= 1) return { allowed: true, retryAfterMs: 0, bucket: { tokens: tokens - 1, at } };
  return { allowed: false, retryAfterMs: Math.ceil(((1 - tokens) * 1000) / limits.ratePerS), bucket: { tokens, at } };
}

/** After this long untouched a bucket is full again, so forgetting it changes nothing. */
export function idleMsUntilFull(limits: BucketLimits): number {
  return Math.ceil((limits.burst * 1000) / limits.ratePerS);
}
