import { describe, expect, it } from 'vitest';
import { FeedProgress } from './feed-progress.js';

describe('FeedProgress', () => {
  it('prints sent, per-second rate and elapsed time, then a summary', () => {
    let now = 1_000;
    const out: string[] = [];
    const progress = new FeedProgress({ write: (t: string) => out.push(t) }, () => now);
    progress.sent = 120;
    now += 1_000;
    progress.report();
    progress.sent = 300;
    now += 1_000;
    progress.report();
    expect(out).toEqual(['sent 120  rate 120/s  elapsed 1s\n', 'sent 300  rate 180/s  elapsed 2s\n']);
    expect(progress.summary({ confirmed: 300, failed: 0 })).toBe('sent 300, confirmed 300, failed 0 in 2.0s (150/s)');
  });
});
