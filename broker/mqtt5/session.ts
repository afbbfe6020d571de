import { randomUUID } from 'node:crypto';
import type { IConnectPacket } from 'mqtt-packet';

/** What this server announces in every MQTT 5 CONNACK and holds its clients to. */
export interface ServerLimits {
  /** QoS 1/2 publishes a client may have unacknowledged (MQTT_RECEIVE_MAXIMUM). */
  receiveMaximum: number;
  /** QoS 1/2 deliveries that wait for a place in the client's Receive Maximum (MQTT_MAX_QUEUED_MESSAGES). */
  maxQueuedMessages: number;
  /** Largest packet accepted (MQTT_MAX_PACKET). */
  maximumPacketSize: number;
  /** Keepalive a client is held to when it asks for none or more (MQTT_MAX_KEEPALIVE_S). */
  maxKeepaliveS: number;
  /** Longest Session Expiry Interval granted (MQTT_SESSION_EXPIRY_S). */
  maxSessionExpiryS: number;
  /** Shared subscriptions ($share/…) are served. */
  sharedSubscriptions: boolean;
}

/** What the client asked for in its CONNECT (MQTT 5 §3.1.2.11), defaults applied. */
export interface PeerLimits {
  receiveMaximum: number;
  /** Largest packet the client accepts: a delivery over it is not sent (MQTT-3.1.2-25). */
  maximumPacketSize: number;
  /** Outbound topic aliases the client accepts (0: none). */
  topicAliasMaximum: number;
  /** False: reason strings and user properties only on CONNACK and DISCONNECT (MQTT-3.1.2-29). */
  problemInformation: boolean;
}

/** A refusal's MQTT 5 reason code and the text the client sees as its Reason String. */
export interface Refusal {
  reasonCode: number;
  reason: string;
  /** User properties sent with the reason string (e.g. a chat error's `code`). */
  userProperties?: Record<string, string>;
}

/**
 * The CONNECT user property with which a client lowers its own tick rate: at most this many writes
 * carrying ticks per second, each with the latest tick of every symbol that changed (Lightstreamer's
 * max frequency, per connection). From 0.1 to 1000; absent, as often as the write window allows.
 */
export const MAX_TICK_RATE_PROPERTY = 'max-tick-rate';
const MAX_TICK_RATE = { min: 0.1, max: 1000 };

/** The `max-tick-rate` a CONNECT asks for: a number, undefined when absent, or the problem with it. */
export function requestedTickRate(props: IConnectPacket['properties']): number | undefined | { invalid: string } {
  const raw = props?.userProperties?.[MAX_TICK_RATE_PROPERTY];
  if (raw === undefined) return undefined;
  const text = Array.isArray(raw) ? raw.join(',') : raw;
  const rate = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (rate >= MAX_TICK_RATE.min && rate <= MAX_TICK_RATE.max) return rate;
  return {
    invalid: `max-tick-rate must be one number of ticks per second from ${MAX_TICK_RATE.min} to ${MAX_TICK_RATE.max}, not "${text.slice(0, 32)}"`,
  };
}

/** Protocol level 5 in a CONNECT. */
export function isMqtt5Connect(packet: { protocolVersion?: number }): boolean {
  return packet.protocolVersion === 5;
}

/**
 * One MQTT 5 connection's protocol state: what its CONNECT asked for, what the server granted, and
 * the reasons refusals carry. Aedes runs MQTT 3.1.1 semantics underneath; this is what turns them
 * into MQTT 5 on the way out (encoder.ts) and what the hooks consult on the way in.
 */
export class Mqtt5Session {
  readonly peer: PeerLimits;
  /** Clean Start (MQTT 5 §3.1.2.4): only discards an existing session; expiry says how long this one lives. */
  readonly cleanStart: boolean;
  /** Session Expiry Interval granted (s): the requested one, at most the server's. 0: ends with the connection. */
  sessionExpiryS: number;
  /** Set when the server made up the client id (MQTT-3.2.2-16: sent back in the CONNACK). */
  assignedClientId: string | undefined;
  /** Set when the client's keepalive was not the server's to accept (MQTT-3.2.2-21). */
  serverKeepAliveS: number | undefined;
  /** Why the CONNECT was refused, when it was (the CONNACK's reason code and string). */
  refusal: Refusal | undefined;
  /** The client's own maximum tick rate (writes with ticks per second), or why its request was refused. */
  readonly maxTickRate: number | undefined | { invalid: string };
  /** Why filters of a SUBSCRIBE were refused, by filter, until its SUBACK is written. */
  readonly subscribeRefusals = new Map<string, Refusal>();
  /** Each SUBSCRIBE's filters in order and each UNSUBSCRIBE's count, by packet id, until answered. */
  readonly pendingSubscribes = new Map<number, string[]>();
  readonly pendingUnsubscribes = new Map<number, number>();
  /** Why publishes Aedes acknowledges (PUBACK/PUBREC) were refused, by packet id, until that ack is written. */
  readonly publishRefusals = new Map<number, Refusal>();
  /**
   * Called once a PUBREC refusing a QoS 2 publish is written: MQTT 5 ends that exchange there (no
   * PUBREL follows, MQTT 5 §4.3.3), so what the PUBREL would have released is released now.
   */
  endRefusedQoS2: ((messageId: number) => void) | undefined;
  /** Subscription Identifier of each filter that has one (restored with a resumed session's subscriptions). */
  readonly subscriptionIds = new Map<string, number>();
  /** Filters subscribed with Retain As Published: live ticks keep their RETAIN flag (the wire layer's frames clear it). */
  readonly retainAsPublished = new Set<string>();
  /** Filters of SUBSCRIBEs being handled whose retained messages are not sent (Retain Handling 1 and 2). */
  readonly retainWithheld = new Set<string>();
  /** QoS 1/2 publishes from the client not yet answered with PUBACK or PUBCOMP (held to server.receiveMaximum). */
  private unansweredPublishes = 0;

  private constructor(
    readonly server: ServerLimits,
    packet: IConnectPacket,
    private readonly requestedExpiryS: number,
  ) {
    const props = packet.properties ?? {};
    this.peer = {
      receiveMaximum: props.receiveMaximum ?? 65_535,
      maximumPacketSize: props.maximumPacketSize ?? Number.MAX_SAFE_INTEGER,
      topicAliasMaximum: props.topicAliasMaximum ?? 0,
      problemInformation: props.requestProblemInformation ?? true,
    };
    this.cleanStart = packet.clean !== false;
    this.maxTickRate = requestedTickRate(props);
    this.sessionExpiryS = Math.min(requestedExpiryS, server.maxSessionExpiryS);
  }

  /**
   * Reads an MQTT 5 CONNECT and rewrites what Aedes (MQTT 3.1.1) must see: the client id it
   * assigns for an empty one, the keepalive it holds the client to, and `clean` meaning "keep no
   * session" (a session that expires with the connection) rather than Clean Start.
   */
  static fromConnect(packet: IConnectPacket, server: ServerLimits): Mqtt5Session {
    const session = new Mqtt5Session(server, packet, packet.properties?.sessionExpiryInterval ?? 0);
    if (packet.clientId === '') {
      session.assignedClientId = `auto-${randomUUID()}`;
      packet.clientId = session.assignedClientId;
    }
    if (!packet.keepalive || packet.keepalive > server.maxKeepaliveS) {
      session.serverKeepAliveS = server.maxKeepaliveS;
      packet.keepalive = server.maxKeepaliveS;
    }
    // Aedes resumes a stored session unless `clean`: MQTT 5 resumes unless Clean Start, and keeps
    // the session afterwards only while its expiry runs (session-lifecycle removes it at 0).
    packet.clean = session.cleanStart && session.sessionExpiryS === 0;
    return session;
  }

  /** The session outlives the connection (Session Expiry Interval above 0). */
  get persistent(): boolean {
    return this.sessionExpiryS > 0;
  }

  /** A Session Expiry Interval different from the one asked for goes back in the CONNACK (MQTT 5 §3.2.2.3.2). */
  get expiryChanged(): boolean {
    return this.sessionExpiryS !== this.requestedExpiryS;
  }

  /** A subscription granted or restored: its identifier and Retain As Published as it was made. */
  recordSubscription(sub: { topic: string; subscriptionIdentifier?: number; rap?: boolean }): void {
    if (sub.subscriptionIdentifier !== undefined) this.subscriptionIds.set(sub.topic, sub.subscriptionIdentifier);
    else this.subscriptionIds.delete(sub.topic);
    if (sub.rap === true) this.retainAsPublished.add(sub.topic);
    else this.retainAsPublished.delete(sub.topic);
  }

  /**
   * A QoS 1/2 publish arrived: undefined while the client keeps within the Receive Maximum the
   * server announced, else the violation that ends the connection (MQTT-3.3.4-7: 0x93).
   */
  publishReceived(): Refusal | undefined {
    if (++this.unansweredPublishes <= this.server.receiveMaximum) return undefined;
    return { reasonCode: 0x93, reason: `more than ${this.server.receiveMaximum} QoS 1/2 publishes unacknowledged (Receive Maximum)` };
  }

  /** A PUBACK or PUBCOMP went to the client: one more publish may be in flight. */
  publishAnswered(): void {
    if (this.unansweredPublishes > 0) this.unansweredPublishes--;
  }

  /** Reason strings may go on this packet type (MQTT-3.1.2-29: only CONNACK, DISCONNECT and PUBLISH when not asked for). */
  mayExplain(cmd: string): boolean {
    return this.peer.problemInformation || cmd === 'connack' || cmd === 'disconnect';
  }
}
