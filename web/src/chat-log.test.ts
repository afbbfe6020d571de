import { describe, expect, it } from 'vitest';
import type { ChatMessage } from './chat-events.js';
import { ChatLog } from './chat-log.js';

const msg = (seq: number, over: Partial<ChatMessage> = {}): ChatMessage => ({
  type: 'message',
  id: `m${seq}`,
  room: 'lobby',
  seq,
  user: 'bob',
  name: 'Bob',
  text: `hello ${seq}`,
  ts: 1_000 + seq,
  ...over,
});

const seqs = (log: ChatLog) => log.entries().map((e) => e.seq);

describe('ChatLog', () => {
  it('holds each message once however often it is delivered, in seq order', () => {
    const log = new ChatLog('alice');
    log.loadLatest({ messages: [msg(3), msg(4)], has_more: true });
    expect(log.receive(msg(5))).toBe(false);
    expect(log.receive(msg(5))).toBe(false);
    log.loadNewer({ messages: [msg(4), msg(5)] });
    expect(seqs(log)).toEqual([3, 4, 5]);
    expect([log.lastSeq(), log.oldestSeq(), log.hasOlder]).toEqual([5, 3, true]);
  });

  it('reports a gap when a live message skips seqs, and closes it from the fetched page', () => {
    const log = new ChatLog('alice');
    log.loadLatest({ messages: [msg(1), msg(2)], has_more: false });
    expect(log.receive(msg(5))).toBe(true);
    expect(log.lastSeq()).toBe(2);
    log.loadNewer({ messages: [msg(3), msg(4), msg(5)] });
    expect(log.lastSeq()).toBe(5);
    expect(seqs(log)).toEqual([1, 2, 3, 4, 5]);
  });

  it('treats an empty room as starting at seq 1', () => {
    const log = new ChatLog('alice');
    log.loadLatest({ messages: [], has_more: false });
    expect(log.receive(msg(1))).toBe(false);
    expect(log.receive(msg(3))).toBe(true);
  });

  it('confirms our own message by its ref and keeps its place key', () => {
    const log = new ChatLog('alice');
    log.loadLatest({ messages: [msg(1)], has_more: false });
    log.addPending('c-1', 'hi', 'Alice', 5_000);
    expect(log.entries().map((e) => [e.key, e.status])).toEqual([
      ['seq:1', 'confirmed'],
      ['ref:c-1', 'pending'],
    ]);
    // Another user's message with the same ref is not ours.
    log.receive(msg(2, { ref: 'c-1' }));
    expect(log.entries().at(-1)!.status).toBe('pending');
    log.receive(msg(3, { user: 'alice', name: 'Alice', text: 'hi', ref: 'c-1' }));
    expect(log.entries().map((e) => [e.key, e.seq, e.status])).toEqual([
      ['seq:1', 1, 'confirmed'],
      ['seq:2', 2, 'confirmed'],
      ['ref:c-1', 3, 'confirmed'],
    ]);
  });

  it('marks a refused message failed with the reason', () => {
    const log = new ChatLog('alice');
    log.addPending('c-2', 'spam', 'Alice', 1);
    log.fail('c-2', 'rate limited');
    expect(log.entries()[0]).toMatchObject({ status: 'failed', error: 'rate limited' });
    expect(log.retry('c-2')).toBe('spam');
    expect(log.entries()[0]).toMatchObject({ status: 'pending', ref: 'c-2' });
    expect(log.retry('c-2')).toBeUndefined();
  });

  it('applies edits and deletes, and shows tombstones from history', () => {
    const log = new ChatLog('alice');
    log.loadLatest({ messages: [msg(1), msg(2, { text: '', deleted: true })], has_more: false });
    log.receive({ type: 'edit', room: 'lobby', seq: 1, text: 'fixed', edited_ts: 9 });
    log.receive({ type: 'delete', room: 'lobby', seq: 2, by: 'mod' });
    log.receive({ type: 'mute', room: 'lobby', user: 'bob', until: 10, by: 'mod' });
    expect(log.entries().map((e) => [e.text, e.edited, e.deleted])).toEqual([
      ['fixed', true, false],
      ['', false, true],
    ]);
  });

  it('pages back with older history', () => {
    const log = new ChatLog('alice');
    log.loadLatest({ messages: [msg(51), msg(52)], has_more: true });
    log.loadOlder({ messages: [msg(49), msg(50)], has_more: false });
    expect(seqs(log)).toEqual([49, 50, 51, 52]);
    expect([log.oldestSeq(), log.hasOlder, log.lastSeq()]).toEqual([49, false, 52]);
  });
});
