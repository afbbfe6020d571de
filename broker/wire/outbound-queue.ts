/**
 * What one subscriber has waiting to be written (pure). Control bytes (everything Aedes writes:
 * CONNACK, SUBACK, chat, candles) keep their order, are never dropped and leave ahead of the ticks
 * queued with them, so chat never waits behind prices (ticks are another topic family: MQTT orders
 * messages per topic only). Ticks arrive as one batch per topic per flush; while the subscriber is
 * backed up a topic keeps only its latest frame, so a slow reader holds at most one tick per topic
 * however long it stalls (docs/protocol.md#retained-messages-and-slow-subscribers conflation).
 */
export class OutboundQueue {
  private control: Buffer[] = [];
  private ticks: Buffer[] = [];
  private framesInTick: number[] = [];
  private slotOf = new Map<string, number>();
  private _bytes = 0;

  get bytes(): number {
    return this._bytes;
  }

  get isEmpty(): boolean {
    return this.control.length === 0 && this.ticks.length === 0;
  }

  get hasTicks(): boolean {
    return this.ticks.length > 0;
  }

  get hasControl(): boolean {
    return this.control.length > 0;
  }

  addControl(bytes: Buffer): void {
    this.control.push(bytes);
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
    const dropped = this.framesInTick[slot] + frames - 1;
    this._bytes += latest.length - this.ticks[slot].length;
    this.ticks[slot] = latest;
    this.framesInTick[slot] = 1;
    return dropped;
  }

  /** Everything queued, control bytes first, tick parts through `encodeTicks` when given; the queue is empty afterwards. */
  take(encodeTicks?: (batch: Buffer) => Buffer): Buffer[] {
    const ticks = encodeTicks && this.ticks.length > 0 ? this.ticks.map(encodeTicks) : this.ticks;
    const parts = ticks.length === 0 ? this.control : this.control.length === 0 ? ticks : this.control.concat(ticks);
    this.control = [];
    this.ticks = [];
    this.framesInTick = [];
    this.slotOf.clear();
    this._bytes = 0;
    return parts;
  }

  /** The control bytes queued; the ticks stay (held for a later write). */
  takeControl(): Buffer[] {
    const parts = this.control;
    for (const part of parts) this._bytes -= part.length;
    this.control = [];
    return parts;
  }

  private push(part: Buffer, frames: number): number {
    this.ticks.push(part);
    this.framesInTick.push(frames);
    this._bytes += part.length;
    return this.ticks.length - 1;
  }
}
