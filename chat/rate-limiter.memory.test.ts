import { MemoryRateLimiter } from './rate-limiter.js';
import { describeRateLimiter } from './testing/rate-limiter-suite.js';

describeRateLimiter('memory', (limits, clock) => new MemoryRateLimiter(limits, clock));
