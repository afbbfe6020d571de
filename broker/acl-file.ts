import type { Principal } from '../protocol/identity.js';
import { BUILT_IN_ROOTS, type Access, type OperatorRules } from './acl.js';
import { covers } from './topic-filter.js';

/**
 * Operator rules in Mosquitto `acl_file` syntax:
 *   topic [read|write|readwrite|deny] <filter>   (before any `user` line: anonymous clients)
 *   user <name>                                   (following `topic` lines apply to that user)
 *   pattern [read|write|readwrite|deny] <filter>  (every client; %u = user id, %c = client id)
 * As in Mosquitto, a subscription is granted when a read rule's filter covers the requested filter
 * and no `deny` rule covers it whole; a message is delivered when its topic passes the same check
 * (so `deny` on one topic withholds that topic from a wider subscription instead of refusing it). Rules naming a built-in family are refused at load, so the file can
 * never widen `chat/`, `users/`, `ticks/`, `candles/` or `$SYS`.
 */
type RuleAccess = 'read' | 'write' | 'readwrite' | 'deny';

interface Rule {
  access: RuleAccess;
  filter: string;
  /** `pattern` rules substitute %u/%c per client. */
  pattern: boolean;
}

export class AclFileError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'AclFileError';
  }
}

/** Built-in families, and leading wildcards that would span them. */
const PROTECTED_ROOTS = new Set<string>([...BUILT_IN_ROOTS, '+', '#']);

export class OperatorAcl implements OperatorRules {
  private constructor(
    private readonly anonymous: Rule[],
    private readonly perUser: Map<string, Rule[]>,
    private readonly patterns: Rule[],
  ) {}

  static parse(text: string): OperatorAcl {
    const anonymous: Rule[] = [];
    const perUser = new Map<string, Rule[]>();
    const patterns: Rule[] = [];
    let current: Rule[] = anonymous;
    text.split(/\r?\n/).forEach((raw, index) => {
      const lineNo = index + 1;
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const [keyword, ...rest] = line.split(/\s+/);
      if (keyword === 'user') {
        const name = rest.join(' ');
        if (!name) throw new AclFileError(lineNo, '`user` needs a name');
        current = perUser.get(name) ?? [];
        perUser.set(name, current);
        return;
      }
      if (keyword !== 'topic' && keyword !== 'pattern') throw new AclFileError(lineNo, `unknown keyword "${keyword}"`);
      const rule = parseRule(rest, keyword === 'pattern', lineNo);
      (keyword === 'pattern' ? patterns : current).push(rule);
    });
    return new OperatorAcl(anonymous, perUser, patterns);
  }

  allows(who: Principal, clientId: string, access: Access, topic: string): boolean {
    const rules = who === null ? this.anonymous : [...(this.perUser.get(who.sub) ?? []), ...this.patterns];
    let granted = false;
    for (const rule of rules) {
      const filter = rule.pattern ? substitute(rule.filter, who?.sub, clientId) : rule.filter;
      if (filter === undefined) continue;
      // A deny wins, as in Mosquitto, where it matches the topic or the whole subscription filter.
      // A wildcard that only partly reaches denied topics is granted: deliveries are re-checked
      // per topic (ClientAccess.mayReceive), which withholds the denied ones.
      if (rule.access === 'deny') {
        if (covers(filter, topic)) return false;
        continue;
      }
      if (!permits(rule.access, access)) continue;
      if (covers(filter, topic)) granted = true;
    }
    return granted;
  }
}

function parseRule(words: string[], pattern: boolean, lineNo: number): Rule {
  let access: RuleAccess = 'readwrite';
  let filterWords = words;
  if (words[0] === 'read' || words[0] === 'write' || words[0] === 'readwrite' || words[0] === 'deny') {
    access = words[0];
    filterWords = words.slice(1);
  }
  const filter = filterWords.join(' ');
  if (!filter) throw new AclFileError(lineNo, 'missing topic filter');
  const root = filter.split('/')[0];
  if (PROTECTED_ROOTS.has(root)) {
    throw new AclFileError(lineNo, `"${filter}" touches a built-in topic family; ACL_FILE only governs other topics`);
  }
  return { access, filter, pattern };
}

function permits(rule: RuleAccess, access: Access): boolean {
  if (rule === 'readwrite') return true;
  return access === 'subscribe' ? rule === 'read' : rule === 'write';
}

/** %u and %c may not stand for values containing wildcards or separators (Mosquitto does the same). */
function substitute(filter: string, user: string | undefined, clientId: string): string | undefined {
  if (filter.includes('%u') && (user === undefined || /[+#/]/.test(user))) return undefined;
  if (filter.includes('%c') && (clientId === '' || /[+#/]/.test(clientId))) return undefined;
  return filter.replaceAll('%u', user ?? '').replaceAll('%c', clientId);
}
