import { aedesInternals, clientInternals, type Aedes, type Client, type ClientInternals, type Deliver, type InternalPacket } from './internals.js';

/** Aedes' client (lib/client.js): its session flags and the two delivery functions subscriptions call. */
type ResumingClient = Pick<ClientInternals, 'clean' | 'connected' | 'deliver0' | 'deliverQoS'>;

interface Resume {
  /** Live messages that arrived while the session was being resumed, in arrival order. */
  held: { deliver: Deliver; packet: InternalPacket }[];
  /** The queued messages Aedes sent on resuming: a live copy of one of them is not sent again. */
  fromQueue: Set<string>;
}

const resumes = new WeakMap<ResumingClient, Resume>();
/** How long live copies of queued messages are still recognised after a resume (they cross Redis from other nodes). */
const LATE_COPY_MS = 10_000;
const noop = () => {};

/**
 * Aedes resumes a persistent session by restoring its subscriptions, sending the CONNACK, then
 * streaming its queue; live messages reaching the restored subscriptions meanwhile were written at
 * once, so they could precede the CONNACK (MQTT-3.2.0-1: mqtt.js then never reads it) and overtake
 * the queue (a chat member back online got seq 101 between 3 and 4). They now wait until the queue
 * is sent and follow it, and a message the queue already carried is not sent twice.
 * Once per broker, before any client connects; `gateClientDeliveries` once per client.
 */
export function orderResumedSessions(aedes: Aedes): void {
  const { persistence } = aedesInternals(aedes);
  const stream = persistence.outgoingStream.bind(persistence);
  persistence.outgoingStream = (client) => {
    const queued = stream(client);
    const c = clientInternals(client);
    if (!isResuming(c)) return queued;
    const { fromQueue } = resumeOf(c);
    return (async function* recordQueued() {
      for await (const packet of queued) {
        fromQueue.add(messageKey(packet));
        yield packet;
      }
    })();
  };
  // Emitted once the queue is sent (the last step of Aedes' connect), right after `connected` is set.
  aedes.on('clientReady', (client) => release(clientInternals(client)));
}

/** In preConnect, after any other replacement of the client's delivery functions. */
export function gateClientDeliveries(client: Client): void {
  const c = clientInternals(client);
  const gate =
    (deliver: Deliver): Deliver =>
    (packet, cb) => {
      if (c.clean === false) {
        if (!c.connected) {
          resumeOf(c).held.push({ deliver, packet });
          process.nextTick(cb);
          return;
        }
        if (packet.brokerId && resumes.get(c)?.fromQueue.has(messageKey(packet))) return void process.nextTick(cb);
      }
      deliver(packet, cb);
    };
  c.deliver0 = gate(c.deliver0);
  c.deliverQoS = gate(c.deliverQoS);
}

function isResuming(c: ResumingClient): boolean {
  return c.clean === false && !c.connected;
}

function resumeOf(c: ResumingClient): Resume {
  let resume = resumes.get(c);
  if (!resume) resumes.set(c, (resume = { held: [], fromQueue: new Set() }));
  return resume;
}

function release(c: ResumingClient): void {
  const resume = resumes.get(c);
  if (!resume) return;
  const { held, fromQueue } = resume;
  resume.held = [];
  for (const { deliver, packet } of held) if (!packet.brokerId || !fromQueue.has(messageKey(packet))) deliver(packet, noop);
  if (fromQueue.size === 0) resumes.delete(c);
  else setTimeout(() => resumes.delete(c), LATE_COPY_MS).unref();
}

/** Aedes' identity of a message across its copies (packet ids differ per delivery). */
function messageKey(p: Pick<InternalPacket, 'brokerId' | 'brokerCounter'>): string {
  return `${p.brokerId}\u0000${p.brokerCounter}`;
}
