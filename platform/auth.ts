import { SignJWT, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ROLES, USER_PATTERN } from '../protocol/names.js';
import type { Identity } from '../protocol/identity.js';
import { Hs256FastPath } from './hs256-fast-path.js';

/**
 * Token verification is an interface so an RS256/JWKS verifier (jose's createRemoteJWKSet) can be
 * dropped in beside the HS256 one without touching the broker or the HTTP routes.
 */
export interface TokenVerifier {
  verify(token: string): Promise<Identity>;
}

export interface TokenIssuer {
  issue(claims: { sub: string; name?: string; roles?: readonly string[] }, ttlSeconds: number): Promise<string>;
}

export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

const claimsSchema = z.object({
  sub: z.string().regex(USER_PATTERN, 'sub must match [A-Za-z0-9_.-]{1,64}'),
  // Stamped on every chat message and stored: PostgreSQL refuses U+0000 and lone surrogates.
  name: z
    .string()
    .min(1)
    .max(64)
    .refine((n) => !n.includes('\u0000'), 'name must not contain U+0000')
    .refine((n) => n.isWellFormed(), 'name must be well-formed Unicode')
    .optional(),
  roles: z.array(z.enum(ROLES)).optional(),
  exp: z.number(),
});

function toIdentity(payload: JWTPayload): Identity {
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) throw new AuthError(`invalid claims: ${parsed.error.issues[0]?.message}`);
  const { sub, name, roles } = parsed.data;
  return { sub, name: name ?? sub, roles: roles ?? ['trader'] };
}

export class Hs256Auth implements TokenVerifier, TokenIssuer {
  private readonly key: Uint8Array;
  private readonly fast: Hs256FastPath;

  constructor(secret: string) {
    this.key = new TextEncoder().encode(secret);
    this.fast = new Hs256FastPath(this.key);
  }

  /** A random secret for a process started without AUTH_JWT_SECRET (tokens die with it). */
  static ephemeral(): Hs256Auth {
    return new Hs256Auth(randomBytes(32).toString('base64url'));
  }

  async verify(token: string): Promise<Identity> {
    // Plain tokens (every one `issue` makes) are decided synchronously; jose decides the rest.
    const verdict = this.fast.check(token, Math.floor(Date.now() / 1000));
    if (verdict.kind === 'valid') return toIdentity(verdict.payload);
    if (verdict.kind === 'expired') throw new AuthError('token expired');
    if (verdict.kind === 'bad-signature') throw new AuthError('invalid token: signature verification failed');
    try {
      // Pinning the algorithm list is what refuses `alg: none` and algorithm-confusion tokens.
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
      return toIdentity(payload);
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AuthError('token expired');
      throw new AuthError(`invalid token: ${(err as Error).message}`);
    }
  }

  async issue(claims: { sub: string; name?: string; roles?: readonly string[] }, ttlSeconds: number): Promise<string> {
    const body: Record<string, unknown> = {};
    if (claims.name !== undefined) body.name = claims.name;
    if (claims.roles !== undefined) body.roles = [...claims.roles];
    return new SignJWT(body)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }
}

/** `1h`, `30m`, `7d`, `45s` or plain seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) throw new Error(`bad ttl "${text}": use e.g. 3600, 45s, 30m, 1h or 7d`);
  const n = Number(m[1]);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  if (n <= 0) throw new Error('ttl must be positive');
  return n * unit;
}
