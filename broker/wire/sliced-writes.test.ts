import { describe, expect, it } from 'vitest';
import { SlicedWrites } from './sliced-writes.js';

/** A clock that moves only when a writer writes (1 ms each), and a scheduler that queues slices until run. */
function rig(sliceMs: number, writersPerClockRead: number) {
  let clock = 0;
  const queued: (() => void)[] = [];
  const flushed: number[] = [];
  const writers = Array.from({ length: 10 }, (_, i) => ({
    flush: () => {
      flushed.push(i);
      clock += 1;
    },
  }));
  const writes = new SlicedWrites({ sliceMs, writersPerClockRead, now: () => clock, later: (next) => queued.push(next) });
  const runSlice = () => queued.shift()?.();
  return { writes, writers, flushed, queued, runSlice };
}

describe('SlicedWrites', () => {
  it('flushes every writer once, in order, a slice at a time, yielding between slices', () => {
    const { writes, writers, flushed, queued, runSlice } = rig(3, 1);
    let cost: number | undefined;
    writes.start(writers, 0.5, (ms) => (cost = ms));
    expect(flushed).toEqual([0, 1, 2]);
    expect(writes.running).toBe(true);
    expect(writes.pending).toHaveLength(7);
    expect(queued).toHaveLength(1);
    while (queued.length > 0) runSlice();
    expect(flushed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(writes.running).toBe(false);
    expect(cost).toBe(10.5); // the slices' writing time and the fan-out before it, not the waits between
  });

  it('reads the clock only every few writers, so a slice may run over by less than that many writes', () => {
    const { writes, writers, flushed } = rig(3, 4);
    writes.start(writers, 0, () => {});
    expect(flushed).toEqual([0, 1, 2, 3]);
  });

  it('refuses a second window while one is being written, and abandons what is left on shutdown', () => {
    const { writes, writers, flushed, runSlice } = rig(2, 1);
    const done: number[] = [];
    writes.start(writers, 0, (ms) => done.push(ms));
    expect(() => writes.start(writers, 0, () => {})).toThrow(/still being written/);
    const left = writes.pending;
    writes.abandon();
    runSlice();
    expect(flushed).toEqual([0, 1]);
    expect(left).toHaveLength(8);
    expect(done).toEqual([]);
    expect(writes.running).toBe(false);
  });
});
