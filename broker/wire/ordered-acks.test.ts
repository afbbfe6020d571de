import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OrderedAcks } from './ordered-acks.js';

describe('OrderedAcks', () => {
  it('sends an ack at once when nothing is ahead of it', () => {
    const sent: number[] = [];
    const acks = new OrderedAcks((id) => sent.push(id));
    acks.reserve(7)();
    expect(sent).toEqual([7]);
    expect(acks.pending).toBe(0);
  });

  it('holds a quick ack behind a slow one, then sends both in arrival order', () => {
    const sent: number[] = [];
    const acks = new OrderedAcks((id) => sent.push(id));
    const slow = acks.reserve(1);
    acks.reserve(2)();
    expect(sent).toEqual([]);
    slow();
    slow();
    expect(sent).toEqual([1, 2]);
  });

  it('sends every ack once, in arrival order, whatever order the publishes finish in', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 3000 }), fc.array(fc.nat()), (ids, order) => {
        const sent: number[] = [];
        const acks = new OrderedAcks((id) => sent.push(id));
        const settle = ids.map((id) => acks.reserve(id));
        const finishing = [...settle.keys()];
        for (const [i, pick] of order.entries()) {
          const j = pick % finishing.length;
          [finishing[i % finishing.length], finishing[j]] = [finishing[j], finishing[i % finishing.length]];
        }
        for (const i of finishing) settle[i]();
        expect(sent).toEqual(ids);
        expect(acks.pending).toBe(0);
      }),
    );
  });
});
