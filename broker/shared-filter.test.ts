import { describe, expect, it } from 'vitest';
import { matchingFilter, parseSharedFilter } from './shared-filter.js';

describe('shared subscription filters', () => {
  it('reads the group and the inner filter', () => {
    expect(parseSharedFilter('$share/workers/devices/bot/+')).toEqual({ group: 'workers', filter: 'devices/bot/+' });
    expect(parseSharedFilter('$share/g/#')).toEqual({ group: 'g', filter: '#' });
  });

  it('is undefined for an ordinary filter and null for a malformed shared one', () => {
    expect(parseSharedFilter('devices/bot/x')).toBeUndefined();
    expect(parseSharedFilter('$SYS/#')).toBeUndefined();
    for (const bad of ['$share/g', '$share//x', '$share/g/', '$share/g+/x', '$share/#/x']) expect(parseSharedFilter(bad)).toBeNull();
  });

  it('matches messages on the inner filter', () => {
    expect(matchingFilter('$share/g/a/+')).toBe('a/+');
    expect(matchingFilter('a/+')).toBe('a/+');
  });
});
