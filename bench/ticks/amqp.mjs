// Ticks into one node over RabbitMQ: batched feed bodies on `mt.ticks` in a private vhost, taken in by
// the tick bridge of a ticktalk started here (roles broker,bridge), counted where the broker routes them.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { performance } from 'node:perf_hooks';
import amqp from 'amqplib';
import { cpuSeconds, startTicktalk } from './broker.mjs';
import { openClient } from './load.mjs';

const run = promisify(execFile);
const { fetch } = globalThis;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Unconfirmed publishes the feed keeps in flight: enough to keep the bridge queue topped up. */
const CONFIRM_WINDOW = 64;

/** A throwaway vhost (rabbitmqctl, guest given full rights), so the contract names touch nobody else's. */
async function privateVhost(amqpUrl, name) {
  await run('rabbitmqctl', ['add_vhost', name]);
  await run('rabbitmqctl', ['set_permissions', '-p', name, 'guest', '.*', '.*', '.*']);
  const url = new URL(amqpUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return { url: url.toString(), drop: () => run('rabbitmqctl', ['delete_vhost', name]) };
}

/** `count` JSON array bodies of `batch` feed ticks each, cycling over the symbols (what an MT feed sends). */
function feedBodies(symbols, batch, count) {
  const bodies = [];
  let n = 0;
  const t0 = Date.now();
  for (let m = 0; m < count; m++) {
    const ticks = [];
    for (let k = 0; k < batch; k++, n++) {
      const bid = 1.08 + (n % 1000) / 100000;
      ticks.push({ symbol: symbols[n % symbols.length], time_msc: t0 + n, bid, ask: bid + 0.00013, last: 0, volume: 0, flags: 6 });
    }
    bodies.push(Buffer.from(JSON.stringify(ticks)));
  }
  return bodies;
}

/** The value of a counter sample such as `ticktalk_ticks_in_total{source="local"}` on /metrics. */
async function counter(httpPort, sample) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** Publishes bodies round-robin with publisher confirms, CONFIRM_WINDOW in flight, until stopped. */
function startFeed(channel, exchange, bodies, stopAfter = Infinity) {
  let running = true;
  let published = 0;
  let inFlight = 0;
  let wake;
  const done = (async () => {
    while (running && published < stopAfter) {
      if (inFlight >= CONFIRM_WINDOW) {
        await new Promise((r) => (wake = r));
        continue;
      }
      inFlight++;
      const body = bodies[published++ % bodies.length];
      channel.publish(exchange, 'bench.FEED', body, { contentType: 'application/json' }, () => {
        inFlight--;
        wake?.();
      });
      if (published % CONFIRM_WINDOW === 0) await new Promise((r) => setImmediate(r));
    }
    await channel.waitForConfirms();
  })();
  return { stop: () => ((running = false), wake?.(), done), done, published: () => published };
}

/**
 * The bridge queue is filled to its bound first (a feed publishing alongside would compete with
 * RabbitMQ's deliveries to the bridge for the same two cores and mostly be dropped at the bound),
 * then ticktalk starts and drains it. Figure: ticks taken in per second while it drains
 * (`ticktalk_ticks_in_total{source="local"}`, sampled every 50 ms, the first and last samples left
 * out), with a `ticks/+` subscriber's count over the same samples as a cross-check.
 */
export async function amqpIngest({ root, secret, cpu, runId, amqpUrl, batch, symbols, log, profileDir }) {
  const { TICK_TOPOLOGY, declareTickTopology, BRIDGE_QUEUE_MAX_LENGTH } = await import(join(root, 'dist/bridges/topology.js'));
  const vhost = await privateVhost(amqpUrl, `ttbench_${runId}`);
  let connection;
  let tt;
  try {
    connection = await amqp.connect(vhost.url);
    const channel = await connection.createConfirmChannel();
    await declareTickTopology(channel);
    const bodies = feedBodies(symbols, batch, 500);
    const messages = BRIDGE_QUEUE_MAX_LENGTH;
    log(`over RabbitMQ: filling the bridge queue (${messages} messages of ${batch} ticks, ${bodies[0].length} bytes each)…`);
    await startFeed(channel, TICK_TOPOLOGY.exchange, bodies, messages).done;
    tt = await startTicktalk({ root, secret, cpu, roles: 'broker,bridge', env: { AMQP_URL: vhost.url }, nodeId: 'bench-amqp', profileDir });
    const sub = await openClient(tt.ports.mqtt, { clientId: `${runId}-amqp-sub`, filters: ['ticks/+'] });
    const samples = await sampleDrain(tt, sub, messages * batch);
    sub.socket.destroy();
    const dead = await counter(tt.ports.http, 'ticktalk_tick_bridge_dead_letters_total');
    // Drop the first sample (the subscriber may have joined mid-way) and the last (the queue ran dry).
    const [a, b] = [samples[1], samples[samples.length - 2]];
    if (!a || !b || b.ticks === a.ticks) throw new Error('the queue drained too fast to measure: raise --batch');
    const seconds = (b.at - a.at) / 1000;
    const ticks = b.ticks - a.ticks;
    return {
      ticksPerSec: ticks / seconds,
      deliveriesPerSec: (b.delivered - a.delivered) / seconds,
      cpuUsPerTick: ((b.cpu - a.cpu) * 1e6) / ticks,
      cpuShare: (b.cpu - a.cpu) / seconds,
      seconds,
      deadLetters: dead,
    };
  } finally {
    await tt?.stop();
    await connection?.close().catch(() => {});
    await vhost.drop();
  }
}

/** Samples every 50 ms from the first tick taken in until all `total` are (at most 60 s). */
async function sampleDrain(tt, sub, total) {
  const samples = [];
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const s = {
      ticks: await counter(tt.ports.http, 'ticktalk_ticks_in_total{source="local"}'),
      delivered: sub.reader.publishes,
      cpu: cpuSeconds(tt.pid),
      at: performance.now(),
    };
    if (s.ticks > 0) samples.push(s);
    if (s.ticks >= total) break;
    await sleep(50);
  }
  return samples;
}
