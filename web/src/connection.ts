import mqtt from 'mqtt';
import type { IClientOptions, ISubscriptionGrant, MqttClient, Packet } from 'mqtt';
import type { TopicSubscriber } from './datafeed.js';

/**
 * The page's one MQTT-over-WebSocket connection. Chart, prices and chat all subscribe through it;
 * it keeps the list of wanted topics so a fresh connection (after sign-in) subscribes them again.
 * Switching identity closes the old socket completely before opening the new one, so the page
 * never holds two WebSockets.
 */

export type ConnectionState = 'connecting' | 'online' | 'offline' | 'refused';

export interface Credentials {
  clientId: string;
  username: string;
  /** The JWT, sent as the CONNECT password (docs/protocol.md#identity). */
  token: string;
}

type Handler = (payload: Uint8Array) => void;

interface Wanted {
  qos: 0 | 1;
  handlers: Set<Handler>;
}

export interface ConnectionEvents {
  state(state: ConnectionState, detail?: string): void;
  /** Every CONNACK, first and after each reconnect: the moment to fetch what was missed. */
  connected(sessionPresent: boolean): void;
  /** A subscription the broker refused (SUBACK 0x80). */
  denied(topic: string): void;
}

/**
 * MQTT 5 CONNACK reason codes meaning "these credentials will never work": stop retrying. Any other
 * refusal (0x97 too many connections, 0x88 server unavailable) is about load: retried like a drop.
 */
const REFUSED_CODES = new Set([0x86, 0x87, 0x8a, 0x8c]);
/**
 * Topic Aliases the page accepts: the server aliases `ticks/…` and `candles/…` deliveries, and
 * mqtt.js resolves them back to topic names before 'message' (docs/protocol.md#mqtt-5). A page
 * watches a handful of symbols; beyond this many topics the rest simply come unaliased.
 */
const TOPIC_ALIAS_MAXIMUM = 64;
/**
 * How long a signed-in page's session outlives its socket (s): long enough for a reload, a sleeping
 * phone or a network change to resume it, short enough that a closed tab's queue does not linger
 * for the server's maximum. Anything older the page fetches by `seq` over HTTP anyway.
 */
const SIGNED_IN_SESSION_EXPIRY_S = 600;
const SOCKET_CLOSE_WAIT_MS = 3_000;

export class MqttConnection implements TopicSubscriber {
  private client: MqttClient | undefined;
  private socket: WebSocket | undefined;
  private readonly wanted = new Map<string, Wanted>();
  /** Topics asked for on the current connection's session (sent, answered or not). */
  private readonly active = new Set<string>();
  /** Topics the broker has answered (SUBACK) on the current connection's session. */
  private readonly confirmed = new Set<string>();
  private readonly confirmWaiters = new Map<string, Set<() => void>>();
  /** Bumped by every open(): an open overtaken by a later one gives up instead of opening a second socket. */
  private epoch = 0;
  /** The close in progress (or done): a second caller waits for the same socket to go. */
  private closing: Promise<void> = Promise.resolve();

  constructor(
    private readonly url: string,
    private readonly events: ConnectionEvents,
  ) {}

  /** Opens the connection, anonymous or with a token, replacing the current one. */
  async open(credentials?: Credentials): Promise<void> {
    const epoch = ++this.epoch;
    await this.close();
    if (epoch !== this.epoch) return;
    const options: IClientOptions = {
      protocolVersion: 5,
      keepalive: 30,
      reconnectPeriod: 2_000,
      connectTimeout: 10_000,
      // A refusal about load is retried; one about the credentials is closed in onRefusal.
      reconnectOnConnackError: true,
      // Signed in: a persistent session under a stable id, so QoS 1 chat sent while the socket was
      // down is delivered on reconnect. Anonymous market data needs no session (Clean Start, expiry 0).
      clean: credentials === undefined,
      properties: {
        topicAliasMaximum: TOPIC_ALIAS_MAXIMUM,
        ...(credentials ? { sessionExpiryInterval: SIGNED_IN_SESSION_EXPIRY_S } : {}),
      },
      clientId: credentials?.clientId ?? `web-anon-${randomId()}`,
      // Subscriptions are restored by subscribeMissing, which knows what the broker confirmed.
      resubscribe: false,
      createWebsocket: (url: string, protocols: string[]) => {
        const socket = new WebSocket(url, protocols);
        if (epoch === this.epoch) this.socket = socket;
        return socket;
      },
      ...(credentials ? { username: credentials.username, password: credentials.token } : {}),
    };
    this.events.state('connecting');
    const client = mqtt.connect(this.url, options);
    this.client = client;
    this.forgetSubscriptions();

    client.on('connect', (connack) => {
      if (this.client !== client) return;
      // Without a stored session the broker has forgotten every subscription: send them all.
      if (!connack.sessionPresent) this.forgetSubscriptions();
      this.events.state('online');
      // Told once the subscriptions are live, so whatever is fetched then cannot miss a live message.
      void this.subscribeMissing(client).then(() => this.client === client && this.events.connected(connack.sessionPresent));
    });
    client.on('message', (topic, payload) => this.route(client, topic, payload));
    this.watchServerReasons(client);
  }

  /**
   * What the server says when it refuses or ends the connection: the MQTT 5 Reason String of a
   * refusing CONNACK ("token expired") or of a DISCONNECT, shown with the state that follows.
   */
  private watchServerReasons(client: MqttClient): void {
    let reason: string | undefined;
    client.on('packetreceive', (packet: Packet) => {
      if (packet.cmd === 'connack' && (packet.reasonCode ?? 0) >= 0x80) reason = packet.properties?.reasonString;
      if (packet.cmd === 'disconnect') reason = packet.properties?.reasonString ?? disconnectText(packet.reasonCode);
    });
    client.on('offline', () => {
      if (this.client === client) this.events.state('offline', reason);
      reason = undefined;
    });
    client.on('error', (err: Error & { code?: number }) => {
      if (this.client !== client || typeof err.code !== 'number' || !REFUSED_CODES.has(err.code)) return;
      // Closed first, so whatever the page does about the refusal starts from no connection.
      void this.close();
      this.events.state('refused', reason ?? err.message);
    });
  }

  /** Closes the connection and waits until its WebSocket is really gone. */
  async close(): Promise<void> {
    const client = this.client;
    const socket = this.socket;
    this.client = undefined;
    this.socket = undefined;
    if (client) {
      client.removeAllListeners('connect');
      client.end(true);
      this.closing = socketGone(socket);
    }
    return this.closing;
  }

  subscribe(topic: string, onMessage: (payload: Uint8Array) => void, qos: 0 | 1 = 0): () => void {
    let entry = this.wanted.get(topic);
    if (!entry) {
      entry = { qos, handlers: new Set() };
      this.wanted.set(topic, entry);
      if (this.client) void this.subscribeMissing(this.client);
    }
    const handler: Handler = (payload) => onMessage(payload);
    entry.handlers.add(handler);
    const current = entry;
    return () => {
      current.handlers.delete(handler);
      if (current.handlers.size > 0 || this.wanted.get(topic) !== current) return;
      this.wanted.delete(topic);
      this.active.delete(topic);
      this.confirmed.delete(topic);
      if (this.client?.connected) this.client.unsubscribe(topic);
    };
  }

  /**
   * Resolves once the broker has answered the subscription to `topic` on the current connection,
   * or after `timeoutMs` (a page that fetches history after this sees no gap between the two).
   */
  subscribed(topic: string, timeoutMs = 5_000): Promise<void> {
    if (this.confirmed.has(topic)) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.confirmWaiters.get(topic) ?? new Set<() => void>();
      this.confirmWaiters.set(topic, waiters);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      waiters.add(done);
    });
  }

  /** Publishes; with QoS 1 it resolves once the broker has stored and acknowledged it. */
  publish(topic: string, body: unknown, qos: 0 | 1): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      client.publish(topic, JSON.stringify(body), { qos }, (err) => (err ? reject(err) : resolve()));
    });
  }

  private forgetSubscriptions(): void {
    this.active.clear();
    this.confirmed.clear();
  }

  /**
   * Subscribes every wanted topic not asked for yet on this session (sent only while connected);
   * resolves when the broker has answered, or at once when nothing was missing.
   */
  private subscribeMissing(client: MqttClient): Promise<void> {
    if (!client.connected) return Promise.resolve();
    const map: Record<string, { qos: 0 | 1 }> = {};
    for (const [topic, { qos }] of this.wanted) if (!this.active.has(topic)) map[topic] = { qos };
    if (Object.keys(map).length === 0) return Promise.resolve();
    for (const topic of Object.keys(map)) this.active.add(topic);
    const topics = Object.keys(map);
    return new Promise((resolve) => {
      client.subscribe(map, (err, granted, suback) => {
        resolve();
        if (client !== this.client) return;
        const codes = subackCodes(topics, err, granted, suback);
        if (!codes) {
          // Lost with the connection: the next CONNACK sends them again.
          for (const topic of topics) this.active.delete(topic);
          return;
        }
        for (const [topic, code] of codes) {
          // A refusal (0x80 and up: 0x87 not authorized, 0x97 quota exceeded) is an answer too,
          // asked again only on a new connection.
          if (code >= 0x80) this.events.denied(topic);
          this.confirm(topic);
        }
      });
    });
  }

  private confirm(topic: string): void {
    this.confirmed.add(topic);
    const waiters = this.confirmWaiters.get(topic);
    if (!waiters) return;
    this.confirmWaiters.delete(topic);
    for (const done of waiters) done();
  }

  private route(client: MqttClient, topic: string, payload: Uint8Array): void {
    const entries = this.entriesFor(topic);
    if (entries.length === 0) {
      // A resumed session may still carry a subscription this page no longer wants.
      if (client === this.client) client.unsubscribe(topic);
      return;
    }
    for (const entry of entries) for (const handler of entry.handlers) handler(payload);
  }

  /** The exact subscription for a topic or, failing that, the wildcard filters it matches. */
  private entriesFor(topic: string): Wanted[] {
    const exact = this.wanted.get(topic);
    if (exact) return [exact];
    return [...this.wanted].filter(([filter]) => filterMatches(filter, topic)).map(([, entry]) => entry);
  }
}

/** A SUBACK as mqtt.js hands it over (mqtt-packet's shape). */
interface Suback {
  cmd: string;
  granted: (number | object)[];
}

/**
 * Each filter's SUBACK code, or undefined when the SUBSCRIBE went unanswered. mqtt.js answers an
 * MQTT 5 SUBACK refusing any filter with an error, the SUBACK beside it: that is an answer too.
 */
function subackCodes(
  topics: string[],
  err: Error | null,
  granted: ISubscriptionGrant[] | undefined,
  suback: Suback | undefined,
): Map<string, number> | undefined {
  if (!err) return new Map((granted ?? []).map((g) => [g.topic, g.qos]));
  const answered = suback ?? (err as { packet?: Suback }).packet;
  if (answered?.cmd !== 'suback') return undefined;
  return new Map(topics.map((topic, i) => [topic, typeof answered.granted[i] === 'number' ? answered.granted[i] : 0x80]));
}

/** A DISCONNECT without a Reason String, in words (MQTT 5 §3.14.2.1). */
function disconnectText(code: number | undefined): string | undefined {
  const texts: Record<number, string> = {
    0x87: 'not authorized',
    0x8b: 'server shutting down',
    0x8e: 'session taken over',
    0x93: 'receive maximum exceeded',
    0x95: 'packet too large',
    0x96: 'message rate too high',
  };
  return code === undefined || code === 0 ? undefined : (texts[code] ?? `reason 0x${code.toString(16)}`);
}

/** MQTT-4.7: `+` matches one level, a trailing `#` the rest. */
export function filterMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes]
    .map((b) => b.toString(36).padStart(2, '0'))
    .join('')
    .slice(0, 12);
}

/** `ws(s)://<this host>/mqtt`: the broker listens on the page's own origin. */
export function brokerUrl(location: Location): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`;
}

/** Resolves once the WebSocket has really closed (or after SOCKET_CLOSE_WAIT_MS). */
function socketGone(socket: WebSocket | undefined): Promise<void> {
  if (!socket || socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, SOCKET_CLOSE_WAIT_MS);
    socket.addEventListener('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
