/**
 * The metric names a PromQL expression reads. Not a parser: it removes what cannot be a metric
 * name (strings, label matchers, ranges, grouping label lists, Grafana variables), then keeps the
 * identifiers that are neither called (functions, aggregations) nor keywords.
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g;
/** An identifier not glued to a number, another identifier or a Grafana `$variable`. */
const IDENTIFIER = /(?<![\w:$.])([a-zA-Z_:][\w:]*)(\s*\()?/g;

export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^{}]*\}/g, '')
    .replace(/\[[^[\]]*\]/g, '')
    .replace(GROUPING, '');
  if (/[{}[\]]/.test(bare)) throw new Error(`unbalanced braces or brackets in ${expr}`);
  const names = new Set<string>();
  for (const [, name, call] of bare.matchAll(IDENTIFIER)) {
    if (!call && !KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

/** A histogram or summary is exported under its base name; queries read its series. */
export function baseMetricName(name: string): string {
  return name.replace(/_(bucket|sum|count)$/, '');
}
