import { describe, expect, it } from 'vitest';
import { OutboundQueue } from './outbound-queue.js';

const b = (s: string) => Buffer.from(s);

describe('OutboundQueue', () => {
  it('keeps every tick while the client keeps up; control parts keep their order and leave ahead of ticks', () => {
    const q = new OutboundQueue();
    q.addControl(b('ack'));
    expect(q.addTicks('ticks/A', b('a1a2'), b('a2'), 2, false)).toBe(0);
    q.addControl(b('chat'));
    expect(q.addTicks('ticks/B', b('b1'), b('b1'), 1, false)).toBe(0);
    expect(q.take().map(String)).toEqual(['ack', 'chat', 'a1a2', 'b1']);
    expect(q.isEmpty).toBe(true);
  });

  it('keeps only the latest tick per topic while backed up, never dropping control bytes', () => {
    const q = new OutboundQueue();
    expect(q.addTicks('ticks/A', b('a1a2'), b('a2'), 2, true)).toBe(1);
    q.addControl(b('chat1'));
    expect(q.addTicks('ticks/B', b('b1'), b('b1'), 1, true)).toBe(0);
    expect(q.addTicks('ticks/A', b('a3a4a5'), b('a5'), 3, true)).toBe(3);
    q.addControl(b('chat2'));
    expect(q.bytes).toBe(2 + 5 + 2 + 5);
    expect(q.take().map(String)).toEqual(['chat1', 'chat2', 'a5', 'b1']);
  });

  it('holds at most one tick per topic however many arrive', () => {
    const q = new OutboundQueue();
    for (let i = 0; i < 10_000; i++) q.addTicks(`ticks/S${i % 3}`, b(`t${i}`), b(`t${i}`), 1, true);
    expect(q.take().map(String)).toEqual(['t9999', 't9997', 't9998']);
  });

  it('gives up its control bytes alone while its ticks are held, and the ticks later', () => {
    const q = new OutboundQueue();
    q.addTicks('ticks/A', b('a1'), b('a1'), 1, true);
    q.addControl(b('suback'));
    expect(q.takeControl().map(String)).toEqual(['suback']);
    expect(q.hasControl).toBe(false);
    expect(q.hasTicks).toBe(true);
    expect(q.bytes).toBe(2);
    q.addTicks('ticks/A', b('a2'), b('a2'), 1, true);
    expect(q.take().map(String)).toEqual(['a2']);
    expect(q.bytes).toBe(0);
  });
});
