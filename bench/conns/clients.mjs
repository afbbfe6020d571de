// A load child of bench:idle / bench:storm (forked by main.mjs): holds up to a few thousand client
// sockets (a process may hold at most 20,000 open files) and does what the parent asks over IPC.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { SignJWT } from 'jose';
import { connectFrame, subscribeFrame, publishFrame, FrameReader } from '../ticks/mqtt-wire.mjs';
import { addressOf, filtersOf, percentiles } from './plan.mjs';

const CONNACK = 2;
const SUBACK = 9;
const sockets = [];
/** Latency samples of subscribers opened with `stamps`: receive time (Date.now ms) and latency (µs). */
const samples = { at: new Float64Array(4_000_000), us: new Float64Array(4_000_000), count: 0 };
let feed;

function tokenFor(secret, sub, roles) {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(new TextEncoder().encode(secret));
}

function recordStamp(stampUs) {
  if (samples.count >= samples.at.length) return;
  samples.at[samples.count] = Date.now();
  samples.us[samples.count++] = performance.now() * 1000 - stampUs;
}

/**
 * One client: TCP connect from its own loopback address, then (MQTT) CONNECT → CONNACK → SUBSCRIBE
 * → SUBACK. Resolves with the outcome and the milliseconds from `t0` to the last step.
 */
function openOne(plan, i, t0, token) {
  return new Promise((resolve) => {
    const socket = net.connect({ port: plan.port, host: '127.0.0.1', localAddress: addressOf(plan.addressBase, i, plan.perAddress) });
    let settled = false;
    const marks = { tcp: NaN, connack: NaN };
    const finish = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (outcome !== 'ok') socket.destroy();
      else sockets.push(socket);
      resolve({ outcome, ms: performance.now() - t0, ...marks });
    };
    const timer = setTimeout(() => finish('timeout'), plan.timeoutMs);
    socket.on('error', () => finish('error'));
    socket.on('close', () => finish('closed'));
    if (plan.kind === 'raw') {
      socket.once('connect', () => finish('ok'));
      socket.on('data', () => {});
      return;
    }
    const filters = filtersOf(plan.first + i, plan);
    const reader = new FrameReader({
      onStamp: plan.stamps ? recordStamp : undefined,
      onOther: (type, frame) => {
        if (type === CONNACK) {
          marks.connack = performance.now() - t0;
          if (frame[3] !== 0) return finish('refused');
          socket.write(subscribeFrame(1, filters));
        } else if (type === SUBACK) {
          finish(frame.subarray(4).includes(0x80) ? 'refused' : 'ok');
        }
      },
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => reader.feed(chunk));
    socket.once('connect', () => {
      marks.tcp = performance.now() - t0;
      socket.write(connectFrame({ clientId: `${plan.prefix}-${plan.first + i}`, username: 'u', password: token, keepalive: 300 }));
    });
  });
}

/** Opens `plan.count` clients, at most `plan.inFlight` at a time, and reports outcomes and times. */
async function open(plan) {
  const tokens = [];
  for (let i = 0; i < plan.count; i++) {
    tokens.push(plan.secret ? await tokenFor(plan.secret, `${plan.prefix}${plan.first + i}`, ['trader']) : undefined);
  }
  if (plan.startAt) await new Promise((r) => setTimeout(r, Math.max(0, plan.startAt - Date.now())));
  const t0 = performance.now();
  const results = new Array(plan.count);
  let next = 0;
  const worker = async () => {
    while (next < plan.count) {
      const i = next++;
      results[i] = await openOne(plan, i, t0, tokens[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.inFlight, plan.count) }, worker));
  const outcomes = {};
  for (const r of results) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  const ok = results.filter((r) => r.outcome === 'ok');
  const okMs = ok.map((r) => r.ms);
  const phases = {
    tcp: percentiles(
      ok.map((r) => r.tcp),
      [50, 99],
    ),
    connack: percentiles(
      ok.map((r) => r.connack),
      [50, 99],
    ),
  };
  return { outcomes, lastMs: Math.max(0, ...okMs), okMs: percentiles(okMs, [50, 99]), phases, elapsedMs: performance.now() - t0 };
}

/** A `feed` client publishing `rate` ticks/s over `symbols`, each stamped with its send time (µs) in `volume`. */
async function startFeed({ port, secret, symbols, rate, prefix }) {
  const token = await tokenFor(secret, `${prefix}-feed`, ['feed']);
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => {
    const reader = new FrameReader({ onOther: (type) => type === CONNACK && resolve() });
    socket.on('data', (c) => reader.feed(c));
    socket.once('error', reject);
    socket.once('connect', () => socket.write(connectFrame({ clientId: `${prefix}-feed`, username: 'feed', password: token })));
  });
  const start = performance.now();
  let sent = 0;
  feed = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / 1000) * rate) - sent;
    const parts = [];
    for (let k = 0; k < due; k++) {
      const symbol = symbols[(sent + k) % symbols.length];
      const payload = `{"symbol":"${symbol}","time_msc":${Date.now()},"bid":1.08312,"ask":1.08325,"last":0,"volume":${Math.round(performance.now() * 1000)},"flags":6}`;
      parts.push(publishFrame(`ticks/${symbol}`, payload));
    }
    if (parts.length > 0) socket.write(Buffer.concat(parts));
    sent += due;
  }, 2);
  return { started: true };
}

/** Percentiles (ms) of the latency samples received in [from, to) (Date.now ms). */
function latency({ from, to }) {
  const window = [];
  for (let k = 0; k < samples.count; k++) if (samples.at[k] >= from && samples.at[k] < to) window.push(samples.us[k] / 1000);
  return { samples: window.length, ...percentiles(window, [50, 99, 99.9, 100]) };
}

function closeAll() {
  clearInterval(feed);
  for (const s of sockets) s.destroy();
  sockets.length = 0;
  return { closed: true };
}

const commands = { open, startFeed, latency, closeAll };

process.on('message', async ({ id, cmd, args }) => {
  try {
    process.send({ id, result: await commands[cmd](args) });
  } catch (err) {
    process.send({ id, error: err.stack ?? String(err) });
  }
});
process.on('disconnect', () => process.exit(0));
