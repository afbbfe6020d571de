import { describe, expect, it } from 'vitest';
import { isAllowed, type Access } from './acl.js';
import { OperatorAcl } from './acl-file.js';
import type { Identity, Principal } from '../protocol/identity.js';

const trader: Identity = { sub: 'alice', name: 'Alice', roles: ['trader'] };
const bob: Identity = { sub: 'bob', name: 'Bob', roles: ['trader'] };
const feed: Identity = { sub: 'mt5', name: 'MT5', roles: ['feed'] };
const moderator: Identity = { sub: 'mod', name: 'Mod', roles: ['moderator'] };
const admin: Identity = { sub: 'root', name: 'Root', roles: ['admin'] };
const anon: Principal = null;

const open = { allowAnonymousMarketData: true };
const closed = { allowAnonymousMarketData: false };

type Row = [who: Principal, access: Access, topic: string, allowed: boolean];

function check(rows: Row[], ctx = open) {
  for (const [who, access, topic, allowed] of rows) {
    it(`${who?.sub ?? 'anonymous'} ${access} ${topic} → ${allowed ? 'allowed' : 'denied'}`, () => {
      expect(isAllowed(who, access, topic, ctx)).toBe(allowed);
    });
  }
}

describe('ticks/{SYMBOL}: QoS 0, feed publishes, anyone subscribes', () => {
  check([
    [anon, 'subscribe', 'ticks/EURUSD', true],
    [anon, 'subscribe', 'ticks/+', true],
    [anon, 'subscribe', 'ticks/#', true],
    [trader, 'subscribe', 'ticks/XAUUSD', true],
    [trader, 'subscribe', 'ticks/EUR+USD', false],
    [trader, 'subscribe', 'ticks/EURUSD/extra', false],
    [trader, 'subscribe', 'ticks/bad symbol', false],
    [feed, 'publish', 'ticks/EURUSD', true],
    [feed, 'publish', 'ticks/EURUSD/x', false],
    [feed, 'publish', 'ticks/' + 'X'.repeat(33), false],
    [trader, 'publish', 'ticks/EURUSD', false],
    [admin, 'publish', 'ticks/EURUSD', false],
    [anon, 'publish', 'ticks/EURUSD', false],
  ]);
  it('anonymous market data can be switched off', () => {
    expect(isAllowed(anon, 'subscribe', 'ticks/EURUSD', closed)).toBe(false);
    expect(isAllowed(trader, 'subscribe', 'ticks/EURUSD', closed)).toBe(true);
  });
});

describe('candles/{SYMBOL}/{RES}: produced in the cluster only', () => {
  check([
    [anon, 'subscribe', 'candles/EURUSD/1', true],
    [anon, 'subscribe', 'candles/EURUSD/+', true],
    [anon, 'subscribe', 'candles/+/1D', true],
    [anon, 'subscribe', 'candles/#', true],
    [trader, 'subscribe', 'candles/EURUSD', false],
    [trader, 'subscribe', 'candles/EURUSD/1/x', false],
    [feed, 'publish', 'candles/EURUSD/1', false],
    [admin, 'publish', 'candles/EURUSD/1', false],
  ]);
  it('anonymous candles follow ALLOW_ANONYMOUS_MARKET_DATA', () => {
    expect(isAllowed(anon, 'subscribe', 'candles/EURUSD/1', closed)).toBe(false);
  });
});

describe('chat/rooms/{room}: QoS 1, authenticated', () => {
  check([
    [trader, 'subscribe', 'chat/rooms/lobby', true],
    [trader, 'publish', 'chat/rooms/lobby', true],
    [anon, 'subscribe', 'chat/rooms/lobby', false],
    [anon, 'publish', 'chat/rooms/lobby', false],
    [trader, 'subscribe', 'chat/rooms/+', false],
    [moderator, 'subscribe', 'chat/rooms/+', true],
    [moderator, 'publish', 'chat/rooms/lobby', true],
    [trader, 'subscribe', 'chat/rooms/Lobby', false],
    [trader, 'subscribe', 'chat/rooms/lobby/x', false],
    [trader, 'subscribe', 'chat/#', false],
    [admin, 'subscribe', 'chat/#', false],
  ]);
});

describe('chat/dm/{a}/{b}: only a and b, a < b', () => {
  check([
    [trader, 'subscribe', 'chat/dm/alice/bob', true],
    [bob, 'subscribe', 'chat/dm/alice/bob', true],
    [trader, 'publish', 'chat/dm/alice/bob', true],
    [bob, 'publish', 'chat/dm/alice/bob', true],
    [moderator, 'subscribe', 'chat/dm/alice/bob', false],
    [moderator, 'publish', 'chat/dm/alice/bob', false],
    [trader, 'publish', 'chat/dm/bob/alice', false],
    [trader, 'subscribe', 'chat/dm/bob/carol', false],
    [trader, 'subscribe', 'chat/dm/alice/alice', false],
    [trader, 'subscribe', 'chat/dm/alice/+', true],
    [trader, 'subscribe', 'chat/dm/+/alice', true],
    [trader, 'subscribe', 'chat/dm/bob/+', false],
    [trader, 'subscribe', 'chat/dm/+/+', false],
    [admin, 'subscribe', 'chat/dm/+/+', false],
    [anon, 'subscribe', 'chat/dm/alice/bob', false],
  ]);
});

describe('chat/typing and chat/presence', () => {
  check([
    [trader, 'publish', 'chat/typing/lobby', true],
    [trader, 'subscribe', 'chat/typing/lobby', true],
    [anon, 'publish', 'chat/typing/lobby', false],
    [anon, 'subscribe', 'chat/typing/lobby', false],
    [trader, 'subscribe', 'chat/presence/lobby', true],
    [trader, 'publish', 'chat/presence/lobby', false],
    [admin, 'publish', 'chat/presence/lobby', false],
    [anon, 'subscribe', 'chat/presence/lobby', false],
  ]);
});

describe('users/{sub}/errors: broker writes, the user reads', () => {
  check([
    [trader, 'subscribe', 'users/alice/errors', true],
    [trader, 'subscribe', 'users/alice/+', true],
    [trader, 'subscribe', 'users/alice/#', true],
    [trader, 'subscribe', 'users/bob/errors', false],
    [trader, 'subscribe', 'users/+/errors', false],
    [trader, 'publish', 'users/alice/errors', false],
    [anon, 'subscribe', 'users/alice/errors', false],
  ]);
});

describe('$SYS and wildcards across families', () => {
  check([
    [admin, 'subscribe', '$SYS/#', true],
    [trader, 'subscribe', '$SYS/#', false],
    [moderator, 'subscribe', '$SYS/broker/uptime', false],
    [admin, 'publish', '$SYS/x', false],
    [admin, 'subscribe', '#', false],
    [trader, 'subscribe', '#', false],
    [trader, 'subscribe', '+/EURUSD', false],
    [trader, 'subscribe', 'ticks/#/x', false],
    [trader, 'subscribe', '', false],
    [trader, 'publish', 'ticks/+', false],
    [trader, 'subscribe', 'anything/else', false],
    [trader, 'publish', 'anything/else', false],
  ]);
});

describe('operator rules (ACL_FILE)', () => {
  const operator = OperatorAcl.parse(
    [
      '# anonymous clients',
      'topic read public/#',
      'user alice',
      'topic readwrite desks/fx/#',
      'topic deny desks/fx/secret',
      'user bob',
      'topic write desks/fx/orders',
      'pattern readwrite devices/%u/#',
      'pattern read clients/%c',
    ].join('\n'),
  );
  const ctx = { ...open, operator, clientId: 'c1' };
  const rows: Row[] = [
    [anon, 'subscribe', 'public/news', true],
    [anon, 'publish', 'public/news', false],
    [trader, 'subscribe', 'public/news', false],
    [trader, 'subscribe', 'desks/fx/usd', true],
    // As in Mosquitto: a wildcard that also reaches a denied topic is granted (delivery withholds
    // that topic); a filter the deny covers whole is refused.
    [trader, 'subscribe', 'desks/fx/+', true],
    [trader, 'subscribe', 'desks/fx/#', true],
    [trader, 'publish', 'desks/fx/orders', true],
    [trader, 'subscribe', 'desks/fx/secret', false],
    [trader, 'subscribe', 'desks/#', false],
    [bob, 'publish', 'desks/fx/orders', true],
    [bob, 'subscribe', 'desks/fx/orders', false],
    [trader, 'publish', 'devices/alice/temp', true],
    [trader, 'publish', 'devices/bob/temp', false],
    [bob, 'subscribe', 'clients/c1', true],
    [bob, 'subscribe', 'clients/c2', false],
  ];
  for (const [who, access, topic, allowed] of rows) {
    it(`${who?.sub ?? 'anonymous'} ${access} ${topic} → ${allowed}`, () => {
      expect(isAllowed(who, access, topic, ctx)).toBe(allowed);
    });
  }

  it('refuses rules that would widen a built-in family', () => {
    for (const filter of ['chat/#', 'users/+/errors', 'ticks/EURUSD', 'candles/#', '$SYS/#', '#', '+/x']) {
      expect(() => OperatorAcl.parse(`user alice\ntopic readwrite ${filter}`)).toThrow(/built-in topic family/);
    }
  });

  it('built-in families ignore the operator file entirely', () => {
    const lax = OperatorAcl.parse('pattern readwrite %u/#');
    expect(isAllowed(trader, 'publish', 'users/alice/errors', { ...open, operator: lax })).toBe(false);
  });

  it('reports the line of a syntax error', () => {
    expect(() => OperatorAcl.parse('topic read a\nfrobnicate x')).toThrow(/line 2/);
  });
});
