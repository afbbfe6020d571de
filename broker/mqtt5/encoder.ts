import mqttPacket, { type IPubackPacket, type IPublishPacket, type IPubrecPacket, type ISubackPacket, type Packet } from 'mqtt-packet';
import { matchingFilter } from '../shared-filter.js';
import { covers } from '../topic-filter.js';
import { frameLength, readPublish, type PublishView } from '../wire/mqtt-frame.js';
import { aliasedPublishFrame } from './frames.js';
import { tickExpiry } from '../wire/tick-expiry.js';
import { retainedExtras } from '../aedes/retained-expiry.js';
import type { Mqtt5Session, Refusal } from './session.js';

const V5 = { protocolVersion: 5 } as const;

/** Topic families whose deliveries get outbound Topic Aliases: few topics, very many messages. */
const ALIASED_PREFIXES = ['ticks/', 'candles/'];

/** MQTT 3.1.1 CONNACK return codes (what Aedes writes) as MQTT 5 reason codes (§3.2.2.2). */
const CONNACK_REASONS: Record<number, number> = { 0: 0x00, 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };

/** Publish properties a receiver gets as the publisher sent them (MQTT-3.3.2-4, -15, -16, -17, -20). */
const PASSED_PROPERTIES = ['payloadFormatIndicator', 'responseTopic', 'correlationData', 'userProperties', 'contentType'] as const;

const EMPTY = Buffer.alloc(0);

/** A tick frame read once, and its MQTT 5 forms by alias, for as long as the frame is referenced. */
const aliasedFrames = new WeakMap<Buffer, { publish: PublishView; byAlias: Map<number, Buffer> }>();

/** A message in Aedes' hands: aedes-packet keeps a publisher's `properties` and the absolute `messageExpiry` (ms). */
type RoutedPublish = IPublishPacket & { messageExpiry?: number };

/** A retained message as Aedes sends it on SUBSCRIBE, with the expiry and properties it dropped (see retained-expiry.ts). */
function withRetainedExtras(packet: RoutedPublish): RoutedPublish {
  if (packet.messageExpiry !== undefined || packet.properties !== undefined || typeof packet.payload === 'string') return packet;
  const extras = retainedExtras(packet.payload);
  return extras ? { ...packet, ...extras } : packet;
}

/**
 * Deliveries not sent: over the client's Maximum Packet Size (MQTT-3.1.2-25), their Message Expiry
 * Interval ran out while they waited (MQTT-3.3.2-5), or more than MQTT_MAX_QUEUED_MESSAGES waited
 * for the client's Receive Maximum (the oldest dropped; a persistent session keeps it stored).
 */
export interface EncoderStats {
  withheld(reason: 'oversize' | 'expired' | 'queue_full'): void;
}

/**
 * Turns what Aedes (MQTT 3.1.1) and the wire layer write into MQTT 5 for one connection: reason
 * codes and properties on acknowledgements, Topic Aliases on tick and candle deliveries, Message
 * Expiry decremented, Subscription Identifiers added, oversize deliveries withheld.
 */
export class Mqtt5Encoder {
  private readonly aliases = new Map<string, number>();

  constructor(
    private readonly session: Mqtt5Session,
    private readonly stats: EncoderStats,
  ) {}

  /** The packet as MQTT 5 bytes, or null when it must not be sent to this client. */
  encode(packet: Packet): Buffer | null {
    switch (packet.cmd) {
      case 'publish':
        return this.publish(packet);
      case 'connack':
        return this.explained({
          ...packet,
          reasonCode: this.connackReason(packet.returnCode ?? 0),
          properties: this.connackProperties(packet.returnCode ?? 0),
        });
      case 'suback':
        return this.suback(packet);
      case 'unsuback':
        return this.generate({ ...packet, granted: this.unsubackReasons(packet.messageId ?? 0) });
      case 'puback':
        this.session.publishAnswered();
        return this.explained(this.withRefusal(packet, this.takePublishRefusal(packet.messageId)));
      case 'pubcomp':
        this.session.publishAnswered();
        return this.generate({ ...packet, reasonCode: packet.reasonCode ?? 0 });
      case 'pubrec':
        return this.pubrec(packet);
      case 'pubrel':
        return this.generate({ ...packet, reasonCode: packet.reasonCode ?? 0 });
      case 'disconnect':
        return this.explained(packet);
      default:
        return this.generate(packet);
    }
  }

  /** A PUBACK for a publish the wire layer took: success, or `refusal`'s reason code and string. */
  puback(messageId: number, refusal: Refusal | undefined): Buffer | null {
    return this.explained(this.withRefusal({ cmd: 'puback', messageId }, refusal));
  }

  private pubrec(packet: IPubrecPacket): Buffer | null {
    const refusal = this.takePublishRefusal(packet.messageId);
    const bytes = this.explained(this.withRefusal(packet, refusal));
    if (refusal && packet.messageId !== undefined) {
      // A refusing PUBREC ends the exchange: the publish no longer counts against our Receive Maximum.
      this.session.publishAnswered();
      this.session.endRefusedQoS2?.(packet.messageId);
    }
    return bytes;
  }

  private takePublishRefusal(messageId: number | undefined): Refusal | undefined {
    if (messageId === undefined) return undefined;
    const refusal = this.session.publishRefusals.get(messageId);
    this.session.publishRefusals.delete(messageId);
    return refusal;
  }

  /** The ack with the refusal's reason code, and its reason string unless the client asked for none (MQTT-3.1.2-29). */
  private withRefusal<P extends IPubackPacket | IPubrecPacket>(packet: P, refusal: Refusal | undefined): P {
    if (!refusal) return { ...packet, reasonCode: packet.reasonCode ?? 0 };
    const explained = this.session.mayExplain(packet.cmd);
    const properties = explained ? { reasonString: refusal.reason, ...(refusal.userProperties && { userProperties: refusal.userProperties }) } : {};
    return { ...packet, reasonCode: refusal.reasonCode, properties };
  }

  /**
   * Tick frames the wire layer built once for every subscriber (MQTT 3.1.1 QoS 0 PUBLISH, back to
   * back) as this client's MQTT 5 frames. Called when they are written, so an alias is always
   * introduced (topic and alias) before a frame uses it alone.
   */
  tickFrames(batch: Buffer): Buffer {
    const deadlines = tickExpiry.of(batch);
    // With a write window (the default) the batch is one frame, the same buffer for every subscriber.
    if (aliasedFrames.has(batch)) return this.tickFrame(batch, typeof deadlines === 'number' ? deadlines : undefined) ?? EMPTY;
    const frames: Buffer[] = [];
    let at = 0;
    for (let k = 0; at < batch.length; k++) {
      const length = frameLength(batch.subarray(at));
      if (length < 0) break;
      const deadline = typeof deadlines === 'number' ? deadlines : deadlines?.[k];
      const frame = this.tickFrame(length === batch.length ? batch : batch.subarray(at, at + length), deadline);
      at += length;
      if (frame) frames.push(frame);
    }
    return frames.length === 1 ? frames[0] : Buffer.concat(frames);
  }

  /**
   * Every tick is published retained; the wire layer's shared frames have RETAIN clear, as a
   * subscription without Retain As Published gets them (MQTT-3.3.1-12, -13).
   */
  private retainedAsPublished(topic: string): boolean {
    for (const filter of this.session.retainAsPublished) if (covers(filter, topic)) return true;
    return false;
  }

  /**
   * One tick frame for this client, null when it expired or is over the client's maximum. Clients
   * holding the same alias for the topic share the frame (most MQTT 5 subscribers of a symbol, once
   * its alias is introduced): one build per alias per tick. A tick with an expiry is built per client.
   */
  private tickFrame(frame: Buffer, deadline: number | undefined): Buffer | null {
    let shared = aliasedFrames.get(frame);
    if (!shared) {
      const publish = readPublish(frame);
      if (publish === null) return null;
      shared = { publish, byAlias: new Map() };
      aliasedFrames.set(frame, shared);
    }
    const expiryS = this.remainingS(deadline);
    if (expiryS === 0) return null;
    const { topic, payload } = shared.publish;
    const retain = shared.publish.retain || this.retainedAsPublished(topic);
    const known = this.aliases.get(topic);
    if (known === undefined) return this.withinMaximum(aliasedPublishFrame(topic, payload, retain, this.newAlias(topic), expiryS));
    if (retain !== shared.publish.retain || expiryS !== undefined)
      return this.withinMaximum(aliasedPublishFrame('', payload, retain, known, expiryS));
    let built = shared.byAlias.get(known);
    if (!built) shared.byAlias.set(known, (built = aliasedPublishFrame('', payload, retain, known)));
    return this.withinMaximum(built);
  }

  /** Seconds left before `deadline` (ms since the epoch), undefined without one, 0 (counted withheld) once past. */
  private remainingS(deadline: number | undefined): number | undefined {
    if (deadline === undefined) return undefined;
    const remaining = Math.ceil((deadline - Date.now()) / 1000);
    if (remaining > 0) return remaining;
    this.stats.withheld('expired');
    return 0;
  }

  /** The next free alias for `topic`, or 0 (none) when the client's maximum is reached. */
  private newAlias(topic: string): number {
    if (this.aliases.size >= this.session.peer.topicAliasMaximum) return 0;
    const alias = this.aliases.size + 1;
    this.aliases.set(topic, alias);
    return alias;
  }

  private publish(routed: RoutedPublish): Buffer | null {
    const packet = routed.retain ? withRetainedExtras(routed) : routed;
    const properties: NonNullable<IPublishPacket['properties']> = {};
    const source = packet.properties;
    if (source) for (const key of PASSED_PROPERTIES) if (source[key] !== undefined) (properties as Record<string, unknown>)[key] = source[key];
    const remainingS = this.remainingS(packet.messageExpiry);
    if (remainingS === 0) return null;
    if (remainingS !== undefined) properties.messageExpiryInterval = remainingS;
    const ids = this.subscriptionIdsFor(packet.topic);
    if (ids.length > 0) properties.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
    let topic = packet.topic;
    if (packet.qos === 0 && ALIASED_PREFIXES.some((prefix) => topic.startsWith(prefix))) {
      const known = this.aliases.get(topic);
      properties.topicAlias = known ?? this.newAlias(topic);
      if (properties.topicAlias === 0) delete properties.topicAlias;
      else if (known !== undefined) topic = '';
    }
    const { cmd, qos, dup, retain, payload, messageId } = packet;
    return this.withinMaximum(this.generate({ cmd, qos, dup, retain, payload, messageId, topic, properties }));
  }

  private subscriptionIdsFor(topic: string): number[] {
    const ids: number[] = [];
    for (const [filter, id] of this.session.subscriptionIds) if (covers(matchingFilter(filter), topic)) ids.push(id);
    return ids;
  }

  private withinMaximum(frame: Buffer | null): Buffer | null {
    if (frame && frame.length > this.session.peer.maximumPacketSize) {
      this.stats.withheld('oversize');
      return null;
    }
    return frame;
  }

  private connackReason(returnCode: number): number {
    if (returnCode === 0) return 0;
    return this.session.refusal?.reasonCode ?? CONNACK_REASONS[returnCode] ?? 0x80;
  }

  private connackProperties(returnCode: number): NonNullable<mqttPacket.IConnackPacket['properties']> {
    const { session } = this;
    if (returnCode !== 0) return session.refusal ? { reasonString: session.refusal.reason } : {};
    const { server } = session;
    return {
      receiveMaximum: server.receiveMaximum,
      maximumPacketSize: server.maximumPacketSize,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: server.sharedSubscriptions,
      ...(session.assignedClientId !== undefined && { assignedClientIdentifier: session.assignedClientId }),
      ...(session.serverKeepAliveS !== undefined && { serverKeepAlive: session.serverKeepAliveS }),
      ...(session.expiryChanged && { sessionExpiryInterval: session.sessionExpiryS }),
    };
  }

  /**
   * SUBACK: each refused filter's own reason code (0x87 not authorized, 0x97 quota, 0x8F invalid)
   * in place of 0x80, and their reasons as the reason string. Only this SUBSCRIBE's filters are
   * taken: a pipelined SUBSCRIBE's refusals may be recorded already.
   */
  private suback(packet: ISubackPacket): Buffer | null {
    const messageId = packet.messageId ?? 0;
    const filters = this.session.pendingSubscribes.get(messageId) ?? [];
    this.session.pendingSubscribes.delete(messageId);
    const reasons: string[] = [];
    const granted = (packet.granted as number[]).map((code, k) => {
      const filter = filters[k];
      const refusal = filter === undefined ? undefined : this.session.subscribeRefusals.get(filter);
      if (filter !== undefined) this.session.subscribeRefusals.delete(filter);
      if (code !== 0x80 || !refusal) return code;
      reasons.push(refusal.reason);
      return refusal.reasonCode;
    });
    const explained = reasons.length > 0 && this.session.mayExplain('suback');
    return this.explained({ ...packet, granted, properties: explained ? { reasonString: [...new Set(reasons)].join('; ') } : {} });
  }

  private unsubackReasons(messageId: number): number[] {
    const count = this.session.pendingUnsubscribes.get(messageId) ?? 1;
    this.session.pendingUnsubscribes.delete(messageId);
    return new Array<number>(count).fill(0);
  }

  /**
   * A packet that may carry a Reason String and user properties: sent without them when they would
   * take it over the client's Maximum Packet Size (MQTT-3.2.2-19, -3.4.2-2, -3.5.2-2, -3.9.2-1, -3.14.2-3).
   */
  private explained(packet: Packet): Buffer | null {
    const frame = this.generate(packet);
    const properties = (packet as { properties?: Record<string, unknown> }).properties;
    if (!frame || frame.length <= this.session.peer.maximumPacketSize || !properties) return frame;
    const { reasonString: _reason, userProperties: _user, ...rest } = properties;
    return this.generate({ ...packet, properties: rest } as Packet);
  }

  private generate(packet: Packet): Buffer | null {
    try {
      return mqttPacket.generate(packet, V5);
    } catch {
      // mqtt-packet refuses what MQTT 5 cannot carry (it reports through an 'error' it throws here).
      return null;
    }
  }
}
