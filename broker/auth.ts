// Token verification lives in platform/auth.ts; the broker's hooks still name it here until the
// broker split (issue 13 items 1-3) imports it from there, then this line goes.
export type { TokenVerifier } from '../platform/auth.js';
