import { describe, expect, it } from 'vitest';
import type { PresenceStore } from '../presence-store.js';

/** One suite for every PresenceStore (memory, Redis). */
export function describePresenceStore(engine: string, make: () => PresenceStore): void {
  describe(`PresenceStore in ${engine}`, () => {
    const entry = (room: string, user: string, node: string, client: string) => ({ room, user, name: user.toUpperCase(), node, client });

    it('lists distinct users and reports the last connection leaving', async () => {
      const store = make();
      await store.heartbeat('n1');
      await store.heartbeat('n2');
      await store.add(entry('r1', 'bob', 'n1', 'c1'));
      await store.add(entry('r1', 'alice', 'n1', 'c2'));
      await store.add(entry('r1', 'alice', 'n2', 'c3'));
      await store.add(entry('r2', 'carol', 'n2', 'c4'));
      expect(await store.members('r1')).toEqual([
        { user: 'alice', name: 'ALICE' },
        { user: 'bob', name: 'BOB' },
      ]);
      expect(await store.remove('r1', 'n1', 'c2')).toEqual({ room: 'r1', user: 'alice', name: 'ALICE', last: false });
      expect(await store.remove('r1', 'n2', 'c3')).toEqual({ room: 'r1', user: 'alice', name: 'ALICE', last: true });
      expect(await store.remove('r1', 'n2', 'c3')).toBeNull();
      expect(await store.members('r1')).toEqual([{ user: 'bob', name: 'BOB' }]);
      expect(await store.members('empty')).toEqual([]);
    });

    it('clears one node and leaves the others', async () => {
      const store = make();
      await store.heartbeat('n1');
      await store.heartbeat('n2');
      await store.add(entry('r1', 'bob', 'n1', 'c1'));
      await store.add(entry('r2', 'bob', 'n1', 'c1'));
      await store.add(entry('r1', 'dave', 'n2', 'c9'));
      const gone = await store.clearNode('n1');
      expect(gone.sort((a, b) => a.room.localeCompare(b.room))).toEqual([
        { room: 'r1', user: 'bob', name: 'BOB', last: true },
        { room: 'r2', user: 'bob', name: 'BOB', last: true },
      ]);
      expect(await store.members('r1')).toEqual([{ user: 'dave', name: 'DAVE' }]);
      expect(await store.clearNode('n1')).toEqual([]);
    });
  });
}
