import { ChatError } from './errors.js';
import { idleMsUntilFull, takeToken, type Bucket, type BucketLimits } from './token-bucket.js';

/** Chat messages per user: in memory on a single node, in Redis across a cluster. */
export interface RateVerdict {
  allowed: boolean;
  retryAfterMs: number;
}

export interface RateLimiter {
  /**
   * Takes one token for `key`; `allowed: false` carries the wait until the next one. A limiter
   * that needs no I/O answers at once rather than through a promise (one per chat message).
   */
  take(key: string): RateVerdict | Promise<RateVerdict>;
}

export type Clock = () => number;

/**
 * Takes a token for `key` or throws ChatError('rate_limited') carrying the wait. Returns nothing
 * when the limiter answered at once, so the hot path awaits only when there was I/O.
 */
export function admit(limiter: RateLimiter, key: string, what: string): void | Promise<void> {
  const taken = limiter.take(key);
  if (taken instanceof Promise) return taken.then((verdict) => refuseOver(verdict, what));
  refuseOver(taken, what);
}

function refuseOver({ allowed, retryAfterMs }: RateVerdict, what: string): void {
  if (!allowed) throw new ChatError('rate_limited', `too many ${what}: retry in ${retryAfterMs} ms`, retryAfterMs);
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    private readonly limits: BucketLimits,
    private readonly now: Clock = Date.now,
  ) {}

  take(key: string): RateVerdict {
    const now = this.now();
    this.sweep(now);
    const { allowed, retryAfterMs, bucket } = takeToken(this.buckets.get(key), now, this.limits);
    this.buckets.set(key, bucket);
    return { allowed, retryAfterMs };
  }

  /** Forgets full buckets now and then, so memory is bounded by recently active users. */
  private sweep(now: number): void {
    const idle = idleMsUntilFull(this.limits);
    if (now - this.lastSweep < idle) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= idle) this.buckets.delete(key);
  }
}
