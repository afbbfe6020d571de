import { describe, expect, it } from 'vitest';
import { SignJWT, jwtVerify } from 'jose';
import { createHmac } from 'node:crypto';
import { Hs256Auth } from './auth.js';
import { Hs256FastPath } from './hs256-fast-path.js';

const secret = 'a-secret-of-sufficient-length';
const key = new TextEncoder().encode(secret);
const auth = new Hs256Auth(secret);
const fast = new Hs256FastPath(key);
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A token signed by hand, so headers and encodings jose's signer would not produce can be made. */
function handMade(header: string, payload: string, sign = (input: string) => createHmac('sha256', key).update(input).digest('base64url')): string {
  return `${header}.${payload}.${sign(`${header}.${payload}`)}`;
}

const plain = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);

/** jose alone, with Hs256Auth's options: accepted (with its sub) or refused. */
async function joseVerdict(token: string): Promise<string> {
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
    return `accepted ${String(payload.sub)}`;
  } catch {
    return 'refused';
  }
}

async function ourVerdict(token: string): Promise<string> {
  return auth.verify(token).then(
    (who) => `accepted ${who.sub}`,
    () => 'refused',
  );
}

describe('Hs256FastPath', () => {
  it('decides a plain token as jose does, and leaves every unusual one to jose', async () => {
    const valid = await plain({ sub: 'alice', exp: now() + 60, iat: now() });
    const sig = valid.split('.')[2];
    const cases: [name: string, token: string, kind: string][] = [
      ['valid', valid, 'valid'],
      ['expired', await plain({ sub: 'a', exp: now() - 1 }), 'expired'],
      ['expires this second', await plain({ sub: 'a', exp: now() }), 'expired'],
      [
        'wrong key',
        await new SignJWT({ sub: 'a', exp: now() + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('another-secret-0123')),
        'bad-signature',
      ],
      ['padded signature', `${valid}=`, 'unusual'],
      ['signature with a non-zero tail', `${valid.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`, 'bad-signature'],
      ['crit header', handMade(b64({ alg: 'HS256', crit: ['b64'], b64: true }), b64({ sub: 'a', exp: now() + 60 })), 'unusual'],
      ['nbf in the future', await plain({ sub: 'a', exp: now() + 60, nbf: now() + 30 }), 'unusual'],
      ['nbf in the past', await plain({ sub: 'a', exp: now() + 60, nbf: now() - 30 }), 'unusual'],
      ['iat not a number', handMade(b64({ alg: 'HS256' }), b64({ sub: 'a', exp: now() + 60, iat: 'x' })), 'unusual'],
      ['exp not a number', handMade(b64({ alg: 'HS256' }), b64({ sub: 'a', exp: String(now() + 60) })), 'unusual'],
      ['no sub', await plain({ exp: now() + 60 }), 'unusual'],
      ['array payload', handMade(b64({ alg: 'HS256' }), b64([1])), 'unusual'],
      ['payload not JSON', handMade(b64({ alg: 'HS256' }), b64('not json')), 'unusual'],
      ['HS512', await new SignJWT({ sub: 'a', exp: now() + 60 }).setProtectedHeader({ alg: 'HS512' }).sign(key), 'unusual'],
      ['alg none', handMade(b64({ alg: 'none' }), b64({ sub: 'a', exp: now() + 60 }), () => ''), 'unusual'],
      ['extra header fields', handMade(b64({ alg: 'HS256', kid: 'k1', typ: 'at+jwt' }), b64({ sub: 'bob', exp: now() + 60 })), 'valid'],
      ['two segments', valid.split('.').slice(0, 2).join('.'), 'unusual'],
      ['garbage', 'garbage', 'unusual'],
      ['empty', '', 'unusual'],
    ];
    for (const [name, token, kind] of cases) {
      expect(fast.check(token, now()).kind, name).toBe(kind);
      expect(await ourVerdict(token), name).toBe(await joseVerdict(token));
    }
  });

  it('refuses an expired plain token with the message jose gives', async () => {
    await expect(auth.verify(await plain({ sub: 'a', exp: now() - 5 }))).rejects.toThrow('token expired');
  });
});
