import { describe, expect, it } from 'vitest';
import { filterMatches } from './connection.js';
import { conversationKey, conversationTopic, dmPeer, messagesPath } from './conversation.js';

describe('conversations', () => {
  it('names a DM by its ordered pair, whichever side asks', () => {
    const toBob = { kind: 'dm', other: 'bob', name: 'Bob' } as const;
    const toAlice = { kind: 'dm', other: 'alice', name: 'Alice' } as const;
    expect(conversationKey(toBob, 'alice')).toBe('dm:alice:bob');
    expect(conversationKey(toAlice, 'bob')).toBe('dm:alice:bob');
    expect(conversationTopic(toAlice, 'bob')).toBe('chat/dm/alice/bob');
    expect(messagesPath(toBob)).toBe('/api/dm/bob/messages');
    expect(conversationKey({ kind: 'room', room: 'lobby' }, 'alice')).toBe('lobby');
    expect(messagesPath({ kind: 'room', room: 'lobby' })).toBe('/api/rooms/lobby/messages');
  });

  it('finds the other member of a DM key, and nothing for rooms or other pairs', () => {
    expect(dmPeer('dm:alice:bob', 'alice')).toBe('bob');
    expect(dmPeer('dm:alice:bob', 'bob')).toBe('alice');
    expect(dmPeer('dm:alice:bob', 'carol')).toBeUndefined();
    expect(dmPeer('lobby', 'alice')).toBeUndefined();
  });
});

describe('filterMatches (MQTT-4.7)', () => {
  it.each([
    ['chat/dm/alice/+', 'chat/dm/alice/bob', true],
    ['chat/dm/+/bob', 'chat/dm/alice/bob', true],
    ['chat/dm/+/bob', 'chat/dm/bob/carol', false],
    ['chat/dm/alice/+', 'chat/dm/alice/bob/x', false],
    ['chat/#', 'chat/rooms/lobby', true],
    ['ticks/EURUSD', 'ticks/EURUSD', true],
    ['ticks/EURUSD', 'ticks/EURUSDX', false],
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(filterMatches(filter, topic)).toBe(expected);
  });
});
