import { describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import { AuthError, Hs256Auth, parseTtl } from './auth.js';

const secret = 'a-secret-of-sufficient-length';
const auth = new Hs256Auth(secret);
const key = new TextEncoder().encode(secret);

describe('Hs256Auth', () => {
  it('round-trips an issued token into an identity', async () => {
    const token = await auth.issue({ sub: 'alice', name: 'Alice', roles: ['trader', 'moderator'] }, 60);
    await expect(auth.verify(token)).resolves.toEqual({ sub: 'alice', name: 'Alice', roles: ['trader', 'moderator'] });
  });

  it('defaults name to sub and roles to trader', async () => {
    const token = await auth.issue({ sub: 'bob' }, 60);
    await expect(auth.verify(token)).resolves.toEqual({ sub: 'bob', name: 'bob', roles: ['trader'] });
  });

  it('refuses expired, unsigned, wrongly signed and malformed tokens', async () => {
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('a').setExpirationTime(1).sign(key);
    const none = new UnsecuredJWT({ sub: 'a', exp: Math.floor(Date.now() / 1000) + 60 }).encode();
    const other = await new Hs256Auth('another-secret-of-length').issue({ sub: 'a' }, 60);
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('a').sign(key);
    const badSub = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('a/b').setExpirationTime('1h').sign(key);
    const badRole = await new SignJWT({ roles: ['god'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('a').setExpirationTime('1h').sign(key);
    const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('a').setExpirationTime('1h').sign(key);
    // A name the chat store could not hold: stamped on every message, it would fail whole batches.
    const loneSurrogate = await new SignJWT({ name: 'a\ud800' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('a')
      .setExpirationTime('1h')
      .sign(key);
    const nul = await new SignJWT({ name: 'a\u0000' }).setProtectedHeader({ alg: 'HS256' }).setSubject('a').setExpirationTime('1h').sign(key);
    await expect(auth.verify(expired)).rejects.toThrow(/expired/);
    for (const token of [none, other, noExp, badSub, badRole, hs512, loneSurrogate, nul, 'garbage', '']) {
      await expect(auth.verify(token)).rejects.toBeInstanceOf(AuthError);
    }
  });
});

describe('parseTtl', () => {
  it('reads units', () => {
    expect(parseTtl('45')).toBe(45);
    expect(parseTtl('30m')).toBe(1800);
    expect(parseTtl('1h')).toBe(3600);
    expect(parseTtl('7d')).toBe(604800);
    expect(() => parseTtl('1w')).toThrow(/bad ttl/);
    expect(() => parseTtl('0')).toThrow(/positive/);
  });
});
