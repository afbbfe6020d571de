/** MQTT 5 shared subscriptions (§4.8.2): `$share/{ShareName}/{filter}` (pure). */

const PREFIX = '$share/';

export interface SharedFilter {
  /** The share name: members of one group split the messages between them. */
  group: string;
  /** The filter the group subscribes to, and the one the ACL decides. */
  filter: string;
}

/**
 * The group and inner filter of a `$share/` filter; undefined for an ordinary filter, null for a
 * malformed shared one (empty or wildcard share name, no filter: MQTT-4.8.2-1, -2).
 */
export function parseSharedFilter(topic: string): SharedFilter | null | undefined {
  if (!topic.startsWith(PREFIX)) return undefined;
  const rest = topic.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const group = rest.slice(0, slash);
  const filter = rest.slice(slash + 1);
  if (group.includes('+') || group.includes('#') || filter.length === 0) return null;
  return { group, filter };
}

/** The filter messages are matched against: the inner one of a shared filter, else the filter itself. */
export function matchingFilter(topic: string): string {
  return parseSharedFilter(topic)?.filter ?? topic;
}
