import type { SubscriberWriter } from './subscriber-writer.js';

/** Ticks held for a client's maximum tick rate are written in the first slot of this many ms after they are due. */
const HELD_SLOT_MS = 10;

/**
 * Writers whose ticks wait for their client's maximum tick rate (SubscriberWriter.limitTickRate):
 * each is flushed again in the slot its ticks are due in. Thousands of held clients cost one timer,
 * and each one list entry per write it waits for.
 */
export class HeldTicks {
  /** Writers by the slot (HELD_SLOT_MS) they are due in. */
  private readonly bySlot = new Map<number, SubscriberWriter[]>();
  private readonly slotOf = new Map<SubscriberWriter, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerSlot = Infinity;
  private closed = false;

  /** The writer's ticks are held (its onTicksHeld). */
  readonly hold = (writer: SubscriberWriter): void => {
    const due = writer.ticksDueAt;
    if (due === undefined || this.closed) return;
    const slot = Math.ceil(due / HELD_SLOT_MS);
    if (this.slotOf.get(writer) === slot) return;
    this.slotOf.set(writer, slot);
    const writers = this.bySlot.get(slot);
    if (writers) writers.push(writer);
    else this.bySlot.set(slot, [writer]);
    if (slot < this.timerSlot) this.arm(slot);
  };

  /** A closed connection's writer: a list entry left behind is skipped when its slot comes. */
  forget(writer: SubscriberWriter): void {
    this.slotOf.delete(writer);
  }

  /** Shutdown: the final turn writes every writer, held or not, and nothing is held again. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.bySlot.clear();
    this.slotOf.clear();
  }

  private arm(slot: number): void {
    clearTimeout(this.timer);
    this.timerSlot = slot;
    this.timer = slot === Infinity ? undefined : setTimeout(this.release, Math.max(0, slot * HELD_SLOT_MS - performance.now()));
  }

  /** Flushes the writers whose slot came (a writer that wrote meanwhile and holds again just waits on). */
  private readonly release = (): void => {
    this.timerSlot = Infinity;
    const now = performance.now() / HELD_SLOT_MS;
    const due: SubscriberWriter[] = [];
    let next = Infinity;
    for (const [slot, writers] of this.bySlot) {
      if (slot > now) next = Math.min(next, slot);
      else {
        this.bySlot.delete(slot);
        for (const writer of writers) if (this.slotOf.get(writer) === slot) due.push(writer);
      }
    }
    for (const writer of due) this.slotOf.delete(writer);
    for (const writer of due) writer.flush();
    if (next < this.timerSlot) this.arm(next);
  };
}
