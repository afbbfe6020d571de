import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { nextMessage } from '../../test/testing/app.js';
import { startTopology, TOPOLOGIES, type Topology } from '../../test/testing/topology.js';
import { signedInRawClient } from '../../test/testing/raw-mqtt.js';
import type { Tick } from '../../protocol/tick.js';
import { writeWindowScenario } from '../../test/testing/write-window.js';

const tick = (symbol: string, n: number): Tick => ({
  symbol,
  time_msc: 1_763_769_600_000 + n,
  bid: 1 + n / 1e5,
  ask: 1.0002 + n / 1e5,
  last: 0,
  volume: n,
  flags: 6,
});

/** Resolves once `done()` holds, checking every 10 ms, or rejects after `ms`. */
async function eventually(done: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A counter summed over the topology's nodes (each counts what its own clients did). */
async function counter(app: Topology, name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const node of app.nodes) {
    const metric = node.ctx.metrics.registry.getSingleMetric(`ticktalk_${name}`);
    const values = (await metric?.get())?.values ?? [];
    sum += values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((total, v) => total + v.value, 0);
  }
  return sum;
}

/** A client that connects, subscribes, and then never reads again. */
async function frozenClient(port: number, token: string, filters: string[]) {
  const client = await signedInRawClient(port, token, { clientId: 'frozen', keepalive: 60 });
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: 1 })) });
  await eventually(() => client.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
  client.stopReading();
  return client;
}

/**
 * On one node and on two over Redis: `app.connect()` spreads clients over the nodes; raw clients and
 * `app.ctx` (the in-process feed) are node 0's, so ticks fed there cross to subscribers on node 1.
 */
describe.each(TOPOLOGIES)('wire layer over real sockets (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind);
  });
  afterAll(() => app.stop());

  it("forwards a feed client's valid ticks without the retain bit, and retains the latest for later subscribers", async () => {
    const sub = await app.connect();
    await sub.subscribeAsync('ticks/+');
    const feed = await app.connect({ password: await app.token('feed-1', ['feed']) });
    const live = nextMessage(sub, 'ticks/GBPUSD');
    feed.publish('ticks/GBPUSD', JSON.stringify({ symbol: 'GBPUSD', time_msc: 1_763_769_600_001, bid: 1.31, ask: 1.3102 }), { retain: true });
    const got = await live;
    expect(got.retain).toBe(false);
    const canonical = { symbol: 'GBPUSD', time_msc: 1_763_769_600_001, bid: 1.31, ask: 1.3102, last: 0, volume: 0, flags: 0 };
    expect(JSON.parse(got.payload.toString())).toEqual(canonical);

    // A subscriber on another node finds it once the feed's node has stored it (within 50 ms:
    // docs/protocol.md#retained-messages-and-slow-subscribers).
    if (app.nodes.length > 1) await new Promise((r) => setTimeout(r, 200));
    const late = await app.connect();
    const retained = nextMessage(late, 'ticks/GBPUSD');
    await late.subscribeAsync('ticks/GBPUSD');
    const r = await retained;
    expect(r.retain).toBe(true);
    expect(JSON.parse(r.payload.toString())).toEqual(canonical);
  });

  it('refuses invalid feed ticks and tick publishes from clients without the feed role', async () => {
    const sub = await app.connect();
    await sub.subscribeAsync('ticks/#');
    const seen: string[] = [];
    sub.on('message', (t, p) => t === 'ticks/USDJPY' && seen.push(p.toString()));
    const before = await counter(app, 'ticks_rejected_total');
    const feed = await app.connect({ password: await app.token('feed-2', ['feed']) });
    feed.publish('ticks/USDJPY', JSON.stringify({ symbol: 'USDJPY', time_msc: 1, bid: 150.2, ask: 150.1 }));
    feed.publish('ticks/USDJPY', JSON.stringify({ symbol: 'EURUSD', time_msc: 1, bid: 1, ask: 1 }));
    feed.publish('ticks/USDJPY', 'not json');
    const trader = await app.connect({ password: await app.token('trader-1') });
    trader.publish('ticks/USDJPY', JSON.stringify({ symbol: 'USDJPY', time_msc: 1, bid: 150.1, ask: 150.2 }));
    await new Promise((r) => setTimeout(r, 300));
    expect(await counter(app, 'ticks_rejected_total')).toBe(before + 3);
    const marker = nextMessage(sub, 'ticks/USDJPY');
    feed.publish('ticks/USDJPY', JSON.stringify({ symbol: 'USDJPY', time_msc: 2, bid: 150.1, ask: 150.2 }));
    expect(JSON.parse((await marker).payload.toString()).time_msc).toBe(2);
    expect(seen.map((p) => JSON.parse(p).time_msc)).toEqual([2]);
  });

  it('refuses feed ticks at QoS 2 or over 4 KB (they reach Aedes, not the wire layer): never delivered or retained, counted', async () => {
    const sub = await app.connect();
    await sub.subscribeAsync('ticks/EURUSD');
    const seen: string[] = [];
    sub.on('message', (t, p) => t === 'ticks/EURUSD' && seen.push(p.toString()));
    const rejected = (reason: string) => counter(app, 'ticks_rejected_total', { reason });
    const [qos2, bypass] = [await rejected('qos2'), await rejected('bypass')];
    const feed = await app.connect({ password: await app.token('feed-bypass', ['feed']) });
    const forged = { symbol: 'EURUSD', time_msc: 1, bid: '<script>alert(1)</script>', ask: 1 };
    await feed.publishAsync('ticks/EURUSD', JSON.stringify(forged), { qos: 2, retain: true });
    const padded = { ...forged, pad: 'x'.repeat(5000) };
    await feed.publishAsync('ticks/EURUSD', JSON.stringify(padded), { qos: 1, retain: true });
    await feed.publishAsync('ticks/EURUSD', JSON.stringify({ ...padded, bid: 1, ask: 1.1 }), { qos: 0, retain: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.map((p) => p.slice(0, 80))).toEqual([]);
    expect([await rejected('qos2'), await rejected('bypass')]).toEqual([qos2 + 1, bypass + 2]);

    const late = await app.connect();
    const retained: string[] = [];
    late.on('message', (t, p) => t === 'ticks/EURUSD' && retained.push(p.toString()));
    await late.subscribeAsync('ticks/EURUSD');
    await new Promise((r) => setTimeout(r, 300));
    expect(retained.filter((p) => p.includes('script') || p.includes('pad')).map((p) => p.slice(0, 80))).toEqual([]);
  });

  it('delivers ticks to WebSocket clients', async () => {
    const ws = mqtt.connect(`ws://127.0.0.1:${app.at(1).ports.http}/mqtt`, { reconnectPeriod: 0 });
    try {
      await new Promise((resolve, reject) => (ws.once('connect', resolve), ws.once('error', reject)));
      await ws.subscribeAsync('ticks/XAUUSD');
      const got = nextMessage(ws, 'ticks/XAUUSD');
      app.ctx.mqtt.publishTicks([tick('XAUUSD', 7)]);
      expect(JSON.parse((await got).payload.toString())).toEqual(tick('XAUUSD', 7));
    } finally {
      await ws.endAsync(true);
    }
  });

  it('acknowledges QoS 1 tick publishes itself and keeps a busy feed alive without PINGREQ', async () => {
    const sub = await app.connect();
    await sub.subscribeAsync('ticks/NZDUSD');
    const seen: number[] = [];
    sub.on('message', (t, p) => t === 'ticks/NZDUSD' && seen.push(JSON.parse(p.toString()).time_msc));
    // A raw feed with keepalive 2 s (Aedes gives up after 3 s without a packet it sees) that only
    // publishes, for 5 s: long enough to be cut off unless the wire layer's packets count.
    const feed = await signedInRawClient(app.ports.mqtt!, await app.token('feed-3', ['feed']), { clientId: 'busy-feed', keepalive: 2 });
    const tickJson = (i: number) => JSON.stringify({ symbol: 'NZDUSD', time_msc: i, bid: 0.6, ask: 0.61 });
    feed.send({ cmd: 'publish', topic: 'ticks/NZDUSD', payload: tickJson(1), qos: 1, messageId: 7, retain: false, dup: false });
    await eventually(() => feed.packets.some((p) => p.cmd === 'puback' && p.messageId === 7), 'PUBACK');
    for (let i = 2; i <= 25; i++) {
      feed.send({ cmd: 'publish', topic: 'ticks/NZDUSD', payload: tickJson(i), qos: 0, retain: false, dup: false });
      await new Promise((r) => setTimeout(r, 200));
    }
    await eventually(() => seen.length === 25, '25 ticks');
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(feed.socket.destroyed).toBe(false);
    feed.socket.destroy();
  });

  it('keeps ticks and QoS 1 messages flowing to others while a client stops reading, conflates its ticks and cuts it off past the bound', async () => {
    // As many symbols as ticks per round: the write window keeps one tick per symbol, and the frozen client must back up.
    const symbols = Array.from({ length: 500 }, (_, i) => `SYM${i}`);
    const frozen = await frozenClient(app.ports.mqtt!, await app.token('frozen-user'), ['ticks/#', 'chat/rooms/lobby']);
    const healthy: MqttClient = await app.connect({ password: await app.token('healthy-user') });
    await healthy.subscribeAsync({ 'ticks/+': { qos: 0 }, 'chat/rooms/lobby': { qos: 1 } });
    const latest = new Map<string, number>();
    const chat: string[] = [];
    healthy.on('message', (topic, payload) => {
      if (topic.startsWith('ticks/')) latest.set(topic, JSON.parse(payload.toString()).volume);
      else chat.push(payload.toString());
    });
    const conflatedBefore = await counter(app, 'ticks_conflated_total', { reason: 'backlog' });

    // Ticks until the frozen client's socket is backed up and its ticks conflate (bounded rounds).
    let n = 0;
    for (let round = 0; round < 400 && (await counter(app, 'ticks_conflated_total', { reason: 'backlog' })) === conflatedBefore; round++) {
      app.ctx.mqtt.publishTicks(Array.from({ length: 500 }, (_, i) => tick(symbols[i % symbols.length], ++n)));
      // One write window per round: each window flushes one tick per symbol to the frozen client.
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await counter(app, 'ticks_conflated_total', { reason: 'backlog' })).toBeGreaterThan(conflatedBefore);

    const final = symbols.map((s) => tick(s, ++n));
    app.ctx.mqtt.publishTicks(final);
    for (let i = 0; i < 20; i++) await app.ctx.mqtt.publish('chat/rooms/lobby', JSON.stringify({ i }), { qos: 1, retain: false });
    await eventually(() => chat.length === 20 && final.every((t) => latest.get(`ticks/${t.symbol}`) === t.volume), 'healthy delivery');
    expect(chat.map((c) => JSON.parse(c).i)).toEqual(Array.from({ length: 20 }, (_, i) => i));

    // Messages that are never conflated pile up for the frozen client until the bound cuts it off.
    const slowBefore = await counter(app, 'slow_consumer_disconnects_total');
    const big = 'x'.repeat(60_000);
    for (let i = 0; i < 400 && (await counter(app, 'slow_consumer_disconnects_total')) === slowBefore; i++) {
      await app.ctx.mqtt.publish('chat/rooms/lobby', JSON.stringify({ big, i }), { qos: 1, retain: false });
      // Acked once queued for sessions; the live fan-out (and the bound) follows in the turn's flush.
      await new Promise((r) => setImmediate(r));
    }
    expect(await counter(app, 'slow_consumer_disconnects_total')).toBe(slowBefore + 1);
    // Reading again, it finds the end of the stream behind what the kernel had buffered.
    frozen.socket.resume();
    await frozen.closed;
    const marker = nextMessage(healthy, 'chat/rooms/lobby');
    await app.ctx.mqtt.publish('chat/rooms/lobby', JSON.stringify({ after: true }), { qos: 1, retain: false });
    expect(JSON.parse((await marker).payload.toString())).toHaveProperty('after', true);
  });
});

describe('tick write window', () => {
  // Two nodes: broker/cluster.test.ts runs the same scenario.
  let windowed: Topology;
  let perTurn: Topology;
  beforeAll(async () => {
    windowed = await startTopology('single');
    perTurn = await startTopology('single', { MQTT_WRITE_WINDOW_MS: '0' });
  });
  afterAll(async () => {
    await windowed?.stop();
    await perTurn?.stop();
  });

  it('sends the latest tick of each symbol per window, counted as conflated, and QoS 1 chat amid tick bursts complete and in order', async () => {
    const before = await counter(windowed, 'ticks_conflated_total', { reason: 'window' });
    await writeWindowScenario(windowed, windowed, 'one', true);
    expect(await counter(windowed, 'ticks_conflated_total', { reason: 'window' })).toBeGreaterThan(before);
  });

  it('with MQTT_WRITE_WINDOW_MS=0 sends every tick in order', async () => {
    await writeWindowScenario(perTurn, perTurn, 'zero', false);
  });
});
