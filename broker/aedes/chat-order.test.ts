import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChatOrder, type ChatOrderOptions } from './chat-order.js';
import type { InternalPacket } from './internals.js';

const message = (topic: string, seq: number) =>
  ({ topic, payload: Buffer.from(JSON.stringify({ type: 'message', room: 'r', seq, text: `m${seq}`, ts: 1_000 + seq })) }) as InternalPacket;
const edit = (topic: string, seq: number) =>
  ({ topic, payload: Buffer.from(JSON.stringify({ type: 'edit', room: 'r', seq, text: 'e' })) }) as InternalPacket;
const tick = (topic: string) => ({ topic, payload: Buffer.from('{"bid":1}') }) as InternalPacket;

function setup(overrides: Partial<ChatOrderOptions> = {}) {
  const out: string[] = [];
  const counts = { held: 0, gaps: 0 };
  const stamps: number[] = [];
  const order = new ChatOrder(
    (p) => {
      const event = JSON.parse(p.payload.toString()) as { type?: string; seq?: number };
      out.push(event.type ? `${p.topic}:${event.type}:${event.seq}` : p.topic);
    },
    {
      waitMs: 500,
      maxConversations: 100,
      maxHeld: 100,
      held: () => counts.held++,
      gap: () => counts.gaps++,
      delivered: (ts) => stamps.push(ts),
      ...overrides,
    },
  );
  return { order, out, counts, stamps };
}

afterEach(() => vi.useRealTimers());

describe('chat order across nodes', () => {
  it('holds a message that came ahead of an earlier seq until that one arrives, then delivers both in order', () => {
    const { order, out, counts, stamps } = setup();
    order.take(message('chat/rooms/a', 5));
    order.take(message('chat/rooms/a', 7));
    order.take(message('chat/rooms/a', 8));
    expect(out).toEqual(['chat/rooms/a:message:5']);
    order.take(message('chat/rooms/a', 6));
    expect(out).toEqual(['chat/rooms/a:message:5', 'chat/rooms/a:message:6', 'chat/rooms/a:message:7', 'chat/rooms/a:message:8']);
    expect(counts).toEqual({ held: 2, gaps: 0 });
    // Each message's server stamp is reported as it is handed over, held ones when released.
    expect(stamps).toEqual([1_005, 1_006, 1_007, 1_008]);
  });

  it('keeps conversations apart and lets everything that is not a chat message through at once', () => {
    const { order, out } = setup();
    order.take(message('chat/rooms/a', 1));
    order.take(message('chat/rooms/a', 3));
    order.take(message('chat/dm/alice/bob', 10));
    order.take(tick('ticks/EURUSD'));
    expect(out).toEqual(['chat/rooms/a:message:1', 'chat/dm/alice/bob:message:10', 'ticks/EURUSD']);
  });

  it("queues a conversation's other events behind its held messages", () => {
    const { order, out } = setup();
    order.take(message('chat/rooms/a', 1));
    order.take(message('chat/rooms/a', 3));
    order.take(edit('chat/rooms/a', 2));
    order.take(message('chat/rooms/a', 2));
    expect(out).toEqual(['chat/rooms/a:message:1', 'chat/rooms/a:message:2', 'chat/rooms/a:message:3', 'chat/rooms/a:edit:2']);
  });

  it('gives up waiting after waitMs: the held messages go in order and the gap is counted', () => {
    vi.useFakeTimers();
    const { order, out, counts } = setup();
    order.take(message('chat/rooms/a', 1));
    order.take(message('chat/rooms/a', 4));
    order.take(message('chat/rooms/a', 3));
    vi.advanceTimersByTime(499);
    expect(out).toEqual(['chat/rooms/a:message:1']);
    vi.advanceTimersByTime(1);
    expect(out).toEqual(['chat/rooms/a:message:1', 'chat/rooms/a:message:3', 'chat/rooms/a:message:4']);
    expect(counts.gaps).toBe(1);
    // The missing one, late after all, is still delivered; the count goes on from 5.
    order.take(message('chat/rooms/a', 2));
    order.take(message('chat/rooms/a', 5));
    expect(out.slice(3)).toEqual(['chat/rooms/a:message:2', 'chat/rooms/a:message:5']);
  });

  it('holds at most maxHeld messages per conversation and remembers at most maxConversations', () => {
    const { order, out, counts } = setup({ maxHeld: 2, maxConversations: 2 });
    order.take(message('chat/rooms/a', 1));
    for (const seq of [3, 4, 5]) order.take(message('chat/rooms/a', seq));
    expect(out).toEqual(['chat/rooms/a:message:1', 'chat/rooms/a:message:3', 'chat/rooms/a:message:4', 'chat/rooms/a:message:5']);
    expect(counts.gaps).toBe(1);
    order.take(message('chat/rooms/b', 1));
    order.take(message('chat/rooms/b', 3));
    order.take(message('chat/rooms/c', 1));
    // a was seen least recently and is forgotten; b stays and keeps waiting for its seq 2.
    expect(out.slice(4)).toEqual(['chat/rooms/b:message:1', 'chat/rooms/c:message:1']);
    order.flush();
    expect(out.slice(6)).toEqual(['chat/rooms/b:message:3']);
  });
});
