import type { Packet } from 'mqtt-packet';

/**
 * The client's Receive Maximum (MQTT 5 §4.9) for what the server sends: at most `maximum` QoS 1/2
 * deliveries unacknowledged; the next ones wait here in order and leave as acknowledgements come
 * (PUBACK, PUBCOMP). Everything else passes straight through. Waiting deliveries are encoded when
 * they leave, so their Message Expiry Interval counts the wait (and an expired one is not sent).
 */
export class DeliveryWindow {
  private readonly inFlight = new Set<number>();
  private readonly waiting: Packet[] = [];

  constructor(
    private readonly maximum: number,
    /** Deliveries that may wait; beyond it the oldest waiting one is dropped (a persistent session still has it stored). */
    private readonly maxWaiting: number,
    /** Encodes and writes the packet; false when it was withheld (over the client's maximum size, expired). */
    private readonly send: (packet: Packet) => boolean,
    /** A QoS 1/2 delivery that will never be sent: its session entry is cleared as if delivered (MQTT-3.1.2-25). */
    private readonly dropped: (packet: Packet) => void,
    /** The oldest waiting delivery was dropped for a newer one (`maxWaiting` reached): counted, as every bound is. */
    private readonly overflowed: () => void = () => {},
  ) {}

  get unacknowledged(): number {
    return this.inFlight.size;
  }

  offer(packet: Packet): void {
    if (packet.cmd !== 'publish' || !packet.qos || packet.messageId === undefined) {
      this.send(packet);
      return;
    }
    // A resend (session resumed) of a delivery already counted takes no new place.
    if (this.inFlight.has(packet.messageId)) return this.deliver(packet);
    if (this.inFlight.size < this.maximum && this.waiting.length === 0) return this.deliver(packet);
    if (this.waiting.push(packet) > this.maxWaiting) {
      this.waiting.shift();
      this.overflowed();
    }
  }

  /** The client acknowledged `messageId` (PUBACK, PUBCOMP, or a PUBREC refusing it): its place goes to the next waiting. */
  acknowledged(messageId: number): void {
    if (!this.inFlight.delete(messageId)) return;
    while (this.waiting.length > 0 && this.inFlight.size < this.maximum) this.deliver(this.waiting.shift()!);
  }

  private deliver(packet: Packet): void {
    const id = (packet as { messageId: number }).messageId;
    if (this.send(packet)) this.inFlight.add(id);
    else {
      this.inFlight.delete(id);
      this.dropped(packet);
    }
  }
}
