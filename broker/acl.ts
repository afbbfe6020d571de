import { hasRole, type Principal } from '../protocol/identity.js';
import { ROOM_PATTERN, SYMBOL_PATTERN, USER_PATTERN } from '../protocol/names.js';
import { isValidFilter } from './topic-filter.js';

/**
 * The access rules of docs/protocol.md#access-rules as a pure function. Built-in topic families are decided here
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

const BUILT_IN_ROOT_SET = new Set<string>(BUILT_IN_ROOTS);

/** Whether a topic name lies in a built-in family (decided here alone, never by ACL_FILE). */
export function inBuiltInFamily(topic: string): boolean {
  const slash = topic.indexOf('/');
  return BUILT_IN_ROOT_SET.has(slash === -1 ? topic : topic.slice(0, slash));
}

const OWN_USER_LEAVES = new Set(['errors', '+', '#']);

const isSymbol = (s: string | undefined) => s !== undefined && SYMBOL_PATTERN.test(s);
const isRoom = (s: string | undefined) => s !== undefined && ROOM_PATTERN.test(s);
const isUser = (s: string | undefined) => s !== undefined && USER_PATTERN.test(s);

/** Decides one topic family; `levels` is the topic split at `/`, already known to be well formed. */
type FamilyDecider = (who: Principal, access: Access, levels: string[], ctx: AclContext) => boolean;

// A Map, not an object literal: a root such as `constructor` must not find a prototype member.
const FAMILIES = new Map<string, FamilyDecider>([
  ['ticks', (who, access, levels, ctx) => (access === 'subscribe' ? marketFilter(who, levels, 2, ctx) : tickPublisher(who, levels))],
  // Candles are produced inside the cluster only; clients never publish them.
  ['candles', (who, access, levels, ctx) => access === 'subscribe' && marketFilter(who, levels, 3, ctx)],
  ['chat', (who, access, levels) => who !== null && chat(who.sub, hasRole(who, 'moderator') || hasRole(who, 'admin'), access, levels)],
  ['users', ownUserTopic],
  ['$SYS', (who, access) => access === 'subscribe' && hasRole(who, 'admin')],
  // A leading wildcard would span built-in families (and other users' topics).
  ['+', () => false],
  ['#', () => false],
]);

export function isAllowed(who: Principal, access: Access, topic: string, ctx: AclContext): boolean {
  if (!isWellFormed(access, topic)) return false;
  const levels = topic.split('/');
  const decide = FAMILIES.get(levels[0]);
  if (decide) return decide(who, access, levels, ctx);
  return ctx.operator?.allows(who, ctx.clientId ?? '', access, topic) ?? false;
}

/** A subscription takes a valid filter; a publication a non-empty topic without wildcards. */
function isWellFormed(access: Access, topic: string): boolean {
  return access === 'subscribe' ? isValidFilter(topic) : topic.length > 0 && !/[+#]/.test(topic);
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

/** Only the broker writes a user's errors; a user reads their own and no one else's. */
function ownUserTopic(who: Principal, access: Access, levels: string[]): boolean {
  return access === 'subscribe' && who !== null && levels.length === 3 && levels[1] === who.sub && OWN_USER_LEAVES.has(levels[2]);
}

/** A `chat/…` request from a signed-in caller. */
interface ChatRequest {
  sub: string;
  moderator: boolean;
  access: Access;
  levels: string[];
}

const CHAT_KINDS = new Map<string, (req: ChatRequest) => boolean>([
  ['rooms', chatRoom],
  ['typing', ({ levels }) => levels.length === 3 && isRoom(levels[2])],
  ['presence', ({ access, levels }) => access === 'subscribe' && levels.length === 3 && isRoom(levels[2])],
  ['dm', chatDm],
]);

function chat(sub: string, moderator: boolean, access: Access, levels: string[]): boolean {
  const decide = CHAT_KINDS.get(levels[1]);
  return decide !== undefined && decide({ sub, moderator, access, levels });
}

function chatRoom({ moderator, access, levels }: ChatRequest): boolean {
  if (levels.length !== 3) return false;
  const room = levels[2];
  if (room === '+') return access === 'subscribe' && moderator;
  return isRoom(room);
}

function chatDm({ sub, access, levels }: ChatRequest): boolean {
  if (levels.length !== 4) return false;
  const [, , a, b] = levels;
  if (access === 'subscribe' && (a === '+' || b === '+')) return ownDmFilter(sub, a, b);
  return isUser(a) && isUser(b) && a < b && (a === sub || b === sub);
}

/** Own DMs only: `chat/dm/{me}/+` and `chat/dm/+/{me}` match nothing but the caller's pairs. */
function ownDmFilter(sub: string, a: string, b: string): boolean {
  if (a === '+' && b === '+') return false;
  return a === '+' ? b === sub : a === sub;
}
