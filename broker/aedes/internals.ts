import type { Duplex } from 'node:stream';
import type { Aedes, Client, PublishPacket } from 'aedes';

/**
 * The fence around Aedes: the rest of the broker names Aedes' types through this module, and every
 * internal of Aedes ticktalk reads or replaces is declared here and checked at start
 * (checkAedesInternals, checkAedesClient). The views are written for this exact version (package.json
 * pins it); a different one fails at start, naming the internal, instead of delivering wrongly.
 */
export const PINNED_AEDES_VERSION = '1.2.0';

export type { Aedes, AedesOptions, Client, PublishPacket, Subscription } from 'aedes';

/** A message as Aedes hands it between its emitter, its persistence and its clients (aedes-packet). */
export interface InternalPacket {
  cmd: string;
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain: boolean;
  dup?: boolean;
  messageId?: number;
  /** Set by aedes-packet: with brokerCounter, the identity of a message across its copies. */
  brokerId?: string | null;
  brokerCounter?: number;
  clientId?: string;
  /** MQTT 5 no-local, read by Aedes' delivery. */
  nl?: boolean;
  /** MQTT 5 publish properties, kept by aedes-packet and passed to MQTT 5 receivers (broker/mqtt5). */
  properties?: Record<string, unknown>;
  /** Absolute expiry (UTC ms) of a publish sent with a Message Expiry Interval (aedes-packet keeps it). */
  messageExpiry?: number;
}

/** A persistent session's subscription, as the session store lists them. */
export interface StoredSubscription {
  clientId: string;
  topic: string;
  qos: number;
}

/** Aedes' session store (aedes-persistence, aedes-persistence-redis): the calls ticktalk makes or replaces. */
export interface PersistenceInternals {
  addSubscriptions(client: Client, subs: { topic: string; qos: number }[]): Promise<unknown>;
  subscriptionsByTopic(topic: string): Promise<StoredSubscription[]>;
  outgoingEnqueueCombi(subs: StoredSubscription[], packet: InternalPacket): Promise<unknown>;
  outgoingEnqueue(sub: StoredSubscription, packet: InternalPacket): Promise<unknown>;
  outgoingStream(client: Client): AsyncIterable<InternalPacket>;
  outgoingUpdate(client: Client, packet: InternalPacket): Promise<unknown>;
  outgoingClearMessageId(client: Client, packet: { messageId?: number }): Promise<unknown>;
  storeRetained(packet: InternalPacket): Promise<void>;
  /** Retained messages matching any of the filters (Aedes reads them on SUBSCRIBE). */
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<InternalPacket> & NodeJS.ReadableStream;
  /** Removes a session's subscriptions (on every node, through the broadcast in Redis). */
  cleanSubscriptions(client: Pick<Client, 'id'>): Promise<unknown>;
  /** A QoS 2 message received from the client and not yet released (PUBREL); rejects when there is none. */
  incomingGetPacket(client: Client, packet: { messageId?: number }): Promise<unknown>;
  /** Forgets a received QoS 2 message (Aedes' PUBREL handler). */
  incomingDelPacket(client: Client, packet: { messageId?: number }): Promise<unknown>;
}

/** Aedes' message emitter (mqemitter, mqemitter-redis). */
export interface EmitterInternals {
  emit(packet: InternalPacket, cb?: (err?: Error) => void): unknown;
}

/**
 * Aedes' broker object beyond its typed API (aedes.js). Events relied on besides the typed ones:
 * 'client' (lib: _finishRegisterClient), 'clientReady' (lib/handlers/connect.js init, after the
 * queue is sent) and 'ack', which the wire layer emits for the PUBACKs it takes.
 */
export interface AedesInternals {
  persistence: PersistenceInternals;
  mq: EmitterInternals;
  published(packet: InternalPacket, client: Client | null, done: () => void): void;
  closed: boolean;
  clients: Record<string, Client>;
  /** Takes over a connected client of the same id on this node (closes it), then lists the new one (aedes.js). */
  registerClient(client: Client): void;
  /** Publishes as `client` (null: the broker), as a will is (aedes.js publish; typed without `client`). */
  publish(packet: PublishPacket, client: Client | null, done: (err?: Error) => void): void;
  authorizeForward(client: Client, packet: InternalPacket): InternalPacket | null | undefined | void;
  /** Listens on the emitter for `topic` (replaced for `$share/` filters: shared-subscriptions.ts). */
  subscribe(topic: string, func: Deliver, done?: (err?: Error) => void): void;
  unsubscribe(topic: string, func: Deliver, done?: (err?: Error) => void): void;
  emit(event: string, ...args: unknown[]): boolean;
}

export type Deliver = (packet: InternalPacket, cb: () => void) => void;

/** Aedes' client object (lib/client.js) beyond its typed API. */
export interface ClientInternals {
  id: string;
  clean: boolean;
  connecting: boolean;
  connected: boolean;
  _nextId: number;
  /** Packet ids of received QoS 2 messages awaiting their PUBREL (bounded by maxInflightInbound). */
  _inboundInflight: Set<number>;
  /** Highest brokerCounter delivered per broker id (Aedes' de-duplication). */
  duplicates: Record<string, number>;
  subscriptions: Record<string, { qos: number } | undefined>;
  conn: Duplex;
  _keepaliveTimer: { refresh(): void } | null;
  /** mqtt-packet's parser: its input buffer (bl) and the CONNECT packet it keeps as settings. */
  _parser: { _list: { length: number }; settings: object; prependListener(event: 'packet', listener: (packet: never) => void): unknown };
  /** The functions each subscription captures when it is made (lib/handlers/subscribe.js addSubs). */
  deliver0: Deliver;
  deliverQoS: Deliver;
  broker: AedesInternals;
  emit(event: 'error', err: Error): boolean;
}

/** The typed view of a broker's internals (no cost: a cast). */
export function aedesInternals(aedes: Aedes): AedesInternals {
  return aedes as unknown as AedesInternals;
}

/** The typed view of a client's internals (no cost: a cast). */
export function clientInternals(client: Client): ClientInternals {
  return client as unknown as ClientInternals;
}

type Kind = 'function' | 'object' | 'boolean' | 'number';
type Shape = readonly (readonly [path: string, kind: Kind])[];

const BROKER_SHAPE: Shape = [
  ['persistence', 'object'],
  ['persistence.addSubscriptions', 'function'],
  ['persistence.subscriptionsByTopic', 'function'],
  ['persistence.outgoingEnqueueCombi', 'function'],
  ['persistence.outgoingEnqueue', 'function'],
  ['persistence.outgoingStream', 'function'],
  ['persistence.outgoingUpdate', 'function'],
  ['persistence.outgoingClearMessageId', 'function'],
  ['persistence.storeRetained', 'function'],
  ['persistence.createRetainedStreamCombi', 'function'],
  ['persistence.cleanSubscriptions', 'function'],
  ['persistence.incomingGetPacket', 'function'],
  ['persistence.incomingDelPacket', 'function'],
  ['mq', 'object'],
  ['mq.emit', 'function'],
  ['published', 'function'],
  ['closed', 'boolean'],
  ['clients', 'object'],
  ['registerClient', 'function'],
  ['publish', 'function'],
  ['authorizeForward', 'function'],
  ['subscribe', 'function'],
  ['unsubscribe', 'function'],
];

/** Checked on a client before its CONNECT is handled (the fields exist from Aedes' Client constructor). */
const CLIENT_SHAPE: Shape = [
  ['clean', 'boolean'],
  ['connecting', 'boolean'],
  ['connected', 'boolean'],
  ['_nextId', 'number'],
  ['_inboundInflight', 'object'],
  ['duplicates', 'object'],
  ['subscriptions', 'object'],
  ['conn', 'object'],
  ['_parser', 'object'],
  ['_parser._list', 'object'],
  ['_parser.settings', 'object'],
  ['_parser.prependListener', 'function'],
  ['deliver0', 'function'],
  ['deliverQoS', 'function'],
  ['broker', 'object'],
  ['emit', 'function'],
];

/** `_keepaliveTimer` is null until CONNECT: only its presence can be checked. */
const CLIENT_FIELDS_PRESENT = ['_keepaliveTimer'] as const;

/** Throws, naming the internal, when the broker lacks one ticktalk relies on. Once, at start. */
export function checkAedesInternals(aedes: Aedes): void {
  checkShape(aedes, 'broker', BROKER_SHAPE, aedes);
}

/** The same for a client object; the broker checks its first client (see hooks/connect.ts). */
export function checkAedesClient(client: Client): void {
  const c = clientInternals(client);
  checkShape(client, 'client', CLIENT_SHAPE, c.broker as unknown as Aedes);
  for (const field of CLIENT_FIELDS_PRESENT) if (!(field in client)) throw shapeError(`client.${field}`, 'present', c.broker as unknown as Aedes);
}

function checkShape(target: object, name: string, shape: Shape, aedes: Aedes): void {
  for (const [path, kind] of shape) {
    const value = path
      .split('.')
      .reduce<unknown>((at, key) => (at === null || at === undefined ? undefined : (at as Record<string, unknown>)[key]), target);
    const actual = value === null ? 'null' : typeof value;
    if (actual !== kind) throw shapeError(`${name}.${path}`, `a ${kind}, found ${actual}`, aedes);
  }
}

function shapeError(internal: string, expected: string, aedes: Aedes | undefined): Error {
  const running = (aedes as { version?: unknown } | undefined)?.version;
  return new Error(
    `Aedes internal ${internal} is not as ticktalk expects (${expected}): the broker overrides are written for aedes ${PINNED_AEDES_VERSION}` +
      ` (running ${typeof running === 'string' ? running : 'an unknown version'}); see broker/aedes/internals.ts and broker/README.md`,
  );
}
