import { describe, expect, it } from 'vitest';
import { sessionFromToken } from './session.js';

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: unknown) => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.c2lnbmF0dXJl`;

describe('sessionFromToken', () => {
  const now = 1_763_769_600_000;

  it('reads who the token is for, with the contract defaults for name and roles', () => {
    expect(sessionFromToken(` ${jwt({ sub: 'alice', exp: now / 1000 + 60 })} `, now)).toEqual({
      token: jwt({ sub: 'alice', exp: now / 1000 + 60 }),
      user: { sub: 'alice', name: 'alice', roles: ['trader'] },
    });
    expect(sessionFromToken(jwt({ sub: 'b', name: 'Zoë ✓', roles: ['moderator'], exp: now / 1000 + 60 }), now).user).toEqual({
      sub: 'b',
      name: 'Zoë ✓',
      roles: ['moderator'],
    });
  });

  it('refuses an expired token or something that is not a ticktalk JWT', () => {
    expect(() => sessionFromToken(jwt({ sub: 'alice', exp: now / 1000 - 1 }), now)).toThrow('token expired');
    expect(() => sessionFromToken(jwt({ name: 'no sub', exp: now / 1000 + 60 }), now)).toThrow(/needs sub and exp/);
    expect(() => sessionFromToken('hello', now)).toThrow('not a JWT');
  });
});
