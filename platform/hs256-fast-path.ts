import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * What the fast path made of a token. `unusual`: anything it does not decide (a `crit` header, a
 * non-canonical encoding, a claim jose checks beyond `exp`), left to jose's full verification.
 */
export type FastVerdict = { kind: 'valid'; payload: Record<string, unknown> } | { kind: 'expired' } | { kind: 'bad-signature' } | { kind: 'unusual' };

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const SHA256_BYTES = 32;

/**
 * HS256 verification of the plain tokens ticktalk issues, with node:crypto's synchronous HMAC
 * (microseconds) instead of jose's WebCrypto, whose async jobs on the libuv thread pool cost
 * ~0.3-2 ms each under load and serialised a reconnect storm's CONNECTs. It decides only what jose
 * would decide the same way for the same token (jwtVerify with algorithms ['HS256'], required
 * `exp` and `sub`, no clock tolerance): a canonical compact JWS with `alg: HS256` and no `crit`,
 * a JSON object payload with a numeric `exp`, a `sub`, no `nbf` and a numeric `iat` if any.
 * Everything else is `unusual` and goes to jose.
 */
export class Hs256FastPath {
  private readonly key: KeyObject;

  constructor(secret: Uint8Array) {
    this.key = createSecretKey(secret);
  }

  check(token: string, nowSeconds: number): FastVerdict {
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) return { kind: 'unusual' };
    const [header, payload, signature] = parts;
    const given = canonical(signature);
    const head = canonical(header);
    if (given === undefined || given.length !== SHA256_BYTES || head === undefined || !isPlainHs256Header(head)) return { kind: 'unusual' };
    const expected = createHmac('sha256', this.key).update(`${header}.${payload}`).digest();
    if (!timingSafeEqual(expected, given)) return { kind: 'bad-signature' };
    const claims = canonical(payload);
    const parsed = claims === undefined ? undefined : parseObject(claims);
    if (parsed === undefined || !hasPlainClaims(parsed)) return { kind: 'unusual' };
    return (parsed.exp as number) <= nowSeconds ? { kind: 'expired' } : { kind: 'valid', payload: parsed };
  }
}

/** The bytes of a base64url segment when it is the canonical (unpadded, zero-tail) encoding of them. */
function canonical(segment: string): Buffer | undefined {
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

function parseObject(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isPlainHs256Header(bytes: Buffer): boolean {
  const header = parseObject(bytes);
  return header !== undefined && header.alg === 'HS256' && !('crit' in header);
}

function hasPlainClaims(claims: Record<string, unknown>): boolean {
  return (
    typeof claims.exp === 'number' &&
    claims.sub !== undefined &&
    claims.nbf === undefined &&
    (claims.iat === undefined || typeof claims.iat === 'number')
  );
}
