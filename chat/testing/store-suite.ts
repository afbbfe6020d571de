import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ChatError } from '../errors.js';
import type { ChatStore, NewMessage, OutboxRow } from '../store.js';

type OpenStore = () => Promise<{ store: ChatStore; close: () => Promise<void> }>;

/**
 * One suite for every ChatStore engine (PostgreSQL, PGlite), in the spirit of Aedes' shared
 * persistence test suite: a new engine passes these or it is not done. The tests run in order on one
 * store, each group adding its own rooms.
 */
export function describeChatStore(engine: string, open: OpenStore): void {
  describe(`ChatStore on ${engine}`, () => {
    const ctx = storeUnderTest(open);
    describeChatStoreWrites(ctx);
    describeChatStoreReads(ctx);
    describeChatStoreModeration(ctx);
    describeChatStoreOutbox(ctx);
  });
}

/** What the tests on one engine share: the store opened before them and the clock their messages advance. */
class StoreUnderTest {
  store!: ChatStore;
  clock = 1_763_769_600_000;

  msg = (room: string, user: string, text: string, ref?: string): NewMessage => ({
    room,
    id: randomUUID(),
    user,
    name: user.toUpperCase(),
    text,
    ts: ++this.clock,
    ...(ref === undefined ? {} : { ref }),
  });
}

function storeUnderTest(open: OpenStore): StoreUnderTest {
  const ctx = new StoreUnderTest();
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ store: ctx.store, close } = await open());
  });
  afterAll(async () => {
    await close();
  });
  return ctx;
}

/** Appends: numbering per conversation, under concurrency, and the ref that makes a retry safe. */
function describeChatStoreWrites(ctx: StoreUnderTest): void {
  const { msg } = ctx;
  it('numbers each conversation from 1 without gaps, also within one batch', async () => {
    const out = await ctx.store.append([msg('seq-a', 'alice', 'one'), msg('seq-b', 'bob', 'x'), msg('seq-a', 'bob', 'two')]);
    expect(out.map((o) => o.status)).toEqual(['stored', 'stored', 'stored']);
    const seqs = out.map((o) => (o.status === 'stored' ? [o.message.room, o.message.seq] : null));
    expect(seqs).toEqual([
      ['seq-a', 1],
      ['seq-b', 1],
      ['seq-a', 2],
    ]);
    const [third] = await ctx.store.append([msg('seq-a', 'carol', 'three')]);
    expect(third).toMatchObject({ status: 'stored', message: { seq: 3, user: 'carol', name: 'CAROL', text: 'three' } });
  });

  it('stays gap-free under concurrent batches', async () => {
    await Promise.all(Array.from({ length: 8 }, (_, i) => ctx.store.append([msg('race', `u${i}`, 'a'), msg('race', `u${i}`, 'b')])));
    const page = await ctx.store.history('race', { limit: 200 });
    expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it('stores the same ref from the same user once and returns the original', async () => {
    const [first] = await ctx.store.append([msg('refs', 'alice', 'hello', 'r-1')]);
    const again = await ctx.store.append([msg('refs', 'alice', 'hello again', 'r-1'), msg('refs', 'bob', 'same ref, other user', 'r-1')]);
    expect(first).toMatchObject({ status: 'stored', message: { seq: 1 } });
    expect(again[0]).toEqual({ status: 'duplicate', message: (first as { message: unknown }).message });
    expect(again[1]).toMatchObject({ status: 'stored', message: { seq: 2, user: 'bob' } });
    const inOneBatch = await ctx.store.append([msg('refs', 'carol', 'x', 'r-2'), msg('refs', 'carol', 'x', 'r-2')]);
    expect(inOneBatch.map((o) => o.status)).toEqual(['stored', 'duplicate']);
    expect((await ctx.store.history('refs', { limit: 10 })).messages).toHaveLength(3);
  });
}

/** History pages and the room list. */
function describeChatStoreReads(ctx: StoreUnderTest): void {
  const { msg } = ctx;
  it('pages history ascending, newest first when going back, and recovers a gap by seq', async () => {
    await ctx.store.append(Array.from({ length: 50 }, (_, i) => msg('hist', 'alice', `m${i + 1}`)));
    const newest = await ctx.store.history('hist', { limit: 10 });
    expect(newest.messages.map((m) => m.seq)).toEqual([41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
    expect(newest.has_more).toBe(true);
    const older = await ctx.store.history('hist', { before: 5, limit: 10 });
    expect(older).toMatchObject({ has_more: false });
    expect(older.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    const gap = await ctx.store.history('hist', { after: 41, before: 45, limit: 200 });
    expect(gap.messages.map((m) => m.text)).toEqual(['m42', 'm43', 'm44']);
    expect(gap.has_more).toBe(false);
    const forward = await ctx.store.history('hist', { after: 45, limit: 3 });
    expect(forward.messages.map((m) => m.seq)).toEqual([46, 47, 48]);
    expect(forward.has_more).toBe(true);
    expect(await ctx.store.history('nowhere', { limit: 10 })).toEqual({ messages: [], has_more: false });
  });

  it('lists rooms with their last seq, but not DMs', async () => {
    await ctx.store.append([msg('dm:alice:bob', 'alice', 'psst')]);
    const { rooms } = await ctx.store.rooms({ limit: 200 });
    expect(rooms).toContainEqual({ room: 'hist', last_seq: 50 });
    expect(rooms).toContainEqual({ room: 'lobby', last_seq: 0 });
    expect(rooms.some((r) => r.room.startsWith('dm:'))).toBe(false);
  });

  it('pages rooms by name after a cursor, and finds them by prefix (_ and - are plain characters)', async () => {
    await ctx.store.append(['pg-a', 'pg-b', 'pg-c', 'pg_x', 'pgq'].map((room) => msg(room, 'alice', 'hi')));
    const first = await ctx.store.rooms({ limit: 2, prefix: 'pg-' });
    expect(first).toEqual({
      rooms: [
        { room: 'pg-a', last_seq: 1 },
        { room: 'pg-b', last_seq: 1 },
      ],
      has_more: true,
    });
    expect(await ctx.store.rooms({ limit: 2, prefix: 'pg-', after: 'pg-b' })).toEqual({ rooms: [{ room: 'pg-c', last_seq: 1 }], has_more: false });
    expect((await ctx.store.rooms({ limit: 10, prefix: 'pg_' })).rooms.map((r) => r.room)).toEqual(['pg_x']);
    expect(await ctx.store.rooms({ limit: 10, prefix: 'nothing-here' })).toEqual({ rooms: [], has_more: false });
  });
}

/** Edits, tombstones and mutes, alone and inside a mixed batch. */
function describeChatStoreModeration(ctx: StoreUnderTest): void {
  const { msg } = ctx;
  it('edits and tombstones messages after the check passes, and refuses when it throws', async () => {
    await ctx.store.append([msg('mod', 'alice', 'typo'), msg('mod', 'bob', 'rude')]);
    const edit = await ctx.store.edit('mod', 1, () => {}, 'fixed', 42);
    expect(edit).toEqual({ type: 'edit', room: 'mod', seq: 1, text: 'fixed', edited_ts: 42 });
    const del = await ctx.store.delete('mod', 2, () => {}, 'mia', 43);
    expect(del).toEqual({ type: 'delete', room: 'mod', seq: 2, by: 'mia' });
    const refuse = () => {
      throw new ChatError('forbidden', 'no');
    };
    await expect(ctx.store.edit('mod', 1, refuse, 'hacked', 44)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(ctx.store.delete('mod', 99, () => {}, 'mia', 44)).rejects.toMatchObject({ code: 'not_found' });
    const { messages } = await ctx.store.history('mod', { limit: 10 });
    expect(messages[0]).toMatchObject({ seq: 1, text: 'fixed', edited_ts: 42 });
    expect(messages[1]).toMatchObject({ seq: 2, text: '', deleted: true, deleted_by: 'mia' });
  });

  it('refuses messages from a muted user until the mute ends, without using a seq', async () => {
    const until = ctx.clock + 1000;
    expect(await ctx.store.mute('mutes', 'troll', until, 'mia')).toEqual({ type: 'mute', room: 'mutes', user: 'troll', until, by: 'mia' });
    const out = await ctx.store.append([msg('mutes', 'troll', 'spam'), msg('mutes', 'alice', 'hi')]);
    expect(out[0]).toEqual({ status: 'muted', until });
    expect(out[1]).toMatchObject({ status: 'stored', message: { seq: 1 } });
    ctx.clock = until;
    expect((await ctx.store.append([msg('mutes', 'troll', 'sorry')]))[0]).toMatchObject({ status: 'stored', message: { seq: 2 } });
  });

  it('numbers a mixed batch around its muted, already stored and repeated messages', async () => {
    const until = ctx.clock + 10_000;
    await ctx.store.mute('mix-a', 'troll', until, 'mia');
    const [original] = await ctx.store.append([msg('mix-a', 'alice', 'first', 'r-1')]);
    const out = await ctx.store.append([
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
    expect((await ctx.store.history('mix-a', { limit: 10 })).messages.map((m) => [m.seq, m.user, m.text])).toEqual([
      [1, 'alice', 'first'],
      [2, 'carol', 'a2'],
      [3, 'alice', 'a3'],
    ]);
  });
}

/** The outbox of stored events and its relay lease. */
function describeChatStoreOutbox(ctx: StoreUnderTest): void {
  const { msg } = ctx;
  it('queues every stored event in the outbox, relays in order and deletes what was sent', async () => {
    let drained = 0;
    while ((await ctx.store.relayOutbox('relay-a', 1000, async () => {})) > 0) drained++;
    expect(drained).toBeGreaterThan(0);
    await ctx.store.append([msg('outbox', 'alice', 'hi'), msg('dm:alice:bob', 'bob', 'yo')]);
    await ctx.store.edit('outbox', 1, () => {}, 'hello', 1);
    await ctx.store.delete('outbox', 1, () => {}, 'alice', 2);
    await ctx.store.mute('outbox', 'bob', ctx.clock + 10, 'mia');
    const sent: OutboxRow[] = [];
    await expect(ctx.store.relayOutbox('relay-a', 100, async () => Promise.reject(new Error('broker down')))).rejects.toThrow('broker down');
    expect(await ctx.store.relayOutbox('relay-b', 100, async (rows) => void sent.push(...rows))).toBe(0);
    expect(sent).toEqual([]);
    expect(await ctx.store.relayOutbox('relay-a', 100, async (rows) => void sent.push(...rows))).toBe(5);
    expect(sent.map((r) => r.routingKey)).toEqual([
      'room.outbox.message',
      'dm.alice.bob.message',
      'room.outbox.edit',
      'room.outbox.delete',
      'room.outbox.mute',
    ]);
    expect(JSON.parse(sent[0].body)).toMatchObject({ type: 'message', room: 'outbox', seq: 1, text: 'hi' });
    expect(await ctx.store.relayOutbox('relay-a', 100, async () => {})).toBe(0);
    await ctx.store.append([msg('outbox', 'alice', 'after hand-over')]);
    await ctx.store.releaseOutbox('relay-a');
    expect(await ctx.store.relayOutbox('relay-b', 100, async () => {})).toBe(1);
    expect(await ctx.store.relayOutbox('relay-a', 100, async () => {})).toBe(0);
  });
}
