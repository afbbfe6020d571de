import type { Refusal } from '../mqtt5/session.js';

/**
 * PUBACKs leave in the order their PUBLISHes arrived (MQTT-4.6.0-2), however long each publish
 * takes to handle: a chat message waiting for its database commit holds back the acks of the
 * publishes behind it, even ones refused at once. This covers the publishes the wire layer takes;
 * a QoS 1 publish left to Aedes (another topic area, an oversized frame) is acked by Aedes and may
 * overtake them.
 */
export class OrderedAcks {
  private readonly waiting: { messageId: number; settled: boolean; refusal?: Refusal }[] = [];
  private head = 0;

  /** `refusal`: the publish was refused (acked and dropped); an MQTT 5 PUBACK says why. */
  constructor(private readonly send: (messageId: number, refusal: Refusal | undefined) => void) {}

  /** Takes the next place in line; call the returned function once the publish is handled (with its refusal, if refused). */
  reserve(messageId: number): (refusal?: Refusal) => void {
    const slot: { messageId: number; settled: boolean; refusal?: Refusal } = { messageId, settled: false };
    this.waiting.push(slot);
    return (refusal) => {
      if (slot.settled) return;
      slot.settled = true;
      slot.refusal = refusal;
      this.release();
    };
  }

  /** Publishes still waiting for their ack (handled or not). */
  get pending(): number {
    return this.waiting.length - this.head;
  }

  private release(): void {
    while (this.head < this.waiting.length && this.waiting[this.head].settled) {
      const { messageId, refusal } = this.waiting[this.head];
      this.send(messageId, refusal);
      this.head++;
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }
}
