import { MemoryRateLimiter } from './rate-limiter.js';
import { describeRateLimiter } from './rate-limiter.suite.js';

describeRateLimiter('memory', (limits, clock) => new MemoryRateLimiter(limits, clock));
