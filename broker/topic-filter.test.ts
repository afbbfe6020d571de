import { describe, expect, it } from 'vitest';
import { covers, isValidFilter } from './topic-filter.js';

describe('topic filters', () => {
  it('matches topics the MQTT way', () => {
    expect(covers('a/+/c', 'a/b/c')).toBe(true);
    expect(covers('a/#', 'a')).toBe(true);
    expect(covers('a/#', 'a/b/c')).toBe(true);
    expect(covers('a/+', 'a/b/c')).toBe(false);
    expect(covers('#', '$SYS/x')).toBe(false);
    expect(covers('+/x', '$SYS/x')).toBe(false);
  });
  it('a filter covers only narrower filters', () => {
    expect(covers('a/#', 'a/+/c')).toBe(true);
    expect(covers('a/+', 'a/+')).toBe(true);
    expect(covers('a/b', 'a/+')).toBe(false);
    expect(covers('a/+', 'a/#')).toBe(false);
  });
  it('validates filters', () => {
    expect(isValidFilter('a/#')).toBe(true);
    expect(isValidFilter('a/#/b')).toBe(false);
    expect(isValidFilter('a/b+')).toBe(false);
    expect(isValidFilter('')).toBe(false);
  });
});
