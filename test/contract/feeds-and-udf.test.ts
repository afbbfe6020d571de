import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { privateVhost } from '../../bridges/testing/rabbitmq.js';
import { freshDatabase } from '../testing/postgres.js';
import { nextMessage } from '../testing/app.js';
import { startTopology, TOPOLOGIES, type Topology } from '../testing/topology.js';

/**
 * docs/protocol.md#rabbitmq (RabbitMQ), #udf-datafeed and #operations-endpoints, against every role composed with
 * RabbitMQ in a private vhost, the way a feed, a bot and a TradingView chart use them: on one node,
 * and on two nodes over Redis that both run every role on the same vhost and database (clients
 * spread over both, UDF requests alternating).
 */

let app: Topology;
let vhost: Awaited<ReturnType<typeof privateVhost>>;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let amqpConn: ChannelModel;
let publisher: ConfirmChannel;

async function publish(exchange: string, routingKey: string, body: unknown, contentType = 'application/json'): Promise<void> {
  const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  publisher.publish(exchange, routingKey, bytes, { contentType });
  await publisher.waitForConfirms();
}

/** Polls in hooks, where expect.poll is not allowed; bounded by `ms`. */
async function until(ready: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`not ready within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A UDF answer: an object for history/symbols/config, an array for search. */
type UdfAnswer = { s?: string; t?: number[]; nextTime?: number; [field: string]: unknown };
let udfCalls = 0;
/** To the nodes in turn: either serves what the aggregators stored. */
const udf = async (query: string): Promise<UdfAnswer> => (await fetch(`${app.at(udfCalls++).httpUrl}/udf/${query}`)).json() as Promise<UdfAnswer>;

describe.each(TOPOLOGIES)('%s', (kind) => {
  beforeAll(async () => {
    [vhost, db] = await Promise.all([privateVhost('contract'), freshDatabase('contract')]);
    app = await startTopology(kind, { AMQP_URL: vhost.url, DATABASE_URL: db.url, SYMBOLS: 'EURUSD' }, ['broker', 'bridge', 'ohlcv', 'web']);
    for (const node of app.nodes) await until(async () => (await fetch(`${node.httpUrl}/readyz`)).status === 200, 20_000);
    amqpConn = await amqp.connect(vhost.url);
    publisher = await amqpConn.createConfirmChannel();
  });
  afterAll(async () => {
    await amqpConn?.close().catch(() => {});
    await app?.stop();
    await vhost?.drop();
    await db?.drop();
  });

  describe('protocol: tick feeds (mt.ticks bodies)', () => {
    it('one JSON tick: symbol from the routing key, exact values on MQTT', async () => {
      const sub = await app.connect();
      await sub.subscribeAsync('ticks/QJSON', { qos: 0 });
      const got = nextMessage(sub, 'ticks/QJSON', 15_000);
      const time_msc = Date.UTC(2025, 0, 2, 10, 0, 0, 123);
      await publish('mt.ticks', 'mt5-demo.QJSON', { time_msc, bid: 1.03512, ask: 1.03524, flags: 6 });
      expect(JSON.parse((await got).payload.toString())).toEqual({
        symbol: 'QJSON',
        time_msc,
        bid: 1.03512,
        ask: 1.03524,
        last: 0,
        volume: 0,
        flags: 6,
      });
    });

    it('an array of ticks; a symbol in the body wins over the routing key; `time` in seconds', async () => {
      const sub = await app.connect();
      await sub.subscribeAsync(['ticks/QARR', 'ticks/QBODY'], { qos: 0 });
      const first = nextMessage(sub, 'ticks/QARR', 15_000);
      const second = nextMessage(sub, 'ticks/QBODY', 15_000);
      await publish('mt.ticks', 'feed.QARR', [
        { time_msc: Date.UTC(2025, 0, 2, 10, 0, 1), bid: 2.1, ask: 2.2 },
        { symbol: 'QBODY', time: Date.UTC(2025, 0, 2, 10, 0, 2) / 1000, bid: 3.1, ask: 3.2 },
      ]);
      expect(JSON.parse((await first).payload.toString())).toMatchObject({ symbol: 'QARR', bid: 2.1, ask: 2.2 });
      expect(JSON.parse((await second).payload.toString())).toMatchObject({
        symbol: 'QBODY',
        time_msc: Date.UTC(2025, 0, 2, 10, 0, 2),
        bid: 3.1,
        ask: 3.2,
      });
    });

    it('DWX text is stamped with the time of receipt', async () => {
      const sub = await app.connect();
      await sub.subscribeAsync('ticks/QDWX', { qos: 0 });
      const got = nextMessage(sub, 'ticks/QDWX', 15_000);
      const before = Date.now();
      await publish('mt.ticks', 'dwx.QDWX', 'QDWX:|:1.08312;1.08325', 'text/plain');
      const tick = JSON.parse((await got).payload.toString());
      expect(tick).toMatchObject({ symbol: 'QDWX', bid: 1.08312, ask: 1.08325 });
      expect(tick.time_msc).toBeGreaterThanOrEqual(before - 1000);
      expect(tick.time_msc).toBeLessThanOrEqual(Date.now() + 1000);
    });

    it('invalid bodies are dead-lettered to ticktalk.ticks.dead with the original body and x-ticktalk-error', async () => {
      const bad: [string, string][] = [
        ['{"time_msc":1735812000123,"bid":2,"ask":1}', 'application/json'],
        ['{"time_msc":1735812000123,"bid":-1,"ask":1}', 'application/json'],
        ['{"time_msc":1735812000123,"bid":1e999,"ask":2}', 'application/json'],
        ['{"symbol":"EUR/USD","time_msc":1735812000123,"bid":1,"ask":2}', 'application/json'],
        ['{"bid":', 'application/json'],
        ['QBAD:|:abc;1', 'text/plain'],
      ];
      for (const [body, type] of bad) await publish('mt.ticks', 'feed.QBAD', body, type);

      const ch = await amqpConn.createChannel();
      const dead: { body: string; reason: unknown }[] = [];
      await expect
        .poll(
          async () => {
            const m = await ch.get('ticktalk.ticks.dead', { noAck: true });
            if (m) dead.push({ body: m.content.toString(), reason: m.properties.headers?.['x-ticktalk-error'] });
            return dead.length;
          },
          { timeout: 15_000, interval: 50 },
        )
        .toBe(bad.length);
      await ch.close();
      expect(dead.map((d) => d.body).sort()).toEqual(bad.map(([body]) => body).sort());
      for (const d of dead) expect(d.reason).toEqual(expect.stringMatching(/\S/));
    });
  });

  describe('protocol: chat events and bot messages (RabbitMQ)', () => {
    it('every stored chat event goes to chat.events as room.{room}.{type}; chat.inbound posts as bot:{user}', async () => {
      const room = `qbot${Date.now().toString(36)}`;
      const ch = await amqpConn.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, 'chat.events', `room.${room}.*`);
      const events: { key: string; body: Record<string, unknown> }[] = [];
      await ch.consume(queue, (m) => m && events.push({ key: m.fields.routingKey, body: JSON.parse(m.content.toString()) }), { noAck: true });

      const alice = await app.connect({ password: await app.token('alice', undefined, 'Alice') });
      await alice.subscribeAsync(`chat/rooms/${room}`, { qos: 1 });
      const delivered: Record<string, unknown>[] = [];
      alice.on('message', (topic, payload) => topic === `chat/rooms/${room}` && delivered.push(JSON.parse(payload.toString())));
      await alice.publishAsync(`chat/rooms/${room}`, JSON.stringify({ text: 'hello bots' }), { qos: 1 });
      await publish('chat.inbound', `room.${room}`, { user: 'weather', name: 'Weather Bot', text: 'sunny', ref: 'w-1' });
      await expect.poll(() => delivered.length, { timeout: 15_000 }).toBe(2);
      expect(delivered[1]).toEqual({
        type: 'message',
        id: expect.any(String),
        room,
        seq: 2,
        user: 'bot:weather',
        name: 'Weather Bot',
        text: 'sunny',
        ts: expect.any(Number),
        ref: 'w-1',
      });

      const edited = await fetch(`${app.httpUrl}/api/rooms/${room}/messages/1`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${await app.token('alice')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'hello, bots' }),
      });
      expect(edited.status).toBe(200);

      await expect
        .poll(() => events.map((e) => e.key), { timeout: 15_000 })
        .toEqual([`room.${room}.message`, `room.${room}.message`, `room.${room}.edit`]);
      expect(events.map((e) => [e.body.type, e.body.seq, e.body.user])).toEqual([
        ['message', 1, 'alice'],
        ['message', 2, 'bot:weather'],
        ['edit', 1, undefined],
      ]);
      await ch.close();
    });
  });

  describe('protocol: UDF datafeed', () => {
    // Three ticks in two 1-minute buckets on 2025-01-02, fed through RabbitMQ like any feed.
    const t0 = Date.UTC(2025, 0, 2, 12, 0, 0) / 1000;
    beforeAll(async () => {
      await publish('mt.ticks', 'feed.QUDF', [
        { time_msc: t0 * 1000 + 100, bid: 1.1, ask: 1.2 },
        { time_msc: t0 * 1000 + 30_000, bid: 1.3, ask: 1.4 },
        { time_msc: (t0 + 60) * 1000 + 500, bid: 1.2, ask: 1.3 },
      ]);
      await until(async () => (await udf(`history?symbol=QUDF&resolution=1&from=${t0}&to=${t0 + 120}`)).t?.length === 2, 15_000);
    });

    it('config states exactly the documented capabilities', async () => {
      expect(await udf('config')).toMatchObject({
        supports_search: true,
        supports_group_request: false,
        supports_time: true,
        supported_resolutions: ['1S', '1', '5', '15', '30', '60', '240', '1D', '1W', '1M'],
      });
    });

    it('history returns bars in [from, to), ascending, in UTC seconds', async () => {
      expect(await udf(`history?symbol=QUDF&resolution=1&from=${t0}&to=${t0 + 120}`)).toEqual({
        s: 'ok',
        t: [t0, t0 + 60],
        o: [1.1, 1.2],
        h: [1.3, 1.2],
        l: [1.1, 1.2],
        c: [1.3, 1.2],
        v: [2, 1],
      });
      // `to` is exclusive, `from` inclusive.
      expect((await udf(`history?symbol=QUDF&resolution=1&from=${t0}&to=${t0 + 60}`)).t).toEqual([t0]);
      expect((await udf(`history?symbol=QUDF&resolution=1&from=${t0 + 60}&to=${t0 + 61}`)).t).toEqual([t0 + 60]);
    });

    it('countback wins over from: the countback newest bars before to', async () => {
      expect((await udf(`history?symbol=QUDF&resolution=1&from=${t0 + 110}&to=${t0 + 120}&countback=2`)).t).toEqual([t0, t0 + 60]);
      expect((await udf(`history?symbol=QUDF&resolution=1&from=${t0 + 110}&to=${t0 + 120}&countback=1`)).t).toEqual([t0 + 60]);
    });

    it('no bars: no_data, with nextTime when older data exists', async () => {
      expect(await udf(`history?symbol=QUDF&resolution=1&from=${t0 + 3600}&to=${t0 + 7200}`)).toEqual({ s: 'no_data', nextTime: t0 + 60 });
      const none = await udf(`history?symbol=QUDF&resolution=1&from=${t0 - 7200}&to=${t0 - 3600}`);
      expect(none.s).toBe('no_data');
      expect(none.nextTime).toBeUndefined();
    });

    it('unknown symbol or resolution: s=error with errmsg', async () => {
      expect(await udf(`history?symbol=NOPE&resolution=1&from=${t0}&to=${t0 + 60}`)).toEqual({ s: 'error', errmsg: expect.any(String) });
      expect(await udf(`history?symbol=QUDF&resolution=7&from=${t0}&to=${t0 + 60}`)).toEqual({ s: 'error', errmsg: expect.any(String) });
      expect(await udf('symbols?symbol=NOPE')).toEqual({ s: 'error', errmsg: expect.any(String) });
    });

    it('symbols, search and time answer for a symbol seen on the feed', async () => {
      expect(await udf('symbols?symbol=QUDF')).toMatchObject({ name: 'QUDF', ticker: 'QUDF' });
      expect(await udf('search?query=QUD&type=&exchange=&limit=5')).toEqual([expect.objectContaining({ symbol: 'QUDF' })]);
      const time = Number(await (await fetch(`${app.httpUrl}/udf/time`)).text());
      expect(Math.abs(time - Date.now() / 1000)).toBeLessThan(60);
    });

    it('CORS is open for /udf, preflight included', async () => {
      const get = await fetch(`${app.httpUrl}/udf/config`, { headers: { origin: 'https://charts.example.com' } });
      expect(get.headers.get('access-control-allow-origin')).toBe('*');
      const preflight = await fetch(`${app.httpUrl}/udf/history`, {
        method: 'OPTIONS',
        headers: { origin: 'https://charts.example.com', 'access-control-request-method': 'GET' },
      });
      expect(preflight.status).toBeLessThan(300);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
      expect(preflight.headers.get('access-control-allow-methods')).toContain('GET');
    });
  });

  describe('protocol: candles', () => {
    it('a late tick lands in its own bucket, however old; the corrected bar is re-published on candles/…', async () => {
      const t1 = Date.UTC(2025, 2, 3, 9, 0, 0) / 1000; // a Monday: the 1W bar opens at 00:00 that day
      await publish('mt.ticks', 'feed.QLATE', { time_msc: t1 * 1000 + 10_000, bid: 1.5, ask: 1.6 });
      await publish('mt.ticks', 'feed.QLATE', { time_msc: (t1 + 3600) * 1000, bid: 1.7, ask: 1.8 });
      const history = (res: string) => udf(`history?symbol=QLATE&resolution=${res}&from=${t1 - 40 * 86400}&to=${t1 + 86400}`);
      await expect.poll(async () => (await history('1')).t, { timeout: 15_000 }).toEqual([t1, t1 + 3600]);

      const sub = await app.connect();
      await sub.subscribeAsync('candles/QLATE/1', { qos: 0 });
      const republished: Record<string, unknown>[] = [];
      sub.on('message', (_topic, payload, packet) => !packet.retain && republished.push(JSON.parse(payload.toString())));
      // Earlier than the bucket's first tick (new open and low), then later than its last (new close and high).
      await publish('mt.ticks', 'feed.QLATE', [
        { time_msc: t1 * 1000 + 5_000, bid: 1.4, ask: 1.45 },
        { time_msc: t1 * 1000 + 50_000, bid: 1.9, ask: 1.95 },
      ]);

      await expect
        .poll(async () => history('1'), { timeout: 15_000 })
        .toEqual({ s: 'ok', t: [t1, t1 + 3600], o: [1.4, 1.7], h: [1.9, 1.7], l: [1.4, 1.7], c: [1.9, 1.7], v: [3, 1] });
      await expect.poll(() => republished, { timeout: 15_000 }).toContainEqual({ time: t1, open: 1.4, high: 1.9, low: 1.4, close: 1.9, volume: 3 });
      const monday = Date.UTC(2025, 2, 3) / 1000;
      expect(await history('1W')).toEqual({ s: 'ok', t: [monday], o: [1.4], h: [1.9], l: [1.4], c: [1.7], v: [4] });
      expect((await history('1M')).t).toEqual([Date.UTC(2025, 2, 1) / 1000]);
    });
  });

  describe('protocol: operations endpoints', () => {
    it('/metrics is Prometheus text with ticktalk_ metrics; /healthz and /readyz answer 200 when connected', async () => {
      const metrics = await fetch(`${app.httpUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await metrics.text()).toMatch(/^# TYPE ticktalk_\w+ (counter|gauge|histogram)$/m);
      expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${app.httpUrl}/readyz`)).status).toBe(200);
      expect((await fetch(`${app.httpUrl}/`)).headers.get('content-type')).toMatch(/^text\/html/);
    });
  });
});
