import { encodeTick, type Tick } from '../../protocol/tick.js';
import { topics } from '../../protocol/topics.js';
import { publishExpiryInterval } from '../mqtt5/frames.js';
import { CanonicalTickReader } from './canonical-tick.js';
import type { ClusterBatcher } from './cluster-batcher.js';
import { frameLength, publishFrame, readPublish } from './mqtt-frame.js';
import type { RetainedTicks } from './retained-ticks.js';
import type { TickFanOut } from './tick-fanout.js';
import { tickExpiry } from './tick-expiry.js';
import { readFeedTick } from './tick-intake.js';
import type { WireConnection } from './wire-connection.js';
import type { TickSource, WireMetrics } from './wire-metrics.js';
import { TICK_PREFIX } from './wire-options.js';

function expiryOf(frame: Buffer): number | undefined {
  const interval = publishExpiryInterval(frame);
  return interval === undefined ? undefined : Date.now() + interval * 1000;
}

/**
 * The ticks of this node (feed clients' publishes taken off the wire, and the process' own): each
 * is validated, encoded once as the frame every subscriber gets, retained, and sent to the other
 * nodes. Ticks from the other nodes come in through acceptRemoteFrames.
 */
export class TickSources {
  private readonly canonical = new CanonicalTickReader();
  private readonly incoming: Record<TickSource, number>;
  private closed = false;

  constructor(
    private readonly fanout: TickFanOut,
    private readonly retained: RetainedTicks,
    private readonly cluster: ClusterBatcher | undefined,
    private readonly metrics: WireMetrics,
  ) {
    this.incoming = metrics.incoming;
  }

  onFeedFrame(conn: WireConnection, frame: Buffer): void {
    const publish = readPublish(frame, conn.mqtt5 !== undefined);
    if (publish === null) {
      this.metrics.tickRefused(conn, 'frame', 'malformed publish');
      conn.destroy(new Error('malformed PUBLISH'));
      return;
    }
    // QoS 1 is acknowledged whether or not the tick is valid, as the broker does for refused publishes.
    if (publish.messageId !== undefined) conn.acks.reserve(publish.messageId)();
    const { topic, payload } = publish;
    const expiry = conn.mqtt5 ? expiryOf(frame) : undefined;
    const symbol = topic.startsWith(TICK_PREFIX) ? topic.slice(TICK_PREFIX.length) : '';
    if (this.canonical.read(payload, symbol)) return this.acceptEncoded(topic, payload, this.canonical.timeMsc, 'feed', expiry);
    const result = readFeedTick(publish);
    if (result.ok) return this.accept(result.tick, 'feed', expiry);
    this.metrics.tickRefused(conn, result.reason, result.message);
  }

  /** Validated ticks from inside the process (bridge, simulator): retained `ticks/{SYMBOL}`, QoS 0. */
  publishTicks(ticks: readonly Tick[]): void {
    for (const tick of ticks) this.accept(tick, 'local');
  }

  /** Sources may still be stopping while the broker shuts down: their last ticks have nowhere to go. */
  close(): void {
    this.closed = true;
  }

  private accept(tick: Tick, source: TickSource, expiry?: number): void {
    this.acceptEncoded(topics.tick(tick.symbol), encodeTick(tick), tick.time_msc, source, expiry);
  }

  /**
   * A valid tick, `payload` its canonical encoding (a Buffer may be a view into a read: it is copied);
   * `expiry`: an MQTT 5 feed's Message Expiry (ms since the epoch), see tick-expiry.ts.
   */
  private acceptEncoded(topic: string, payload: string | Buffer, timeMsc: number, source: TickSource, expiry?: number): void {
    if (this.closed) return;
    const frame = publishFrame(topic, payload, false);
    if (expiry !== undefined) tickExpiry.set(frame, expiry);
    this.fanout.enqueue(topic, frame, timeMsc);
    // The frame ends with the payload: the retained copy is that slice, not another buffer.
    this.retained.set(topic, typeof payload === 'string' ? payload : frame.subarray(frame.length - payload.length), expiry);
    this.cluster?.add(topic, frame);
    this.incoming[source]++;
  }
}

/**
 * Frames from another node (ClusterBatcher's onRemoteFrames): copied out of the Redis message so no
 * queue pins it. Tick latency is that of this node's own sources: their feed times are not read.
 */
export function acceptRemoteFrames(frames: Buffer, fanout: TickFanOut, retained: RetainedTicks, incoming: Record<TickSource, number>): void {
  let at = 0;
  while (at < frames.length) {
    const length = frameLength(frames.subarray(at));
    if (length < 0) break;
    const frame = Buffer.from(frames.subarray(at, at + length));
    at += length;
    const publish = readPublish(frame);
    if (publish === null) break;
    fanout.enqueue(publish.topic, frame, Infinity);
    // The other node stores this tick as the retained one: an expiring one of ours must not remove it.
    retained.superseded(publish.topic);
    incoming.cluster++;
  }
}
