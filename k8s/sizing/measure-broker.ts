import { parseArgs } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { SignJWT } from 'jose';

/**
 * What one broker costs per connection and per delivered tick: the figures behind "Sizing" in
 * k8s/README.md. Opens --clients MQTT connections, each subscribed to ticks/{symbol} for --symbols
 * symbols, publishes ticks at --rate per symbol as a `feed` user, and reads the broker's own
 * /metrics (resident memory, CPU seconds) around each phase. Prints figures; asserts nothing.
 *
 * Point it at a broker you run for the purpose (a local `ticktalk serve --roles broker`, or a
 * staging pod through `kubectl port-forward`) with AUTH_JWT_SECRET known to you and
 * MQTT_CONNECTS_PER_IP_PER_S raised above --connect-rate, since every client comes from one address.
 */

const { values: opts } = parseArgs({
  options: {
    mqtt: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    metrics: { type: 'string', default: 'http://127.0.0.1:8080/metrics' },
    secret: { type: 'string', default: process.env.AUTH_JWT_SECRET },
    clients: { type: 'string', default: '1000' },
    symbols: { type: 'string', default: '1' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '20' },
    'connect-rate': { type: 'string', default: '200' },
  },
});

const clients = bounded('clients', 1, 20_000);
const symbolCount = bounded('symbols', 1, 50);
const ratePerSymbol = bounded('rate', 1, 1_000);
const seconds = bounded('seconds', 5, 300);
const connectRate = bounded('connect-rate', 1, 5_000);
if (!opts.secret) throw new Error('--secret (or AUTH_JWT_SECRET) is needed to publish ticks as a feed user');

function bounded(name: keyof typeof opts, min: number, max: number): number {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}]`);
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const symbols = Array.from({ length: symbolCount }, (_, i) => `SIZE${i}`);

async function brokerFigures(): Promise<{ rss: number; cpu: number; connections: number }> {
  const text = await (await fetch(opts.metrics)).text();
  const read = (name: string) => {
    const m = new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text);
    if (!m) throw new Error(`${opts.metrics} has no ${name}`);
    return Number(m[1]);
  };
  return {
    rss: read('ticktalk_process_resident_memory_bytes'),
    cpu: read('ticktalk_process_cpu_seconds_total'),
    connections: read('ticktalk_mqtt_connections'),
  };
}

function connect(options: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(opts.mqtt, { reconnectPeriod: 0, keepalive: 60, ...options });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

let delivered = 0;
const subscribers: MqttClient[] = [];
const before = await brokerFigures();
const started = Date.now();
for (let i = 0; i < clients; i++) {
  const c = await connect();
  c.on('message', () => delivered++);
  await c.subscribeAsync(
    symbols.map((s) => `ticks/${s}`),
    { qos: 0 },
  );
  subscribers.push(c);
  const due = started + ((i + 1) * 1000) / connectRate;
  if (due > Date.now()) await sleep(due - Date.now());
}
await sleep(2_000);
const connected = await brokerFigures();

const token = await new SignJWT({ roles: ['feed'] })
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject('sizing-feed')
  .setExpirationTime('1h')
  .sign(new TextEncoder().encode(opts.secret));
const feed = await connect({ username: 'sizing-feed', password: token });
let price = 1.1;
const publishEveryMs = 1000 / ratePerSymbol;
delivered = 0;
const loadStart = { at: Date.now(), ...(await brokerFigures()) };
const end = loadStart.at + seconds * 1000;
for (let n = 0; Date.now() < end; n++) {
  price += (Math.random() - 0.5) * 1e-4;
  for (const symbol of symbols) {
    const tick = { symbol, time_msc: Date.now(), bid: price, ask: price + 2e-5, last: 0, volume: 0, flags: 6 };
    feed.publish(`ticks/${symbol}`, JSON.stringify(tick), { qos: 0, retain: true });
  }
  const due = loadStart.at + (n + 1) * publishEveryMs;
  if (due > Date.now()) await sleep(due - Date.now());
}
await sleep(1_000);
const loadEnd = { at: Date.now(), ...(await brokerFigures()) };

await Promise.all([feed, ...subscribers].map((c) => c.endAsync(true)));

const elapsed = (loadEnd.at - loadStart.at) / 1000;
const deliveriesPerS = delivered / elapsed;
const cpuCores = (loadEnd.cpu - loadStart.cpu) / elapsed;
const figures = {
  clients,
  symbols_per_client: symbolCount,
  ticks_per_s_per_symbol: ratePerSymbol,
  broker_connections: connected.connections,
  rss_before_mb: +(before.rss / 2 ** 20).toFixed(1),
  rss_connected_mb: +(connected.rss / 2 ** 20).toFixed(1),
  rss_per_connection_kb: +((connected.rss - before.rss) / 1024 / clients).toFixed(1),
  rss_under_load_mb: +(loadEnd.rss / 2 ** 20).toFixed(1),
  deliveries_per_s: Math.round(deliveriesPerS),
  expected_deliveries_per_s: clients * symbolCount * ratePerSymbol,
  broker_cpu_cores: +cpuCores.toFixed(3),
  broker_cpu_cores_per_10k_deliveries_per_s: +((cpuCores / deliveriesPerS) * 10_000).toFixed(3),
};
process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
