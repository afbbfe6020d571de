import { describe, expect, it } from 'vitest';
import { RouteTable } from './route-table.js';

describe('RouteTable', () => {
  it('routes exact and wildcard filters once per subscriber and forgets them on removal', () => {
    const t = new RouteTable<string>('ticks', 100);
    expect(t.add('ticks/EURUSD', 'a')).toBe(true);
    expect(t.add('ticks/+', 'a')).toBe(true);
    expect(t.add('ticks/#', 'b')).toBe(true);
    expect(t.add('chat/rooms/x', 'c')).toBe(false);
    expect([...t.lookup('ticks/EURUSD')].sort()).toEqual(['a', 'b']);
    expect(t.lookup('ticks/GBPUSD')).toEqual(expect.arrayContaining(['a', 'b']));
    t.remove('ticks/+', 'a');
    expect(t.lookup('ticks/GBPUSD')).toEqual(['b']);
    expect([...t.lookup('ticks/EURUSD')].sort()).toEqual(['a', 'b']);
    t.removeSubscriber('a');
    t.removeSubscriber('b');
    expect(t.lookup('ticks/EURUSD')).toEqual([]);
    expect(t.subscriberCount).toBe(0);
  });

  it('keeps its topic cache bounded', () => {
    const t = new RouteTable<string>('ticks', 10);
    t.add('ticks/#', 'a');
    for (let i = 0; i < 1000; i++) expect(t.lookup(`ticks/S${i}`)).toEqual(['a']);
    expect(t.cachedTopics).toBe(10);
  });
});
