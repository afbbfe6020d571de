/**
 * What one subscriber has waiting to be written (pure). Control bytes (everything Aedes writes:
 * CONNACK, SUBACK, chat, candles) keep their order and are never dropped. Ticks arrive as one batch
 * per topic per turn; while the subscriber is backed up a topic keeps only its latest frame, so a
 * slow reader holds at most one tick per topic however long it stalls (docs/protocol.md#retained-messages-and-slow-subscribers conflation).
 */
export class OutboundQueue {
  private parts: Buffer[] = [];
  private framesInPart: number[] = [];
  private slotOf = new Map<string, number>();
  private _bytes = 0;

  get bytes(): number {
    return this._bytes;
  }

  get isEmpty(): boolean {
    return this.parts.length === 0;
  }

  addControl(bytes: Buffer): void {
    this.parts.push(bytes);
    this.framesInPart.push(0);
    this._bytes += bytes.length;
  }

  /**
   * Queue `frames` ticks of `topic`: `batch` is all of them back to back, `latest` the last one.
   * With `conflate` a tick already queued for the topic is replaced. Returns how many ticks were
   * dropped by conflation.
   */
  addTicks(topic: string, batch: Buffer, latest: Buffer, frames: number, conflate: boolean): number {
    if (!conflate) {
      this.slotOf.set(topic, this.push(batch, frames));
      return 0;
    }
    const slot = this.slotOf.get(topic);
    if (slot === undefined) {
      this.slotOf.set(topic, this.push(latest, 1));
      return frames - 1;
    }
    const dropped = this.framesInPart[slot] + frames - 1;
    this._bytes += latest.length - this.parts[slot].length;
    this.parts[slot] = latest;
    this.framesInPart[slot] = 1;
    return dropped;
  }

  /** Everything queued, in order; the queue is empty afterwards. */
  take(): Buffer[] {
    const parts = this.parts;
    this.parts = [];
    this.framesInPart = [];
    this.slotOf.clear();
    this._bytes = 0;
    return parts;
  }

  private push(part: Buffer, frames: number): number {
    this.parts.push(part);
    this.framesInPart.push(frames);
    this._bytes += part.length;
    return this.parts.length - 1;
  }
}
