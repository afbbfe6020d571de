// A load process (forked by main.mjs): holds its share of the clients, publishes its share of the
// chat, records latencies and what each client received, and reports over IPC.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { Histogram } from './histogram.mjs';
import { LoadClient, SlowReading } from './load-client.mjs';
import { random } from './workload.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { Hs256Auth } = await import(join(root, 'dist/platform/auth.js'));
const CONNECTS_IN_FLIGHT = 200;
const TIME_KEY = Buffer.from('"time_msc":');

/** The feed's stamp (Unix ms) in a tick payload, -1 without one. */
function tickStamp(payload) {
  const k = payload.indexOf(TIME_KEY);
  if (k === -1) return -1;
  let v = 0;
  for (let p = k + TIME_KEY.length; p < payload.length; p++) {
    const c = payload[p];
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  return v;
}

class LoadProcess {
  constructor() {
    this.clients = [];
    this.readers = [];
    this.measuring = false;
    this.resetResults();
  }

  resetResults() {
    this.tickPrompt = new Histogram();
    this.tickSlow = new Histogram();
    this.chatPrompt = new Histogram();
    this.chatSlow = new Histogram();
    this.deliveries = 0;
    this.closedEarly = 0;
    /** ref → [room, sent at]; `acked` lists refs in ack order. */
    this.sent = new Map();
    this.ackedRefs = [];
    /** ref → how many of this process's clients received it at least once. */
    this.receivers = new Map();
    this.duplicates = 0;
    this.outOfOrder = 0;
  }

  async connect({ ports, plan, secret, seed, runPrefix }) {
    this.resetResults();
    this.runPrefix = runPrefix;
    const auth = new Hs256Auth(secret);
    const rnd = random(seed);
    const started = performance.now();
    const failures = [];
    let next = 0;
    const worker = async () => {
      while (next < plan.length) {
        const entry = plan[next++];
        const client = new LoadClient(entry, this);
        client.seen = new Set();
        client.lastSeq = 0;
        client.pending = new Map();
        try {
          await client.open(ports[entry.index % ports.length], await auth.issue({ sub: entry.user }, 3600));
          this.clients.push(client);
          if (entry.slow) this.readers.push(new SlowReading(client.socket, rnd));
        } catch (err) {
          failures.push(err.message);
          client.close();
        }
      }
    };
    await Promise.all(Array.from({ length: CONNECTS_IN_FLIGHT }, worker));
    return { connected: this.clients.length, failed: failures.length, firstError: failures[0], ms: performance.now() - started };
  }

  tick(client, payload) {
    if (!this.measuring) return;
    this.deliveries++;
    const stamp = tickStamp(payload);
    if (stamp > 0) (client.plan.slow ? this.tickSlow : this.tickPrompt).record(Date.now() - stamp);
  }

  chat(client, payload) {
    if (this.measuring) this.deliveries++;
    const event = JSON.parse(payload.toString());
    if (event.type !== 'message' || !event.ref?.startsWith(this.runPrefix)) return;
    if (event.seq <= client.lastSeq) this.outOfOrder++;
    client.lastSeq = Math.max(client.lastSeq, event.seq);
    if (client.seen.has(event.ref)) {
      this.duplicates++;
      return;
    }
    client.seen.add(event.ref);
    this.receivers.set(event.ref, (this.receivers.get(event.ref) ?? 0) + 1);
    (client.plan.slow ? this.chatSlow : this.chatPrompt).record(Date.now() - Number.parseInt(event.text, 10));
  }

  acked(client, messageId) {
    const ref = client.pending.get(messageId);
    if (ref === undefined) return;
    client.pending.delete(messageId);
    this.ackedRefs.push(ref);
  }

  closed() {
    if (this.measuring) this.closedEarly++;
  }

  /** Chat at `perSec` from random clients of this process (each in its own room), until stopChat. */
  startChat(perSec, runTag, seed) {
    const rnd = random(seed);
    const started = performance.now();
    let n = 0;
    this.chatTimer = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * perSec);
      for (; n < due && this.clients.length > 0; n++) this.sendChat(this.clients[Math.floor(rnd() * this.clients.length)], `${runTag}-${n}`);
    }, 5);
  }

  sendChat(client, ref) {
    const sentAt = Date.now();
    const id = client.publishChat(JSON.stringify({ text: `${sentAt} market day`, ref }));
    client.pending.set(id, ref);
    this.sent.set(ref, [client.plan.room, sentAt]);
  }

  /** This process's own CPU and event-loop delay while measuring: a late load process shows as latency. */
  startSelfWatch() {
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
    this.cpuAtStart = process.cpuUsage();
    this.wallAtStart = performance.now();
  }

  selfWatch() {
    this.loopDelay.disable();
    const cpu = process.cpuUsage(this.cpuAtStart);
    return { cpu: (cpu.user + cpu.system) / 1000 / (performance.now() - this.wallAtStart), loopDelayP99: this.loopDelay.percentile(99) / 1e6 };
  }

  report() {
    return {
      self: this.selfWatch(),
      tickPrompt: this.tickPrompt.toJSON(),
      tickSlow: this.tickSlow.toJSON(),
      chatPrompt: this.chatPrompt.toJSON(),
      chatSlow: this.chatSlow.toJSON(),
      deliveries: this.deliveries,
      closedEarly: this.closedEarly,
      acked: this.ackedRefs.map((ref) => [ref, this.sent.get(ref)[0]]),
      sent: this.sent.size,
      receivers: [...this.receivers],
      members: this.membersByRoom(),
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
    };
  }

  membersByRoom() {
    const members = {};
    for (const c of this.clients) if (!c.socket.destroyed) members[c.plan.room] = (members[c.plan.room] ?? 0) + 1;
    return members;
  }

  close() {
    clearInterval(this.chatTimer);
    for (const r of this.readers) r.stop();
    for (const c of this.clients) c.close();
    this.clients = [];
    this.readers = [];
  }
}

const load = new LoadProcess();
const handlers = {
  connect: (m) => load.connect(m),
  measure: () => ((load.measuring = true), load.startSelfWatch(), {}),
  chat: (m) => (load.startChat(m.perSec, m.runTag, m.seed), {}),
  stopChat: () => (clearInterval(load.chatTimer), {}),
  stop: () => ((load.measuring = false), {}),
  report: () => load.report(),
  close: () => (load.close(), {}),
};
process.on('message', async (m) => {
  try {
    process.send({ id: m.id, ok: true, result: await handlers[m.cmd](m) });
  } catch (err) {
    process.send({ id: m.id, ok: false, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
