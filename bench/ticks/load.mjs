// Raw-socket load generator: one publisher and N subscribers, every loop bounded by count and time.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { connectFrame, subscribeFrame, publishFrame, FrameReader } from './mqtt-wire.mjs';

const CONNACK = 2;
const SUBACK = 9;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A raw MQTT client: connects, waits for CONNACK (and SUBACK), then only counts what arrives. */
export async function openClient(port, { clientId, username, password, filters, onStamp }) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const waiters = new Map();
  const reader = new FrameReader({
    onStamp,
    onOther: (type, frame) => {
      const w = waiters.get(type);
      if (w) {
        waiters.delete(type);
        w(frame);
      }
    },
  });
  socket.on('data', (chunk) => reader.feed(chunk));
  socket.on('error', () => {});
  const next = (type, what) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${clientId}: no ${what} within 10 s`)), 10_000);
      waiters.set(type, (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const connack = next(CONNACK, 'CONNACK');
  socket.write(connectFrame({ clientId, username, password }));
  const ack = await connack;
  if (ack[3] !== 0) throw new Error(`${clientId}: CONNACK return code ${ack[3]}`);
  if (filters) {
    const suback = next(SUBACK, 'SUBACK');
    socket.write(subscribeFrame(1, filters));
    const granted = await suback;
    if (granted.subarray(4).includes(0x80)) throw new Error(`${clientId}: subscription refused`);
  }
  return { socket, reader, port };
}

/** The canonical tick payload (the order ticktalk encodes), so both brokers carry the same bytes. */
export function tickPayload(symbol, volume) {
  return `{"symbol":"${symbol}","time_msc":1763769600123,"bid":1.08312,"ask":1.08325,"last":0,"volume":${volume},"flags":6}`;
}

/**
 * `n` subscribers, spread round-robin over `ports` (one broker, or the nodes of a cluster).
 * `opts.filters` is one list for all, or a function of the subscriber's index.
 */
async function openAll(ports, n, opts) {
  const clients = [];
  const filtersOf = typeof opts.filters === 'function' ? opts.filters : () => opts.filters;
  for (let i = 0; i < n; i += 20) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + 20); k++) {
      batch.push(openClient(ports[k % ports.length], { ...opts, filters: filtersOf(k), clientId: `${opts.prefix}-${k}` }));
    }
    clients.push(...(await Promise.all(batch)));
  }
  return clients;
}

function closeAll(clients) {
  for (const c of clients) c.socket.destroy();
}

/** Writes of `perWrite` tick publishes each, cycling through the symbols. */
function publishBatches(symbols, perWrite) {
  const frames = symbols.map((s) => publishFrame(`ticks/${s}`, tickPayload(s, 0)));
  const batches = [];
  for (let i = 0; i < Math.max(1, frames.length / perWrite); i++) {
    const slice = [];
    for (let k = 0; k < perWrite; k++) slice.push(frames[(i * perWrite + k) % frames.length]);
    batches.push(Buffer.concat(slice));
  }
  return batches;
}

/**
 * Fan-out: the publisher writes batches of tick publishes as fast as the broker takes them;
 * deliveries/s is what all subscribers together receive during the measured window. With
 * `subscriberPorts` the subscribers spread over several nodes while the publisher uses `port`.
 * With `oneTopicEach`, subscriber k subscribes to `ticks/{symbols[k]}` only (the ingest case: one
 * delivery per tick taken in), else all to the one topic or `ticks/+`.
 */
export async function fanOut({
  port,
  subscriberPorts = [port],
  token,
  runId,
  subscribers,
  symbols,
  warmupMs,
  measureMs,
  oneTopicEach = false,
  brokerCpu = () => NaN,
}) {
  const filter = symbols.length === 1 ? `ticks/${symbols[0]}` : 'ticks/+';
  const filters = oneTopicEach ? (k) => [`ticks/${symbols[k % symbols.length]}`] : [filter];
  const subs = await openAll(subscriberPorts, subscribers, { prefix: `${runId}-s`, filters });
  const pub = await openClient(port, { clientId: `${runId}-pub`, username: 'bench', password: token });
  const perWrite = 64;
  const batches = publishBatches(symbols, perWrite);
  let running = true;
  let sent = 0;
  let b = 0;
  const pump = () => {
    for (let spin = 0; running && spin < 8; spin++) {
      sent += perWrite;
      if (!pub.socket.write(batches[b++ % batches.length])) {
        pub.socket.once('drain', pump);
        return;
      }
    }
    if (running) setImmediate(pump);
  };
  pump();
  await sleep(warmupMs);
  const before = subs.map((s) => s.reader.publishes);
  const s0 = sent;
  const cpu0 = brokerCpu();
  const t0 = performance.now();
  await sleep(measureMs);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = brokerCpu() - cpu0;
  const delta = subs.map((s, i) => s.reader.publishes - before[i]);
  const s1 = sent;
  running = false;
  closeAll([...subs, pub]);
  const byPort = {};
  subs.forEach((s, i) => (byPort[s.port] = (byPort[s.port] ?? 0) + delta[i] / seconds));
  const total = delta.reduce((a, b) => a + b, 0);
  // Broker CPU per delivery: what a delivery costs however busy the load generator keeps the broker.
  return {
    deliveriesPerSec: total / seconds,
    publishesPerSec: (s1 - s0) / seconds,
    byPort,
    cpuUsPerDelivery: (cpu * 1e6) / total,
    cpuShare: cpu / seconds,
  };
}

/**
 * Latency at a fixed delivery rate: the publisher sends ticks paced over time (a batch every
 * millisecond), each stamped with its send time; subscribers record send-to-receive times.
 */
export async function latency({ port, token, runId, subscribers, symbol, deliveriesPerSec, warmupMs, measureMs }) {
  const maxSamples = Math.min(20_000_000, Math.ceil((deliveriesPerSec * (measureMs + warmupMs)) / 1000) + 10_000);
  const samples = new Float64Array(maxSamples);
  let count = 0;
  let recording = false;
  const onStamp = (stampUs) => {
    if (recording && count < maxSamples) samples[count++] = performance.now() * 1000 - stampUs;
  };
  const subs = await openAll([port], subscribers, { prefix: `${runId}-l`, filters: [`ticks/${symbol}`], onStamp });
  const pub = await openClient(port, { clientId: `${runId}-lpub`, username: 'bench', password: token });
  const topic = `ticks/${symbol}`;
  const ticksPerSec = deliveriesPerSec / subscribers;
  const start = performance.now();
  const end = start + warmupMs + measureMs;
  let sent = 0;
  const recordFrom = start + warmupMs;
  while (performance.now() < end) {
    const now = performance.now();
    if (!recording && now >= recordFrom) recording = true;
    const due = Math.floor(((now - start) / 1000) * ticksPerSec) - sent;
    if (due > 0) {
      const parts = [];
      for (let k = 0; k < due; k++) parts.push(publishFrame(topic, tickPayload(symbol, Math.round(performance.now() * 1000))));
      pub.socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
      sent += due;
    }
    await sleep(1);
  }
  await sleep(200);
  recording = false;
  closeAll([...subs, pub]);
  const lat = samples.subarray(0, count).sort();
  const pct = (p) => (count === 0 ? NaN : lat[Math.min(count - 1, Math.floor((p / 100) * count))] / 1000);
  return { samples: count, p50: pct(50), p99: pct(99), p999: pct(99.9) };
}
