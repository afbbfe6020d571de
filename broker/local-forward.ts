import { createRequire } from 'node:module';
import type { Aedes } from 'aedes';
import type { Logger } from '../platform/logger.js';

const require = createRequire(import.meta.url);

/** Aedes' own packet wrapper: it stamps the broker id and counter that de-duplicate deliveries. */
const AedesPacket = require('aedes-packet') as new (original: object, broker: Aedes) => QueuedPacket;

interface QueuedPacket {
  topic: string;
  payload: Buffer;
  qos: number;
  brokerId: string;
  brokerCounter: number;
}

/** The parts of Aedes a QoS 1 publish goes through (aedes.js: enqueueOffline, emitPacket, callPublished). */
interface PublishPath {
  persistence: {
    subscriptionsByTopic(topic: string): Promise<unknown[]>;
    outgoingEnqueueCombi(subs: unknown[], packet: QueuedPacket): Promise<unknown>;
  };
  mq: { emit(packet: QueuedPacket, cb: (err?: Error) => void): void };
  published(packet: QueuedPacket, client: null, done: () => void): void;
  closed: boolean;
  emit(event: 'publish', packet: QueuedPacket, client: null): boolean;
}

/** Where the live fan-out waits: it runs once the turn's PUBACKs are written (TickFastPath). */
export interface AckTurn {
  afterAcksWritten(task: () => void): void;
}

const noop = () => {};

/**
 * Aedes' QoS 1 publish for a node without a cluster, split where the PUBACK belongs: the message is
 * queued for every persistent session, then acknowledged, then handed to the live subscribers right
 * after the PUBACKs of the same event-loop turn are written. Publishers then send their next
 * messages while this node is still delivering, instead of waiting for the whole fan-out.
 *
 * What a client can observe is Aedes' order: the fan-out runs in the same turn as the PUBACK write,
 * before this node reads anything else, so a session resumed after a PUBACK finds the message in
 * its queue and never gets it live ahead of that queue; deliveries leave in publish order. (With a
 * cluster the emit crosses Redis and Aedes' own publish keeps the PUBACK until Redis has it.)
 */
export class LocalForwarder {
  private readonly aedes: PublishPath;
  private pending: QueuedPacket[] = [];

  constructor(
    private readonly broker: Aedes,
    private readonly turn: AckTurn,
    private readonly log: Logger,
  ) {
    this.aedes = broker as unknown as PublishPath;
  }

  forward(topic: string, payload: Buffer, settle: (err?: Error) => void): void {
    const packet = new AedesPacket({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, this.broker);
    const { persistence } = this.aedes;
    persistence
      .subscriptionsByTopic(topic)
      .then((subs) => persistence.outgoingEnqueueCombi(subs, packet))
      .then(
        () => {
          settle();
          if (this.pending.push(packet) === 1) this.turn.afterAcksWritten(this.fanOut);
        },
        // Not queued for every session: no PUBACK, so the client sends it again.
        (err: Error) => settle(err),
      );
  }

  private readonly fanOut = () => {
    const packets = this.pending;
    this.pending = [];
    // Acked during shutdown: stored and queued for persistent sessions; live subscribers are gone.
    if (this.aedes.closed) return;
    for (const packet of packets) {
      this.aedes.mq.emit(packet, this.emitted);
      this.aedes.published(packet, null, noop);
      this.aedes.emit('publish', packet, null);
    }
  };

  private readonly emitted = (err?: Error) => {
    // The local emitter does not fail; if it did, the message is stored and queued for persistent sessions.
    if (err) this.log.error({ err }, 'live delivery failed');
  };
}
