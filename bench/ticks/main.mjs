// npm run bench:ticks [-- --measure 3000 --subscribers 100 --only fanout,topics1000,ingest,lat50k,lat200k --cluster --unpinned]
// Tick fan-out and latency: ticktalk (started here) against the Mosquitto on 127.0.0.1:1883.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fanOut, latency } from './load.mjs';
import { cpuSeconds, hasTaskset, mosquittoPid, pinSelf, startTicktalk } from './broker.mjs';
import { amqpIngest } from './amqp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { Hs256Auth } = await import(join(root, 'dist/platform/auth.js'));

const { values: opt } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '1000' },
    measure: { type: 'string', default: '3000' },
    cluster: { type: 'boolean', default: false },
    only: { type: 'string' },
    unpinned: { type: 'boolean', default: false },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379/15' },
    prof: { type: 'string' },
    amqp: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    batch: { type: 'string', default: '100' },
  },
});
const subscribers = Number(opt.subscribers);
const warmupMs = Number(opt.warmup);
const measureMs = Number(opt.measure);
const runId = `B${randomBytes(3).toString('hex')}`;
const MOSQUITTO_PORT = 1883;

const log = (msg) => console.log(`[bench:ticks] ${msg}`);
const fmt = (n) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: 0 }) : 'n/a');
const us = (n) => (Number.isFinite(n) ? `${n.toFixed(2)} µs` : 'n/a');
const pct = (n) => (Number.isFinite(n) ? `${(n * 100).toFixed(0)}%` : 'n/a');
const ms = (n) => (Number.isFinite(n) ? `${n.toFixed(2)} ms` : 'n/a');

function reachable(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

const pinned = !opt.unpinned && hasTaskset();
if (pinned) pinSelf(1);
log(
  pinned
    ? 'load generator pinned to core 1, ticktalk to core 0 (Mosquitto runs as the system service, unpinned)'
    : `nothing pinned (${opt.unpinned ? '--unpinned' : 'taskset not found'})`,
);

const secret = randomBytes(24).toString('base64url');
const token = await new Hs256Auth(secret).issue({ sub: 'bench-feed', roles: ['feed'] }, 3600);
const symbols1000 = Array.from({ length: 1000 }, (_, i) => `${runId}${String(i).padStart(4, '0')}`);

const allScenarios = [
  { id: 'fanout', name: `fan-out, 1 topic, ${subscribers} subscribers`, kind: 'fanout', symbols: symbols1000.slice(0, 1) },
  { id: 'topics1000', name: `fan-out, 1000 topics, ${subscribers} subscribers on ticks/+`, kind: 'fanout', symbols: symbols1000 },
  {
    id: 'ingest',
    name: 'ingest, 1000 topics, one subscriber each',
    kind: 'fanout',
    symbols: symbols1000,
    subscribers: symbols1000.length,
    oneTopicEach: true,
  },
  { id: 'lat50k', name: 'latency at 50k deliveries/s', kind: 'latency', rate: 50_000, symbol: `${runId}L50K` },
  { id: 'lat200k', name: 'latency at 200k deliveries/s', kind: 'latency', rate: 200_000, symbol: `${runId}L200K` },
];
const chosen = opt.only?.split(',').map((s) => s.trim());
const scenarios = chosen ? allScenarios.filter((s) => chosen.includes(s.id)) : allScenarios;
const runAmqp = !chosen || chosen.includes('amqp');
if (scenarios.length === 0 && !runAmqp) throw new Error(`--only: choose from ${[...allScenarios.map((s) => s.id), 'amqp'].join(',')}`);

async function runScenario(s, target) {
  const common = { port: target.port, token, runId: `${runId}-${target.name}`, subscribers: s.subscribers ?? subscribers, warmupMs, measureMs };
  const brokerCpu = () => cpuSeconds(target.pid);
  return s.kind === 'fanout'
    ? fanOut({ ...common, symbols: s.symbols, oneTopicEach: s.oneTopicEach, brokerCpu })
    : latency({ ...common, symbol: s.symbol, deliveriesPerSec: s.rate });
}

async function againstTargets(targets) {
  const results = [];
  for (const s of scenarios) {
    const row = { scenario: s.name, kind: s.kind };
    for (const t of targets) {
      log(`${s.name}: ${t.name}…`);
      row[t.name] = await runScenario(s, t);
      const r = row[t.name];
      log(
        s.kind === 'fanout'
          ? `  ${t.name}: ${fmt(r.deliveriesPerSec)} deliveries/s (publisher sent ${fmt(r.publishesPerSec)}/s; broker CPU ${us(r.cpuUsPerDelivery)} per delivery, ${pct(r.cpuShare)} of a core)`
          : `  ${t.name}: p50 ${ms(r.p50)}  p99 ${ms(r.p99)}  p99.9 ${ms(r.p999)}  (${fmt(r.samples)} samples)`,
      );
    }
    results.push(row);
  }
  return results;
}

function report(results, names) {
  const [ours, ref] = names;
  console.log('\n| scenario | ' + names.map((n) => `${n}`).join(' | ') + ' | ratio |');
  console.log('| --- | ' + names.map(() => '---').join(' | ') + ' | --- |');
  for (const row of results) {
    const a = row[ours];
    const b = row[ref];
    if (row.kind === 'fanout') {
      const ratio = b ? `${(a.deliveriesPerSec / b.deliveriesPerSec).toFixed(2)}x` : 'n/a';
      console.log(`| ${row.scenario} | ${names.map((n) => `${fmt(row[n]?.deliveriesPerSec)} deliveries/s`).join(' | ')} | ${ratio} |`);
      const cost = b ? `${(b.cpuUsPerDelivery / a.cpuUsPerDelivery).toFixed(2)}x cheaper` : 'n/a';
      console.log(`| ↳ broker CPU per delivery | ${names.map((n) => us(row[n]?.cpuUsPerDelivery)).join(' | ')} | ${cost} |`);
    } else {
      const ratio = b ? `p99 ${(a.p99 / b.p99).toFixed(2)}x` : 'n/a';
      const cell = (r) => (r ? `p50 ${ms(r.p50)} / p99 ${ms(r.p99)} / p99.9 ${ms(r.p999)}` : 'n/a');
      console.log(`| ${row.scenario} | ${names.map((n) => cell(row[n])).join(' | ')} | ${ratio} |`);
    }
  }
}

const mosquittoUp = scenarios.length > 0 && (await reachable(MOSQUITTO_PORT));
let singleFanOut = NaN;
if (scenarios.length > 0 && !mosquittoUp) log('no Mosquitto on 127.0.0.1:1883: ticktalk only');

if (scenarios.length > 0) {
  // Mosquitto delivers every tick; so does ticktalk here unless MQTT_WRITE_WINDOW_MS is set: with
  // the window (the default in production) a saturated node sends each subscriber only the latest
  // tick per symbol per window, so deliveries/s would count conflation, not the cost of a delivery.
  const writeWindowMs = process.env.MQTT_WRITE_WINDOW_MS ?? '0';
  log(
    `starting ticktalk (broker role), MQTT_WRITE_WINDOW_MS=${writeWindowMs}${writeWindowMs === '0' ? ' (every tick delivered, as Mosquitto does)' : ''}…`,
  );
  const tt = await startTicktalk({ root, secret, cpu: pinned ? 0 : undefined, profileDir: opt.prof, env: { MQTT_WRITE_WINDOW_MS: writeWindowMs } });
  log(`ticktalk MQTT on 127.0.0.1:${tt.ports.mqtt}`);
  let results;
  try {
    const targets = [{ name: 'ticktalk', port: tt.ports.mqtt, pid: tt.pid }];
    if (mosquittoUp) targets.push({ name: 'mosquitto', port: MOSQUITTO_PORT, pid: mosquittoPid() });
    results = await againstTargets(targets);
  } finally {
    await tt.stop();
  }
  report(results, mosquittoUp ? ['ticktalk', 'mosquitto'] : ['ticktalk']);
  singleFanOut = results.find((r) => r.scenario === allScenarios[0].name)?.ticktalk.deliveriesPerSec ?? NaN;
}

if (runAmqp) {
  const batch = Number(opt.batch);
  const r = await amqpIngest({
    root,
    secret,
    cpu: pinned ? 0 : undefined,
    runId: `${runId}-a`.toLowerCase(),
    amqpUrl: opt.amqp,
    batch,
    symbols: symbols1000,
    log,
    profileDir: opt.prof,
  });
  log(
    `  ${fmt(r.ticksPerSec)} ticks/s taken in (ticks/+ subscriber got ${fmt(r.deliveriesPerSec)}/s); broker CPU ${us(r.cpuUsPerTick)} per tick, ${pct(r.cpuShare)} of a core`,
  );
  log(`  measured over ${r.seconds.toFixed(2)} s of draining; dead letters: ${fmt(r.deadLetters)}`);
  console.log(`\n| scenario | ticktalk | target |\n| --- | --- | --- |`);
  console.log(
    `| ingest over RabbitMQ, ${batch} ticks per message, 1000 symbols | ${fmt(r.ticksPerSec)} ticks/s (${us(r.cpuUsPerTick)} broker CPU per tick) | ≥ 400,000 ticks/s |`,
  );
}

if (opt.cluster) {
  log(`cluster: two ticktalk nodes sharing ${opt.redis}; publisher on node A, subscribers split across A and B`);
  const env = { REDIS_URL: opt.redis };
  const a = await startTicktalk({ root, secret, cpu: pinned ? 0 : undefined, env, nodeId: 'bench-a' });
  const b = await startTicktalk({ root, secret, cpu: pinned ? 0 : undefined, env, nodeId: 'bench-b' });
  try {
    const single = singleFanOut;
    const r = await fanOut({
      port: a.ports.mqtt,
      subscriberPorts: [a.ports.mqtt, b.ports.mqtt],
      token,
      runId: `${runId}-c`,
      subscribers,
      symbols: symbols1000.slice(0, 1),
      warmupMs,
      measureMs,
    });
    log(`cluster fan-out, 1 topic: ${fmt(r.deliveriesPerSec)} deliveries/s = ${(r.deliveriesPerSec / single).toFixed(2)}x the single node`);
    log(`  node A (publisher's node): ${fmt(r.byPort[a.ports.mqtt])}/s, node B (via Redis batches): ${fmt(r.byPort[b.ports.mqtt])}/s`);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    // The retained copies of the bench's symbols live in the shared persistence: take them out.
    const { Redis } = await import('ioredis');
    const redis = new Redis(opt.redis);
    await redis.hdel('retained', ...symbols1000.map((s) => `ticks/${s}`));
    await redis.quit();
  }
}
