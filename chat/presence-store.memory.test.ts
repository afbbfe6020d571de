import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { MemoryPresenceStore } from './presence-store.js';
import { describePresenceStore } from './testing/presence-suite.js';
import { Presence } from './presence.js';

describePresenceStore('memory', () => new MemoryPresenceStore());

describe('Presence', () => {
  it('announces online on join and offline when the last connection of a user leaves or drops', async () => {
    const sent: [string, unknown][] = [];
    const presence = new Presence(
      new MemoryPresenceStore(),
      async (topic, payload) => void sent.push([topic, JSON.parse(payload)]),
      { node: 'n1', heartbeatMs: 60_000 },
      pino({ level: 'silent' }),
    );
    await presence.start();
    const alice = { sub: 'alice', name: 'Alice', roles: ['trader'] as const };
    void presence.join('c1', alice, 'lobby');
    void presence.join('c2', alice, 'lobby');
    void presence.join('c1', alice, 'fx');
    await presence.leave('c1', 'lobby');
    await presence.leave('c1', 'never-joined');
    await presence.disconnect('c1');
    expect(await presence.members('lobby')).toEqual([{ user: 'alice', name: 'Alice' }]);
    await presence.disconnect('c2');
    await presence.stop();
    expect(sent).toEqual([
      ['chat/presence/lobby', { user: 'alice', name: 'Alice', state: 'online' }],
      ['chat/presence/lobby', { user: 'alice', name: 'Alice', state: 'online' }],
      ['chat/presence/fx', { user: 'alice', name: 'Alice', state: 'online' }],
      ['chat/presence/fx', { user: 'alice', name: 'Alice', state: 'offline' }],
      ['chat/presence/lobby', { user: 'alice', name: 'Alice', state: 'offline' }],
    ]);
  });
});
