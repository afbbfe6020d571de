import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ChatError } from './errors.js';
import type { ChatStore, NewMessage, OutboxRow } from './store.js';

/**
 * One suite for every ChatStore engine (PostgreSQL, PGlite), in the spirit of Aedes' shared
 * persistence test suite: a new engine passes these or it is not done.
 */
export function describeChatStore(engine: string, open: () => Promise<{ store: ChatStore; close: () => Promise<void> }>): void {
  describe(`ChatStore on ${engine}`, () => {
    let store: ChatStore;
    let close: () => Promise<void>;
    let clock = 1_763_769_600_000;

    beforeAll(async () => {
      ({ store, close } = await open());
    });
    afterAll(async () => {
      await close();
    });

    const msg = (room: string, user: string, text: string, ref?: string): NewMessage => ({
      room,
      id: randomUUID(),
      user,
      name: user.toUpperCase(),
      text,
      ts: ++clock,
      ...(ref === undefined ? {} : { ref }),
    });

    it('numbers each conversation from 1 without gaps, also within one batch', async () => {
      const out = await store.append([msg('seq-a', 'alice', 'one'), msg('seq-b', 'bob', 'x'), msg('seq-a', 'bob', 'two')]);
      expect(out.map((o) => o.status)).toEqual(['stored', 'stored', 'stored']);
      const seqs = out.map((o) => (o.status === 'stored' ? [o.message.room, o.message.seq] : null));
      expect(seqs).toEqual([
        ['seq-a', 1],
        ['seq-b', 1],
        ['seq-a', 2],
      ]);
      const [third] = await store.append([msg('seq-a', 'carol', 'three')]);
      expect(third).toMatchObject({ status: 'stored', message: { seq: 3, user: 'carol', name: 'CAROL', text: 'three' } });
    });

    it('stays gap-free under concurrent batches', async () => {
      await Promise.all(Array.from({ length: 8 }, (_, i) => store.append([msg('race', `u${i}`, 'a'), msg('race', `u${i}`, 'b')])));
      const page = await store.history('race', { limit: 200 });
      expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    });

    it('stores the same ref from the same user once and returns the original', async () => {
      const [first] = await store.append([msg('refs', 'alice', 'hello', 'r-1')]);
      const again = await store.append([msg('refs', 'alice', 'hello again', 'r-1'), msg('refs', 'bob', 'same ref, other user', 'r-1')]);
      expect(first).toMatchObject({ status: 'stored', message: { seq: 1 } });
      expect(again[0]).toEqual({ status: 'duplicate', message: (first as { message: unknown }).message });
      expect(again[1]).toMatchObject({ status: 'stored', message: { seq: 2, user: 'bob' } });
      const inOneBatch = await store.append([msg('refs', 'carol', 'x', 'r-2'), msg('refs', 'carol', 'x', 'r-2')]);
      expect(inOneBatch.map((o) => o.status)).toEqual(['stored', 'duplicate']);
      expect((await store.history('refs', { limit: 10 })).messages).toHaveLength(3);
    });

    it('pages history ascending, newest first when going back, and recovers a gap by seq', async () => {
      await store.append(Array.from({ length: 50 }, (_, i) => msg('hist', 'alice', `m${i + 1}`)));
      const newest = await store.history('hist', { limit: 10 });
      expect(newest.messages.map((m) => m.seq)).toEqual([41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
      expect(newest.has_more).toBe(true);
      const older = await store.history('hist', { before: 5, limit: 10 });
      expect(older).toMatchObject({ has_more: false });
      expect(older.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
      const gap = await store.history('hist', { after: 41, before: 45, limit: 200 });
      expect(gap.messages.map((m) => m.text)).toEqual(['m42', 'm43', 'm44']);
      expect(gap.has_more).toBe(false);
      const forward = await store.history('hist', { after: 45, limit: 3 });
      expect(forward.messages.map((m) => m.seq)).toEqual([46, 47, 48]);
      expect(forward.has_more).toBe(true);
      expect(await store.history('nowhere', { limit: 10 })).toEqual({ messages: [], has_more: false });
    });

    it('lists rooms with their last seq, but not DMs', async () => {
      await store.append([msg('dm:alice:bob', 'alice', 'psst')]);
      const { rooms } = await store.rooms({ limit: 200 });
      expect(rooms).toContainEqual({ room: 'hist', last_seq: 50 });
      expect(rooms).toContainEqual({ room: 'lobby', last_seq: 0 });
      expect(rooms.some((r) => r.room.startsWith('dm:'))).toBe(false);
    });

    it('pages rooms by name after a cursor, and finds them by prefix (_ and - are plain characters)', async () => {
      await store.append(['pg-a', 'pg-b', 'pg-c', 'pg_x', 'pgq'].map((room) => msg(room, 'alice', 'hi')));
      const first = await store.rooms({ limit: 2, prefix: 'pg-' });
      expect(first).toEqual({
        rooms: [
          { room: 'pg-a', last_seq: 1 },
          { room: 'pg-b', last_seq: 1 },
        ],
        has_more: true,
      });
      expect(await store.rooms({ limit: 2, prefix: 'pg-', after: 'pg-b' })).toEqual({ rooms: [{ room: 'pg-c', last_seq: 1 }], has_more: false });
      expect((await store.rooms({ limit: 10, prefix: 'pg_' })).rooms.map((r) => r.room)).toEqual(['pg_x']);
      expect(await store.rooms({ limit: 10, prefix: 'nothing-here' })).toEqual({ rooms: [], has_more: false });
    });

    it('edits and tombstones messages after the check passes, and refuses when it throws', async () => {
      await store.append([msg('mod', 'alice', 'typo'), msg('mod', 'bob', 'rude')]);
      const edit = await store.edit('mod', 1, () => {}, 'fixed', 42);
      expect(edit).toEqual({ type: 'edit', room: 'mod', seq: 1, text: 'fixed', edited_ts: 42 });
      const del = await store.delete('mod', 2, () => {}, 'mia', 43);
      expect(del).toEqual({ type: 'delete', room: 'mod', seq: 2, by: 'mia' });
      const refuse = () => {
        throw new ChatError('forbidden', 'no');
      };
      await expect(store.edit('mod', 1, refuse, 'hacked', 44)).rejects.toMatchObject({ code: 'forbidden' });
      await expect(store.delete('mod', 99, () => {}, 'mia', 44)).rejects.toMatchObject({ code: 'not_found' });
      const { messages } = await store.history('mod', { limit: 10 });
      expect(messages[0]).toMatchObject({ seq: 1, text: 'fixed', edited_ts: 42 });
      expect(messages[1]).toMatchObject({ seq: 2, text: '', deleted: true, deleted_by: 'mia' });
    });

    it('refuses messages from a muted user until the mute ends, without using a seq', async () => {
      const until = clock + 1000;
      expect(await store.mute('mutes', 'troll', until, 'mia')).toEqual({ type: 'mute', room: 'mutes', user: 'troll', until, by: 'mia' });
      const out = await store.append([msg('mutes', 'troll', 'spam'), msg('mutes', 'alice', 'hi')]);
      expect(out[0]).toEqual({ status: 'muted', until });
      expect(out[1]).toMatchObject({ status: 'stored', message: { seq: 1 } });
      clock = until;
      expect((await store.append([msg('mutes', 'troll', 'sorry')]))[0]).toMatchObject({ status: 'stored', message: { seq: 2 } });
    });

    it('numbers a mixed batch around its muted, already stored and repeated messages', async () => {
      const until = clock + 10_000;
      await store.mute('mix-a', 'troll', until, 'mia');
      const [original] = await store.append([msg('mix-a', 'alice', 'first', 'r-1')]);
      const out = await store.append([
        msg('mix-a', 'troll', 'spam'),
        msg('mix-b', 'bob', 'b1', 'r-9'),
        msg('mix-a', 'alice', 'first again', 'r-1'),
        msg('mix-a', 'carol', 'a2'),
        msg('mix-b', 'bob', 'b1 again', 'r-9'),
        msg('mix-a', 'troll', 'more spam', 'r-2'),
        msg('mix-b', 'dave', 'b2'),
        msg('mix-a', 'alice', 'a3', 'r-3'),
      ]);
      expect(out.map((o) => [o.status, 'message' in o ? `${o.message.room}#${o.message.seq}:${o.message.text}` : o.until])).toEqual([
        ['muted', until],
        ['stored', 'mix-b#1:b1'],
        ['duplicate', 'mix-a#1:first'],
        ['stored', 'mix-a#2:a2'],
        ['duplicate', 'mix-b#1:b1'],
        ['muted', until],
        ['stored', 'mix-b#2:b2'],
        ['stored', 'mix-a#3:a3'],
      ]);
      expect(out[2]).toEqual({ status: 'duplicate', message: (original as { message: unknown }).message });
      expect((await store.history('mix-a', { limit: 10 })).messages.map((m) => [m.seq, m.user, m.text])).toEqual([
        [1, 'alice', 'first'],
        [2, 'carol', 'a2'],
        [3, 'alice', 'a3'],
      ]);
    });

    it('queues every stored event in the outbox, relays in order and deletes what was sent', async () => {
      let drained = 0;
      while ((await store.relayOutbox('relay-a', 1000, async () => {})) > 0) drained++;
      expect(drained).toBeGreaterThan(0);
      await store.append([msg('outbox', 'alice', 'hi'), msg('dm:alice:bob', 'bob', 'yo')]);
      await store.edit('outbox', 1, () => {}, 'hello', 1);
      await store.delete('outbox', 1, () => {}, 'alice', 2);
      await store.mute('outbox', 'bob', clock + 10, 'mia');
      const sent: OutboxRow[] = [];
      await expect(store.relayOutbox('relay-a', 100, async () => Promise.reject(new Error('broker down')))).rejects.toThrow('broker down');
      expect(await store.relayOutbox('relay-b', 100, async (rows) => void sent.push(...rows))).toBe(0);
      expect(sent).toEqual([]);
      expect(await store.relayOutbox('relay-a', 100, async (rows) => void sent.push(...rows))).toBe(5);
      expect(sent.map((r) => r.routingKey)).toEqual([
        'room.outbox.message',
        'dm.alice.bob.message',
        'room.outbox.edit',
        'room.outbox.delete',
        'room.outbox.mute',
      ]);
      expect(JSON.parse(sent[0].body)).toMatchObject({ type: 'message', room: 'outbox', seq: 1, text: 'hi' });
      expect(await store.relayOutbox('relay-a', 100, async () => {})).toBe(0);
      await store.append([msg('outbox', 'alice', 'after hand-over')]);
      await store.releaseOutbox('relay-a');
      expect(await store.relayOutbox('relay-b', 100, async () => {})).toBe(1);
      expect(await store.relayOutbox('relay-a', 100, async () => {})).toBe(0);
    });
  });
}
