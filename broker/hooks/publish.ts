import type { PublishOrigin } from '../aedes/qos-forward.js';
import { TOPIC_FAMILIES, topicFamily, type TopicFamily } from '../../protocol/topics.js';
import type { Logger } from '../../platform/logger.js';
import type { Metrics } from '../../platform/metrics.js';
import type { Aedes, AedesOptions, Client, PublishPacket } from '../aedes/internals.js';
import { DROPPED_TOPIC, drop } from '../aedes/dropped.js';
import { ownerOf, type ClientAccess } from '../client-access.js';
import { isRefused, type BrokerExtension, type ClientPublish, type PublishRefusal, type PublishVerdict } from '../extensions.js';
import { publishRefusal } from '../mqtt5/reasons.js';
import type { Refusal } from '../mqtt5/session.js';
import { mqtt5SessionOf } from './mqtt5-connect.js';
import type { Forwarder } from '../wire/wire-layer.js';
import { refusePublishProperties } from './mqtt5-publish.js';

type Counter = { inc(): void };
type Decision = Refused | 'as-is' | Promise<PublishVerdict>;
type Refused = { refused: PublishRefusal };

/**
 * PUBLISH from clients: the ACL, then the extension owning the topic, decide each one, whether the
 * wire layer took it off the wire (intakePublish) or Aedes parsed it (authorizePublish).
 */
export class PublishHooks {
  private readonly out: Record<TopicFamily, Counter>;
  private readonly incoming: Record<TopicFamily, Counter>;
  private readonly ticksRejected: Record<'qos2' | 'bypass', Counter>;

  constructor(
    private readonly access: ClientAccess,
    private readonly extensions: readonly BrokerExtension[],
    metrics: Metrics,
    private readonly log: Logger,
  ) {
    const outCounter = metrics.counter('mqtt_messages_out_total', 'Messages delivered to MQTT clients', ['family']);
    const inCounter = metrics.counter('mqtt_messages_in_total', 'Messages published into the broker', ['family']);
    this.out = Object.fromEntries(TOPIC_FAMILIES.map((f) => [f, outCounter.labels(f)])) as never;
    this.incoming = Object.fromEntries(TOPIC_FAMILIES.map((f) => [f, inCounter.labels(f)])) as never;
    // The wire layer's counter (one metric for every refused feed tick).
    const rejected = metrics.counter('ticks_rejected_total', 'Tick publishes from feed clients refused', ['reason']);
    this.ticksRejected = { qos2: rejected.labels('qos2'), bypass: rejected.labels('bypass') };
  }

  /** Extension topic prefixes the wire layer takes off this client's wire: none for anonymous clients. */
  readonly intakePrefixes = (client: Client): string[] => {
    if (!this.access.get(client)?.who) return [];
    return this.extensions.flatMap((e) => [...e.publishPrefixes]);
  };

  /**
   * A QoS 1 publish the wire layer took off the wire: decided as authorizePublish would, then
   * forwarded (offline sessions, subscribers, the cluster) and acknowledged as QoSForwarder orders it.
   */
  readonly intakePublish = (client: Client, publish: ClientPublish, settle: (err?: Error, refusal?: Refusal) => void, forwarder: Forwarder): void => {
    // What Aedes' own PUBLISH handling would close the connection for (MQTT-3.3.2-2, MQTT-4.7.3-2).
    const malformed = malformedTopicName(publish.topic);
    if (malformed) return settle(new Error(malformed));
    const decision = this.decide(client, () => publish);
    // Chat keeps none of the client's MQTT 5 properties, expiry included (docs/protocol.md#properties).
    const origin = { publisherId: client.id };
    if (decision === 'as-is') return this.forward(forwarder, publish.topic, publish.payload, settle, origin);
    if (!(decision instanceof Promise)) return settle(undefined, publishRefusal(decision.refused));
    decision.then(
      (verdict) => {
        if (verdict === null) return settle();
        if (isRefused(verdict)) return settle(undefined, publishRefusal(verdict.refused));
        this.forward(forwarder, publish.topic, verdict, settle, origin);
      },
      (err: Error) => settle(this.extensionFailed(err, client, publish.topic)),
    );
  };

  /** What the wire layer does not take (QoS 0 and 2, anonymous clients, oversized frames) comes here. */
  readonly authorizePublish: Required<AedesOptions>['authorizePublish'] = (client, packet, done) => {
    if (!client) return done(this.ownerlessWill(packet));
    // Aedes checked the rest of the name already; U+0000 is the one it lets through.
    const malformed = malformedTopicName(packet.topic);
    if (malformed) return done(new Error(malformed));
    if (packet.properties !== undefined && this.refusedForProperties(client, packet)) return done(drop(packet));
    const decision = this.decide(client, () => ({
      topic: packet.topic,
      payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
      qos: packet.qos,
      retain: packet.retain,
    }));
    if (decision === 'as-is') return done(this.bypassesTickIntake(packet) ? drop(packet) : null);
    if (!(decision instanceof Promise)) return done(refuse(client, packet, decision.refused));
    decision.then(
      (verdict) => {
        if (verdict === null) return done(drop(packet));
        if (isRefused(verdict)) return done(refuse(client, packet, verdict.refused));
        packet.payload = verdict;
        done(null);
      },
      (err: Error) => done(this.extensionFailed(err, client, packet.topic)),
    );
  };

  /** An MQTT 5 publish the ACL allows, refused for its properties (see refusePublishProperties). */
  private refusedForProperties(client: Client, packet: PublishPacket): boolean {
    const st = this.access.get(client);
    // The ACL's own refusal (in decide) comes first.
    if (!st || !this.access.mayPublish(client, st, packet.topic)) return false;
    const refusal = refusePublishProperties(this.access, client, packet, this.extensionFor(packet.topic) !== undefined);
    if (!refusal) return false;
    if (refusal.reasonCode === 0x87) this.access.refused('publish');
    this.log.debug({ client: client.id, topic: packet.topic, reason: refusal.reason }, 'MQTT 5 publish refused for its properties');
    return true;
  }

  /**
   * With no client, Aedes is publishing the will of a client another node held when it died (its
   * will sweep). Only the owner's user id is known here (in the owned client id), not their roles:
   * the will goes out only where that owner may leave one (ClientAccess.mayLeaveWill asks role-free
   * rules only) and no extension would have to stamp it; anything else is dropped.
   */
  private ownerlessWill(packet: PublishPacket & { clientId?: string }): null {
    const { topic, clientId = '' } = packet;
    const owner = ownerOf(clientId);
    const stampless = malformedTopicName(topic) === null && !this.extensionFor(topic);
    if (owner !== undefined && stampless && this.access.mayLeaveWill(owner, clientId, topic)) return null;
    this.access.refused('publish');
    this.log.warn({ topic, client: clientId }, "dropped a dead node's will: its owner could not publish it");
    return drop(packet);
  }

  /** Every delivery Aedes makes (live QoS 0/1, retained on SUBSCRIBE, a resumed queue) passes here. */
  readonly authorizeForward: Required<AedesOptions>['authorizeForward'] = (client, packet) => {
    if (!this.access.mayReceive(client, packet.topic)) return null;
    this.out[topicFamily(packet.topic)].inc();
    return packet;
  };

  /** Counts what clients published through Aedes (the intake counts its own in forward). */
  countPublishes(aedes: Aedes): void {
    aedes.on('publish', (packet, client) => {
      if (client && packet.topic !== DROPPED_TOPIC) this.incoming[topicFamily(packet.topic)].inc();
    });
  }

  /**
   * The wire layer validates every feed tick it takes (QoS 0 and 1 within maxTickFrame); a `ticks/`
   * publish reaching Aedes is one it did not take (QoS 2; `bypass`: a frame over the bound, a will)
   * and would be forwarded and retained unvalidated: it is acked and dropped, counted like the wire
   * layer's refusals.
   */
  private bypassesTickIntake(packet: { topic: string; qos: number }): boolean {
    if (topicFamily(packet.topic) !== 'ticks') return false;
    this.ticksRejected[packet.qos === 2 ? 'qos2' : 'bypass'].inc();
    return true;
  }

  /** The PUBACK goes once the message is queued for every persistent session (see QoSForwarder). */
  private forward(forwarder: Forwarder, topic: string, payload: Buffer, settle: (err?: Error) => void, origin: PublishOrigin): void {
    this.incoming[topicFamily(topic)].inc();
    forwarder.forward(topic, payload, settle, origin);
  }

  /**
   * The ACL, then the extension owning the topic, decide a client's publish: refused (acked and
   * dropped), forwarded as sent (no extension owns it), or the extension's verdict: the payload to
   * forward, null to ack and drop, a refusal, a rejection for "not handled" (see extensionFailed).
   */
  private decide(client: Client, publish: () => ClientPublish): Decision {
    const st = this.access.get(client);
    const { topic } = publish();
    const ext = this.extensionFor(topic);
    if (!st || !this.access.mayPublish(client, st, topic)) {
      // Acknowledge and drop, as Mosquitto does for MQTT 3.1.1; the owning extension may explain.
      this.access.refused('publish');
      const explained = st?.who ? ext?.onDeniedPublish?.(this.access.info(client), publish()) : undefined;
      return { refused: explained ?? { kind: 'not authorized', message: `not authorized to publish on ${topic}` } };
    }
    if (!ext) return 'as-is';
    return ext.onClientPublish(this.access.info(client), publish());
  }

  private extensionFor(topic: string): BrokerExtension | undefined {
    return this.extensions.find((e) => e.publishPrefixes.some((p) => topic.startsWith(p)));
  }

  /**
   * PUBACK means stored: when the extension could not do its work, no ack is sent and the
   * connection closes, so the client retransmits instead of believing it delivered.
   */
  private extensionFailed(err: Error, client: Client, topic: string): Error {
    this.log.error({ err, topic, client: client.id }, 'publish extension failed; closing without PUBACK');
    return err;
  }
}

/**
 * A publish Aedes acknowledges and drops: an MQTT 5 client's PUBACK (QoS 1) or PUBREC (QoS 2)
 * carries the refusal's reason (recorded by packet id for the encoder). Returns null for `done`.
 */
function refuse(client: Client, packet: PublishPacket, refused: PublishRefusal): null {
  const session = packet.qos > 0 && packet.messageId !== undefined ? mqtt5SessionOf(client) : undefined;
  if (session) session.publishRefusals.set(packet.messageId!, publishRefusal(refused));
  return drop(packet);
}

const AEDES_MAX_TOPIC_LEVELS = 100;

/** Why a PUBLISH topic name breaks MQTT 3.1.1 (or Aedes' level bound), or null when it does not. */
export function malformedTopicName(topic: string): string | null {
  if (topic.length === 0) return 'empty topic name';
  if (topic.includes('#') || topic.includes('+')) return 'wildcard in a topic name';
  if (topic.includes('\u0000')) return 'topic name contains U+0000';
  // Aedes' default bound on topic levels (100): only a name that long can exceed it.
  if (topic.length >= AEDES_MAX_TOPIC_LEVELS && topic.split('/').length > AEDES_MAX_TOPIC_LEVELS) return 'topic has too many levels';
  return null;
}
