import * as z from 'zod/mini';
import { apiJson } from './api.js';

/** Who the page is signed in as: the token it sends and what the token says about the user. */
export interface Session {
  token: string;
  user: { sub: string; name: string; roles: string[] };
}

const userSchema = z.object({ sub: z.string(), name: z.string(), roles: z.array(z.string()) });
const sessionSchema = z.object({ token: z.string().check(z.minLength(1)), user: userSchema });

/** Guest sign-in: `POST /api/session {"name"}`. */
export function guestSignIn(name: string): Promise<Session> {
  return apiJson('/api/session', sessionSchema, { method: 'POST', body: { name } });
}

const claimsSchema = z.object({
  sub: z.string().check(z.minLength(1)),
  name: z.optional(z.string()),
  roles: z.optional(z.array(z.string())),
  exp: z.number(),
});

/**
 * A session from a pasted token. Only the broker and the API can verify the signature; here the
 * payload is read to show the user's name and to drop a token that has already expired.
 */
export function sessionFromToken(token: string, nowMs = Date.now()): Session {
  const part = token.trim().split('.')[1];
  if (!part) throw new Error('not a JWT');
  let claims: z.infer<typeof claimsSchema>;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    claims = claimsSchema.parse(JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))));
  } catch {
    throw new Error('not a ticktalk token (needs sub and exp)');
  }
  if (claims.exp * 1000 <= nowMs) throw new Error('token expired');
  return { token: token.trim(), user: { sub: claims.sub, name: claims.name ?? claims.sub, roles: claims.roles ?? ['trader'] } };
}

const KEY = 'ticktalk.session';

/** The saved session of this browser, if its token is still valid. */
export function savedSession(storage: Storage = localStorage): Session | undefined {
  const token = storage.getItem(KEY);
  if (!token) return undefined;
  try {
    return sessionFromToken(token);
  } catch {
    storage.removeItem(KEY);
    return undefined;
  }
}

export function saveSession(session: Session | undefined, storage: Storage = localStorage): void {
  if (session) storage.setItem(KEY, session.token);
  else storage.removeItem(KEY);
}
