import { aedesInternals, type Aedes, type AedesOptions, type Client, type PublishPacket } from './internals.js';

type AuthorizePublish = Required<AedesOptions>['authorizePublish'];

/** What ticktalk tells about a connection (MQTT 5 state lives outside Aedes). */
export interface HandoverPolicy {
  /** The connection discards any existing session (MQTT 5 Clean Start; 3.1.1 clean session). */
  cleanStart(client: Client): boolean;
  /** Seconds the client's will waits once it is gone (MQTT 5 Will Delay Interval, at most the session's expiry); 0: at once. */
  willDelayS(client: Client): number;
  /** `client` is being closed because a new connection took its client id over (on any node). */
  takenOver(client: Client): void;
}

/** Published on every connection Aedes registers, before Aedes' own `$SYS/{node}/new/clients`. */
const NOTICE_TOPIC = (nodeId: string) => `$SYS/${nodeId}/ticktalk/session-opened`;
const NOTICE_FILTER = '$SYS/+/ticktalk/session-opened';

const RESUMED = () => new Error('will dropped: the session resumed on a new connection');

interface Notice {
  clientId: string;
  cleanStart: boolean;
  /** The new connection (unique in the cluster): its own notice, arriving late, is not a newer connection. */
  connection: string;
}

/**
 * A client id's new connection, seen by every node: the old connection (here or on another node)
 * is told why it ends before Aedes closes it (aedes.js `registerClient` here, `closeSameClients`
 * on other nodes, which runs on `$SYS/{node}/new/clients`, published after this notice on the
 * same emitter), and a will waiting out its delay for that client id is dropped (the session
 * resumed) or published at once (Clean Start: the session ended).
 *
 * Wills: Aedes publishes a will as the connection closes (lib/client.js close) through
 * authorizePublish; one with a delay is authorised there, then held here instead of published
 * (the error makes Aedes delete its stored copy) and published by this node after the delay.
 */
export class SessionHandover {
  private aedes: Aedes | undefined;
  /** Held wills by client id, with the connection that left them. */
  private readonly pendingWills = new Map<string, { timer: NodeJS.Timeout; publish: () => void; connection: string | undefined }>();
  /** Each registered connection's id, as its notice names it. */
  private readonly connections = new WeakMap<Client, string>();
  private registered = 0;
  /** Closed clients whose delayed will is being authorised (Aedes no longer lists them). */
  private readonly leaving = new Map<string, Client>();
  /** Old connections whose client id was taken over, and whether the new connection resumed the session. */
  private readonly takenOver = new WeakMap<Client, boolean>();

  constructor(private readonly policy: HandoverPolicy) {}

  /** Wraps the broker's authorizePublish: a delayed will is authorised, then held (see the class). */
  authorizePublish(authorize: AuthorizePublish): AuthorizePublish {
    return (client, packet, done) => {
      if (!client || packet !== (client as { will?: unknown }).will) return authorize(client, packet, done);
      if (this.takenOver.get(client)) return done(RESUMED());
      if (this.takenOver.has(client) || this.policy.willDelayS(client) <= 0) return authorize(client, packet, done);
      // Until it is held, a new connection for the client id (a notice) must still find it.
      this.leaving.set(client.id, client);
      authorize(client, packet, (err) => {
        if (this.leaving.get(client.id) === client) this.leaving.delete(client.id);
        const resumed = this.takenOver.get(client);
        // Taken over meanwhile: dropped (session resumed) or published now (Clean Start ended it).
        if (err || resumed !== undefined) return done(resumed ? RESUMED() : (err ?? null));
        this.hold(client, { ...packet }, this.policy.willDelayS(client));
        done(new Error('will delayed'));
      });
    };
  }

  /** Once the broker runs: announces each registered connection and hears every node's. */
  attach(aedes: Aedes): void {
    this.aedes = aedes;
    const broker = aedesInternals(aedes);
    const register = broker.registerClient.bind(broker);
    broker.registerClient = (client) => {
      const cleanStart = this.policy.cleanStart(client);
      const previous = broker.clients[client.id] ?? this.leaving.get(client.id);
      if (previous && previous !== client) this.endTakenOver(previous, cleanStart);
      const connection = `${aedes.id}#${++this.registered}`;
      this.connections.set(client, connection);
      const notice: Notice = { clientId: client.id, cleanStart, connection };
      broker.publish(
        { cmd: 'publish', topic: NOTICE_TOPIC(aedes.id), payload: Buffer.from(JSON.stringify(notice)), qos: 0, retain: false, dup: false },
        null,
        () => {},
      );
      register(client);
    };
    aedes.subscribe(
      NOTICE_FILTER,
      (packet, cb) => {
        this.onNotice(packet.topic.split('/')[1], JSON.parse(packet.payload.toString()) as Notice);
        cb();
      },
      () => {},
    );
  }

  /** Pending wills are not published by a node that stops (their clients' sessions may resume elsewhere). */
  stop(): void {
    for (const { timer } of this.pendingWills.values()) clearTimeout(timer);
    this.pendingWills.clear();
  }

  private onNotice(fromNode: string, { clientId, cleanStart, connection }: Notice): void {
    const pending = this.pendingWills.get(clientId);
    // Through Redis, a connection's own notice can arrive after it already left and its will is held.
    if (pending && pending.connection !== connection) {
      this.pendingWills.delete(clientId);
      clearTimeout(pending.timer);
      if (cleanStart) pending.publish();
    }
    if (!this.aedes || fromNode === this.aedes.id) return;
    const local = aedesInternals(this.aedes).clients[clientId] ?? this.leaving.get(clientId);
    if (local) this.endTakenOver(local, cleanStart);
  }

  /** Also for a client already closing: its will, not yet decided, follows the new connection's Clean Start. */
  private endTakenOver(client: Client, cleanStart: boolean): void {
    this.takenOver.set(client, !cleanStart);
    if (!client.closed) this.policy.takenOver(client);
  }

  private hold(client: Client, will: PublishPacket, delayS: number): void {
    const broker = this.aedes && aedesInternals(this.aedes);
    if (!broker) return;
    const publish = () => broker.publish(will, client, () => {});
    const timer = setTimeout(() => {
      this.pendingWills.delete(client.id);
      publish();
    }, delayS * 1000);
    timer.unref();
    const earlier = this.pendingWills.get(client.id);
    if (earlier) clearTimeout(earlier.timer);
    this.pendingWills.set(client.id, { timer, publish, connection: this.connections.get(client) });
  }
}
