/** MQTT topic-filter algebra used by the ACL (pure). */

/**
 * True when every topic matched by `inner` is also matched by `outer`: `outer` grants at least
 * what `inner` asks for. With a plain topic as `inner` this is ordinary matching (`$`-topics never
 * match a leading wildcard).
 */
export function covers(outer: string, inner: string): boolean {
  const o = outer.split('/');
  const i = inner.split('/');
  if ((o[0] === '+' || o[0] === '#') && i[0]?.startsWith('$')) return false;
  for (let k = 0; k < o.length; k++) {
    const ol = o[k];
    if (ol === '#') return true;
    const il = i[k];
    if (il === undefined) return false;
    if (il === '#') return false;
    if (ol === '+') continue;
    if (il === '+' || il !== ol) return false;
  }
  return o.length === i.length;
}

export function isValidFilter(filter: string): boolean {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every((l, k) => (l.includes('#') ? l === '#' && k === levels.length - 1 : !l.includes('+') || l === '+'));
}
