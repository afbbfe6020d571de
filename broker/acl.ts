import { hasRole, type Principal } from '../protocol/identity.js';
import { ROOM_PATTERN, SYMBOL_PATTERN, USER_PATTERN } from '../protocol/names.js';
import { isValidFilter } from './topic-filter.js';

/**
 * The access rules of CONTRACT §3 as a pure function. Built-in topic families are decided here
 * alone; operator rules (ACL_FILE) only ever apply to topic areas outside them.
 */
export type Access = 'subscribe' | 'publish';

/** The operator's own rules (ACL_FILE), consulted for topics outside the built-in families. */
export interface OperatorRules {
  allows(who: Principal, clientId: string, access: Access, topic: string): boolean;
}

export interface AclContext {
  allowAnonymousMarketData: boolean;
  operator?: OperatorRules;
  clientId?: string;
}

/** First topic levels whose rules live here alone; the operator's ACL_FILE may not touch them. */
export const BUILT_IN_ROOTS = ['ticks', 'candles', 'chat', 'users', '$SYS'] as const;

/** Whether `topic` lies in a built-in family (a root of BUILT_IN_ROOTS). */
export function isBuiltInTopic(topic: string): boolean {
  const root = topic.split('/', 1)[0];
  return (BUILT_IN_ROOTS as readonly string[]).includes(root);
}

const OWN_USER_LEAVES = new Set(['errors', '+', '#']);

const isSymbol = (s: string | undefined) => s !== undefined && SYMBOL_PATTERN.test(s);
const isRoom = (s: string | undefined) => s !== undefined && ROOM_PATTERN.test(s);
const isUser = (s: string | undefined) => s !== undefined && USER_PATTERN.test(s);

export function isAllowed(who: Principal, access: Access, topic: string, ctx: AclContext): boolean {
  if (access === 'subscribe' ? !isValidFilter(topic) : /[+#]/.test(topic) || topic.length === 0) return false;
  const levels = topic.split('/');
  const root = levels[0];
  switch (root) {
    case 'ticks':
      return access === 'subscribe' ? marketFilter(who, levels, 2, ctx) : tickPublisher(who, levels);
    case 'candles':
      // Candles are produced inside the cluster only; clients never publish them.
      return access === 'subscribe' && marketFilter(who, levels, 3, ctx);
    case 'chat':
      return who !== null && chat(who.sub, hasRole(who, 'moderator') || hasRole(who, 'admin'), access, levels);
    case 'users':
      // Only the broker writes a user's errors; a user reads their own and no one else's.
      return (
        access === 'subscribe' && who !== null && levels.length === 3 && levels[1] === who.sub && OWN_USER_LEAVES.has(levels[2])
      );
    case '$SYS':
      return access === 'subscribe' && hasRole(who, 'admin');
    case '+':
    case '#':
      // A leading wildcard would span built-in families (and other users' topics).
      return false;
    default:
      return ctx.operator?.allows(who, ctx.clientId ?? '', access, topic) ?? false;
  }
}

/** `ticks/{SYMBOL}` or `candles/{SYMBOL}/{RES}`, with `+`/`#` allowed below the root. */
function marketFilter(who: Principal, levels: string[], depth: number, ctx: AclContext): boolean {
  if (who === null && !ctx.allowAnonymousMarketData) return false;
  if (levels.length > depth) return false;
  for (let k = 1; k < levels.length; k++) {
    const level = levels[k];
    if (level === '#') return true;
    if (level === '+') continue;
    if (k === 1 ? !isSymbol(level) : level.length === 0 || level.length > 3) return false;
  }
  return levels.length === depth;
}

function tickPublisher(who: Principal, levels: string[]): boolean {
  return hasRole(who, 'feed') && levels.length === 2 && isSymbol(levels[1]);
}

function chat(sub: string, moderator: boolean, access: Access, levels: string[]): boolean {
  const [, kind, a, b] = levels;
  switch (kind) {
    case 'rooms':
      if (levels.length !== 3) return false;
      if (a === '+') return access === 'subscribe' && moderator;
      return isRoom(a);
    case 'typing':
      return levels.length === 3 && isRoom(a);
    case 'presence':
      return access === 'subscribe' && levels.length === 3 && isRoom(a);
    case 'dm': {
      if (levels.length !== 4) return false;
      if (access === 'subscribe') {
        // Own DMs only: `chat/dm/{me}/+` and `chat/dm/+/{me}` match nothing but the caller's pairs.
        if (a === '+' && b === '+') return false;
        if (a === '+') return b === sub;
        if (b === '+') return a === sub;
      }
      return isUser(a) && isUser(b) && a < b && (a === sub || b === sub);
    }
    default:
      return false;
  }
}
