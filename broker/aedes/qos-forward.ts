import { createRequire } from 'node:module';
import { aedesInternals, type Aedes, type AedesInternals, type InternalPacket } from './internals.js';
import type { Logger } from '../../platform/logger.js';

const require = createRequire(import.meta.url);

/** Aedes' own packet wrapper: it stamps the broker id and counter that de-duplicate deliveries. */
const AedesPacket = require('aedes-packet') as new (original: object, broker: Aedes) => InternalPacket;

/** Where the live fan-out waits: it runs once the turn's PUBACKs are written (WireLayer). */
/** Who published a forwarded message, and until when it may be delivered (MQTT 5 Message Expiry). */
export interface PublishOrigin {
  publisherId?: string;
  messageExpiry?: number;
}

export interface AckTurn {
  afterAcksWritten(task: () => void): void;
}

const noop = () => {};

/**
 * Aedes' QoS 1 publish (aedes.js: enqueueOffline, emitPacket, callPublished) for the publishes the
 * wire layer takes, with the PUBACK where it belongs: once the message is queued for every
 * persistent session, so a session resumed right after the PUBACK finds it in its queue, in order.
 *
 * On a single node the PUBACK goes first and the live subscribers get the message right after the
 * PUBACKs of the same event-loop turn are written: publishers send their next messages while this
 * node is still delivering. The fan-out runs in the same turn as the PUBACK write, before this node
 * reads anything else, so no session can be resumed in between. In a cluster the emit crosses Redis
 * and other nodes resume sessions too: the PUBACK waits until Redis has taken the message, as in
 * Aedes' own publish.
 *
 * Unlike Aedes' publish, a failure to find the persistent sessions (subscriptionsByTopic) fails
 * the publish (no PUBACK, the client sends it again) instead of leaving its callback uncalled.
 */
export class QoSForwarder {
  private readonly aedes: AedesInternals;
  private pending: InternalPacket[] = [];
  /** When each pending packet was handed over (stored), for the delivery latency. */
  private pendingSince: number[] = [];

  constructor(
    private readonly broker: Aedes,
    /** Single node: ack before the live fan-out, which waits for the turn's PUBACKs. Cluster: undefined. */
    private readonly localTurn: AckTurn | undefined,
    private readonly log: Logger,
    /** Seconds from a message being handed over (stored) to its fan-out on this node (or Redis taking it). */
    private readonly latency: { observe(seconds: number): void } = { observe: noop },
  ) {
    this.aedes = aedesInternals(broker);
  }

  /**
   * `origin`: the client that sent it, for No Local subscriptions (as Aedes' emitPacket stamps it),
   * and an MQTT 5 publisher's Message Expiry (ms since the epoch), kept with the queued copies.
   */
  forward(topic: string, payload: Buffer, settle: (err?: Error) => void, origin: PublishOrigin = {}): void {
    const since = performance.now();
    const original = { cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false } as const;
    // aedes-packet copies messageExpiry only when the key is present.
    const packet = new AedesPacket(origin.messageExpiry === undefined ? original : { ...original, messageExpiry: origin.messageExpiry }, this.broker);
    if (origin.publisherId !== undefined) packet.clientId = origin.publisherId;
    const { persistence } = this.aedes;
    persistence
      .subscriptionsByTopic(topic)
      .then((subs) => persistence.outgoingEnqueueCombi(subs, packet))
      .then(
        () => {
          if (!this.localTurn) return this.emit(packet, (err) => this.delivered(since, err, settle));
          settle();
          this.pendingSince.push(since);
          if (this.pending.push(packet) === 1) this.localTurn.afterAcksWritten(this.fanOut);
        },
        // Not queued for every session: no PUBACK, so the client sends it again.
        (err: Error) => settle(err),
      );
  }

  private readonly fanOut = () => {
    const packets = this.pending;
    const since = this.pendingSince;
    this.pending = [];
    this.pendingSince = [];
    // Acked during shutdown: stored and queued for persistent sessions; live subscribers are gone.
    if (this.aedes.closed) return;
    for (const packet of packets) this.emit(packet, this.emitted);
    const now = performance.now();
    for (const t of since) this.latency.observe((now - t) / 1000);
  };

  private delivered(since: number, err: Error | undefined, settle: (err?: Error) => void): void {
    if (!err) this.latency.observe((performance.now() - since) / 1000);
    settle(err);
  }

  private emit(packet: InternalPacket, done: (err?: Error) => void): void {
    this.aedes.mq.emit(packet, done);
    this.aedes.published(packet, null, noop);
    this.aedes.emit('publish', packet, null);
  }

  private readonly emitted = (err?: Error) => {
    // The local emitter does not fail; if it did, the message is stored and queued for persistent sessions.
    if (err) this.log.error({ err }, 'live delivery failed');
  };
}
