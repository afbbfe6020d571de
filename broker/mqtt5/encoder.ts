import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { covers } from '../topic-filter.js';
import { frameLength, readPublish } from '../wire/mqtt-frame.js';
import { aliasedPublishFrame } from './frames.js';
import { tickExpiry } from '../wire/tick-expiry.js';
import { retainedExtras } from '../aedes/retained-expiry.js';
import type { Mqtt5Session } from './session.js';

const V5 = { protocolVersion: 5 } as const;

/** Topic families whose deliveries get outbound Topic Aliases: few topics, very many messages. */
const ALIASED_PREFIXES = ['ticks/', 'candles/'];

/** MQTT 3.1.1 CONNACK return codes (what Aedes writes) as MQTT 5 reason codes (§3.2.2.2). */
const CONNACK_REASONS: Record<number, number> = { 0: 0x00, 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };

/** Publish properties a receiver gets as the publisher sent them (MQTT-3.3.2-4, -15, -16, -17, -20). */
const PASSED_PROPERTIES = ['payloadFormatIndicator', 'responseTopic', 'correlationData', 'userProperties', 'contentType'] as const;

/** A message in Aedes' hands: aedes-packet keeps a publisher's `properties` and the absolute `messageExpiry` (ms). */
type RoutedPublish = IPublishPacket & { messageExpiry?: number };

/** A retained message as Aedes sends it on SUBSCRIBE, with the expiry and properties it dropped (see retained-expiry.ts). */
function withRetainedExtras(packet: RoutedPublish): RoutedPublish {
  if (packet.messageExpiry !== undefined || packet.properties !== undefined || typeof packet.payload === 'string') return packet;
  const extras = retainedExtras(packet.payload);
  return extras ? { ...packet, ...extras } : packet;
}

/**
 * Deliveries not sent: over the client's Maximum Packet Size (MQTT-3.1.2-25), or their Message
 * Expiry Interval ran out while they waited (MQTT-3.3.2-5).
 */
export interface EncoderStats {
  withheld(reason: 'oversize' | 'expired'): void;
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
        return this.generate({
          ...packet,
          reasonCode: this.connackReason(packet.returnCode ?? 0),
          properties: this.connackProperties(packet.returnCode ?? 0),
        });
      case 'suback':
        return this.generate({
          ...packet,
          granted: this.subackReasons(packet.messageId ?? 0, packet.granted as number[]),
          properties: this.subackProperties(),
        });
      case 'unsuback':
        return this.generate({ ...packet, granted: this.unsubackReasons(packet.messageId ?? 0) });
      case 'puback':
      case 'pubcomp':
        this.session.publishAnswered();
        return this.generate({ ...packet, reasonCode: packet.reasonCode ?? 0 });
      case 'pubrec':
      case 'pubrel':
        return this.generate({ ...packet, reasonCode: packet.reasonCode ?? 0 });
      default:
        return this.generate(packet);
    }
  }

  /**
   * Tick frames the wire layer built once for every subscriber (MQTT 3.1.1 QoS 0 PUBLISH, back to
   * back) as this client's MQTT 5 frames. Called when they are written, so an alias is always
   * introduced (topic and alias) before a frame uses it alone.
   */
  tickFrames(batch: Buffer): Buffer {
    const frames: Buffer[] = [];
    const deadlines = tickExpiry.of(batch);
    let at = 0;
    for (let k = 0; at < batch.length; k++) {
      const length = frameLength(batch.subarray(at));
      if (length < 0) break;
      const publish = readPublish(batch.subarray(at, at + length));
      at += length;
      if (publish === null) continue;
      const expiryS = this.remainingS(typeof deadlines === 'number' ? deadlines : deadlines?.[k]);
      if (expiryS === 0) continue;
      const frame = this.withinMaximum(this.aliasedFrame(publish.topic, publish.payload, publish.retain, expiryS));
      if (frame) frames.push(frame);
    }
    return frames.length === 1 ? frames[0] : Buffer.concat(frames);
  }

  /** Seconds left before `deadline` (ms since the epoch), undefined without one, 0 (counted withheld) once past. */
  private remainingS(deadline: number | undefined): number | undefined {
    if (deadline === undefined) return undefined;
    const remaining = Math.ceil((deadline - Date.now()) / 1000);
    if (remaining > 0) return remaining;
    this.stats.withheld('expired');
    return 0;
  }

  private aliasedFrame(topic: string, payload: Buffer, retain: boolean, expiryS: number | undefined): Buffer {
    const known = this.aliases.get(topic);
    if (known !== undefined) return aliasedPublishFrame('', payload, retain, known, expiryS);
    const alias = this.newAlias(topic);
    return aliasedPublishFrame(topic, payload, retain, alias, expiryS);
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
    for (const [filter, id] of this.session.subscriptionIds) if (covers(filter, topic)) ids.push(id);
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

  /** SUBACK: each refused filter's own reason code (0x87 not authorized, 0x97 quota, …) in place of 0x80. */
  private subackReasons(messageId: number, granted: number[]): number[] {
    const filters = this.session.pendingSubscribes.get(messageId) ?? [];
    this.session.pendingSubscribes.delete(messageId);
    return granted.map((code, k) => {
      if (code !== 0x80) return code;
      const refusal = filters[k] === undefined ? undefined : this.session.subscribeRefusals.get(filters[k]);
      return refusal?.reasonCode ?? 0x80;
    });
  }

  private subackProperties(): { reasonString?: string } {
    const reasons = [...this.session.subscribeRefusals.values()].map((r) => r.reason);
    this.session.subscribeRefusals.clear();
    return reasons.length > 0 && this.session.mayExplain('suback') ? { reasonString: [...new Set(reasons)].join('; ') } : {};
  }

  private unsubackReasons(messageId: number): number[] {
    const count = this.session.pendingUnsubscribes.get(messageId) ?? 1;
    this.session.pendingUnsubscribes.delete(messageId);
    return new Array<number>(count).fill(0);
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
