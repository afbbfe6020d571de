import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * An independent MQTT 5 client for tests: Debian's python3-paho-mqtt (1.6.1) in a child process,
 * driven over JSON lines by paho/driver.py (its module doc lists what paho leaves out and how the
 * driver recovers it). Field names are the driver's: snake_case options, paho's property names.
 */

const PYTHON = '/usr/bin/python3'; // Debian's python, where python3-paho-mqtt installs (not pyenv's)
const DRIVER = fileURLToPath(new URL('./paho/driver.py', import.meta.url));
const DEFAULT_WAIT_MS = 5000; // generous: the CI machine is shared and often loaded

/** MQTT 5 properties by paho's names; binary ones (CorrelationData, AuthenticationData) as hex. */
export interface Mqtt5Properties {
  PayloadFormatIndicator?: 0 | 1;
  MessageExpiryInterval?: number;
  ContentType?: string;
  ResponseTopic?: string;
  CorrelationData?: string;
  /** One number on SUBSCRIBE; the list of matching subscriptions' identifiers on a received message. */
  SubscriptionIdentifier?: number | number[];
  SessionExpiryInterval?: number;
  AssignedClientIdentifier?: string;
  ServerKeepAlive?: number;
  AuthenticationMethod?: string;
  AuthenticationData?: string;
  RequestProblemInformation?: 0 | 1;
  WillDelayInterval?: number;
  RequestResponseInformation?: 0 | 1;
  ResponseInformation?: string;
  ServerReference?: string;
  ReasonString?: string;
  ReceiveMaximum?: number;
  TopicAliasMaximum?: number;
  TopicAlias?: number;
  MaximumQoS?: number;
  RetainAvailable?: number;
  UserProperty?: [string, string][];
  MaximumPacketSize?: number;
  WildcardSubscriptionAvailable?: number;
  SubscriptionIdentifierAvailable?: number;
  SharedSubscriptionAvailable?: number;
}

/** A payload: `payload` as UTF-8 text, or `payload_base64` for bytes. */
export interface PahoPayload {
  payload?: string;
  payload_base64?: string;
}

export interface PahoWill extends PahoPayload {
  topic: string;
  qos?: 0 | 1 | 2;
  retain?: boolean;
  properties?: Mqtt5Properties;
}

export interface PahoConnectOptions {
  port: number;
  host?: string;
  transport?: 'tcp' | 'websockets';
  /** WebSocket path (default /mqtt). */
  path?: string;
  /** '' (the default) lets the server assign one (AssignedClientIdentifier). */
  client_id?: string;
  clean_start?: boolean;
  username?: string;
  password?: string;
  keepalive?: number;
  properties?: Mqtt5Properties;
  will?: PahoWill;
  /** Keep PUBACK/PUBREC of received QoS 1/2 messages until `releaseAcks()` (Receive Maximum tests). */
  hold_acks?: boolean;
  /** paho's own outbound in-flight window (default 20, 0 = unbounded); paho ignores the server's Receive Maximum. */
  max_inflight?: number;
  /** Skip paho's range checks on properties (send TopicAlias 0, ReceiveMaximum 0...). */
  unchecked_properties?: boolean;
}

export interface PahoSubscription {
  topic: string;
  qos?: 0 | 1 | 2;
  no_local?: boolean;
  retain_as_published?: boolean;
  retain_handling?: 0 | 1 | 2;
}

export interface PahoPublish extends PahoPayload {
  topic: string;
  qos?: 0 | 1 | 2;
  retain?: boolean;
  properties?: Mqtt5Properties;
  unchecked_properties?: boolean;
}

interface Reason {
  reason_code: number;
  reason_name: string;
}

export interface ReadyEvent {
  event: 'ready';
  paho_version: string;
  python: string;
}
export interface ResultEvent {
  event: 'result';
  id: number;
  command: string;
  mid?: number;
  released?: number;
}
export interface ErrorEvent {
  event: 'error';
  id: number | null;
  command: string | null;
  message: string;
}
export interface ConnackEvent extends Reason {
  event: 'connack';
  session_present: boolean;
  properties: Mqtt5Properties;
}
export interface SubackEvent {
  event: 'suback' | 'unsuback';
  mid: number;
  reason_codes: number[];
  reason_names: string[];
  properties: Mqtt5Properties;
}
/** PUBACK, PUBREC or PUBCOMP from the server, as decoded off the wire. */
export interface AckEvent extends Reason {
  event: 'puback' | 'pubrec' | 'pubcomp';
  mid: number;
  properties: Mqtt5Properties;
}
/** paho's on_publish: QoS 0 written, QoS 1 PUBACKed, QoS 2 PUBCOMPed. */
export interface PublishedEvent {
  event: 'published';
  mid: number;
}
export interface MessageEvent {
  event: 'message';
  /** The topic, resolved through the connection's inbound topic aliases. */
  topic: string;
  /** The topic as it was on the wire ('' when the server used an established alias). */
  wire_topic: string;
  /** The payload as text, null when it is not valid UTF-8. */
  payload: string | null;
  payload_base64: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  dup: boolean;
  mid: number;
  properties: Mqtt5Properties;
}
/** A DISCONNECT packet from the server. */
export interface DisconnectEvent extends Reason {
  event: 'disconnect';
  properties: Mqtt5Properties;
}
/** The connection ended: 0 after our DISCONNECT, 7 ("The connection was lost.") otherwise. */
export interface ClosedEvent extends Reason {
  event: 'closed';
}

export type PahoEvent =
  ReadyEvent | ResultEvent | ErrorEvent | ConnackEvent | SubackEvent | AckEvent | PublishedEvent | MessageEvent | DisconnectEvent | ClosedEvent;
export type PahoEventName = PahoEvent['event'];
/** The event type for a name (AckEvent for 'puback', 'pubrec' and 'pubcomp'), narrowed to that name. */
export type PahoEventOf<K extends PahoEventName> = EventNamed<PahoEvent, K>;
type EventNamed<E, K> = E extends { event: infer N } ? (K extends N ? E & { event: K } : never) : never;

interface Waiter {
  match: (e: PahoEvent) => boolean;
  resolve: (e: PahoEvent) => void;
  reject: (err: Error) => void;
}

const running = new Set<PahoClient>();

/** Starts one paho MQTT 5 client process (not connected yet). */
export async function startPaho(opts: { env?: Record<string, string> } = {}): Promise<PahoClient> {
  const child = spawn(PYTHON, [DRIVER], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const client = new PahoClient(child);
  running.add(client);
  try {
    await client.next('ready', undefined, 10_000);
  } catch (err) {
    await client.stop();
    throw err;
  }
  return client;
}

/** Stops every paho process still running (an afterEach/afterAll safety net). */
export async function stopAllPaho(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop()));
}

export class PahoClient {
  /** Every event in arrival order, consumed by `next` or not. */
  readonly events: PahoEvent[] = [];
  private readonly unconsumed: PahoEvent[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly exited: Promise<void>;
  private exitError: Error | undefined;
  private stderrText = '';
  private nextId = 1;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => this.receive(line));
    child.stderr.on('data', (d: Buffer) => (this.stderrText = (this.stderrText + d.toString()).slice(-4000)));
    child.stdin.on('error', () => {}); // EPIPE after the driver died: reported through exitError
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitError = new Error(`paho driver exited (${signal ?? code}); stderr: ${this.stderrText.trim() || '-'}`);
        for (const w of this.waiters) w.reject(this.exitError);
        this.waiters.clear();
        running.delete(this);
        resolve();
      });
    });
  }

  /**
   * Opens a fresh connection and sends CONNECT; resolves with the CONNACK (whatever its reason
   * code), rejects if the connection closes first. A connection still open is dropped first
   * without DISCONNECT (as `close()` does).
   */
  async connect(opts: PahoConnectOptions, timeoutMs = DEFAULT_WAIT_MS): Promise<ConnackEvent> {
    await this.request({ cmd: 'connect', ...opts });
    const e = await this.take((x) => x.event === 'connack' || x.event === 'closed', timeoutMs, 'connack');
    if (e.event === 'closed') throw new Error(`connection closed before CONNACK: ${e.reason_code} ${e.reason_name}`);
    return e as ConnackEvent;
  }

  /** SUBSCRIBE; resolves with its SUBACK. */
  async subscribe(filters: PahoSubscription[], properties?: Mqtt5Properties, timeoutMs = DEFAULT_WAIT_MS): Promise<SubackEvent> {
    const { mid } = await this.request({ cmd: 'subscribe', filters, properties });
    return this.next('suback', (e) => e.mid === mid, timeoutMs);
  }

  /** UNSUBSCRIBE; resolves with its UNSUBACK. */
  async unsubscribe(topics: string[], properties?: Mqtt5Properties, timeoutMs = DEFAULT_WAIT_MS): Promise<SubackEvent> {
    const { mid } = await this.request({ cmd: 'unsubscribe', topics, properties });
    return this.next('unsuback', (e) => e.mid === mid, timeoutMs);
  }

  /** PUBLISH; resolves with the packet id once paho queued it. Await `next('puback', e => e.mid === mid)` for the ack. */
  async publish(opts: PahoPublish): Promise<number> {
    const { mid } = await this.request({ cmd: 'publish', ...opts });
    return mid!;
  }

  /** DISCONNECT with a reason code (0x04 keeps the will); resolves when the connection is closed. */
  async disconnect(reasonCode = 0, properties?: Mqtt5Properties, timeoutMs = DEFAULT_WAIT_MS): Promise<ClosedEvent> {
    await this.request({ cmd: 'disconnect', reason_code: reasonCode, properties });
    return this.next('closed', undefined, timeoutMs);
  }

  /** Drops the TCP connection without DISCONNECT (the server publishes the will). */
  async close(timeoutMs = DEFAULT_WAIT_MS): Promise<ClosedEvent> {
    await this.request({ cmd: 'close' });
    return this.next('closed', undefined, timeoutMs);
  }

  /** Sends the acknowledgements held back by `hold_acks`; resolves with how many. */
  async releaseAcks(keepHolding = false): Promise<number> {
    const { released } = await this.request({ cmd: 'release_acks', keep_holding: keepHolding });
    return released!;
  }

  /**
   * Stops paho's network loop with the connection left open: nothing is read, acknowledged or sent
   * (no PINGREQ) until `resume()`, as from a hung client. Fails if publishes stay in flight for 2 s.
   */
  async pause(): Promise<void> {
    await this.request({ cmd: 'pause' });
  }

  /** Restarts the network loop after `pause()`: what arrived meanwhile is read then. */
  async resume(): Promise<void> {
    await this.request({ cmd: 'resume' });
  }

  /**
   * The first event of this kind (matching `predicate`) not yet taken by an earlier `next`: one
   * already received, or the next to arrive within `timeoutMs`.
   */
  next<K extends PahoEventName>(event: K, predicate?: (e: PahoEventOf<K>) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<PahoEventOf<K>> {
    const match = (e: PahoEvent) => e.event === event && (!predicate || predicate(e as PahoEventOf<K>));
    return this.take(match, timeoutMs, event) as Promise<PahoEventOf<K>>;
  }

  /** Resolves after `withinMs` if no such event (received and not taken, or arriving) shows up; rejects with it otherwise. */
  async expectNone<K extends PahoEventName>(event: K, withinMs: number, predicate?: (e: PahoEventOf<K>) => boolean): Promise<void> {
    const seen = await this.next(event, predicate, withinMs).catch(() => undefined);
    if (seen) throw new Error(`unexpected ${event}: ${JSON.stringify(seen)}`);
  }

  /** The driver's stderr (last 4 kB): paho's log with env PAHO_DRIVER_LOG=1, Python tracebacks. */
  stderr(): string {
    return this.stderrText;
  }

  /** Ends the driver: stdin EOF (a normal DISCONNECT if connected), SIGKILL after 2 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(timer);
    }
    running.delete(this);
  }

  private async request(cmd: Record<string, unknown>, timeoutMs = 5000): Promise<ResultEvent> {
    const id = this.nextId++;
    this.child.stdin.write(JSON.stringify({ ...cmd, id }) + '\n');
    const isReply = (e: PahoEvent) => (e.event === 'result' || e.event === 'error') && e.id === id;
    const reply = (await this.take(isReply, timeoutMs, `reply to ${String(cmd.cmd)}`)) as ResultEvent | ErrorEvent;
    if (reply.event === 'error') throw new Error(`paho ${String(cmd.cmd)}: ${reply.message}`);
    return reply;
  }

  private take(match: (e: PahoEvent) => boolean, timeoutMs: number, what: string): Promise<PahoEvent> {
    const index = this.unconsumed.findIndex(match);
    if (index >= 0) return Promise.resolve(this.unconsumed.splice(index, 1)[0]);
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`paho: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (e) => (clearTimeout(timer), resolve(e)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
      this.waiters.add(waiter);
    });
  }

  private receive(line: string): void {
    let e: PahoEvent;
    try {
      e = JSON.parse(line) as PahoEvent;
    } catch {
      this.stderrText += `\n(unparsed stdout) ${line}`;
      return;
    }
    this.events.push(e);
    for (const w of this.waiters) {
      if (!w.match(e)) continue;
      this.waiters.delete(w);
      w.resolve(e);
      return;
    }
    this.unconsumed.push(e);
  }
}
