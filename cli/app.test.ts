import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { privateVhost } from '../bridges/testing/rabbitmq.js';
import { nextMessage, startTestApp, type TestApp } from '../test/testing/app.js';

/**
 * The composed process as `ticktalk serve` runs it with RabbitMQ: a feed written in any language
 * publishes to `mt.ticks`; MQTT subscribers see the tick with its exact values, and the candle
 * path stores it for UDF.
 */
describe('all roles with RabbitMQ', () => {
  let app: TestApp;
  let vhost: Awaited<ReturnType<typeof privateVhost>>;
  beforeAll(async () => {
    vhost = await privateVhost('app');
    app = await startTestApp({ AMQP_URL: vhost.url, FEED_TIMEZONE: 'Europe/Athens', SYMBOLS: 'EURUSD' }, ['broker', 'bridge', 'ohlcv', 'web']);
  });
  afterAll(async () => {
    await app?.stop();
    await vhost?.drop();
  });

  it('reports ready once RabbitMQ and the database are connected', async () => {
    await expect.poll(async () => (await fetch(`${app.httpUrl}/readyz`)).status, { timeout: 20_000 }).toBe(200);
  });

  it('a feed publishing like Python pika (no content type) reaches MQTT subscribers with exact values', async () => {
    const sub = await app.connect();
    await sub.subscribeAsync('ticks/EURUSD');
    const got = nextMessage(sub, 'ticks/EURUSD', 15_000);

    const conn = await amqp.connect(vhost.url);
    const ch = await conn.createConfirmChannel();
    // 2025-07-01 12:00:00.123 server time in Athens (EEST, UTC+3) is 09:00:00.123 UTC.
    const body = { time_msc: Date.UTC(2025, 6, 1, 12, 0, 0, 123), bid: 1.17312, ask: 1.17325, last: 0, volume: 0, flags: 6 };
    ch.publish('mt.ticks', 'mt5-demo.EURUSD', Buffer.from(JSON.stringify(body)));
    await ch.waitForConfirms();
    await conn.close();

    expect(JSON.parse((await got).payload.toString())).toEqual({
      symbol: 'EURUSD',
      time_msc: Date.UTC(2025, 6, 1, 9, 0, 0, 123),
      bid: 1.17312,
      ask: 1.17325,
      last: 0,
      volume: 0,
      flags: 6,
    });

    const from = Date.UTC(2025, 6, 1, 9, 0, 0) / 1000;
    await expect
      .poll(async () => (await fetch(`${app.httpUrl}/udf/history?symbol=EURUSD&resolution=1&from=${from}&to=${from + 60}`)).json(), {
        timeout: 15_000,
      })
      .toEqual({ s: 'ok', t: [from], o: [1.17312], h: [1.17312], l: [1.17312], c: [1.17312], v: [1] });
  });

  it('a bot message on chat.inbound is stored, delivered as bot:{user} and mirrored to chat.events', async () => {
    const alice = await app.connect({ password: await app.token('alice') });
    await alice.subscribeAsync('chat/rooms/desk', { qos: 1 });
    const delivered = nextMessage(alice, 'chat/rooms/desk', 15_000);

    const conn = await amqp.connect(vhost.url);
    const ch = await conn.createConfirmChannel();
    const mirror = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(mirror.queue, 'chat.events', 'room.desk.#');
    const mirrored = new Promise<{ key: string; body: Record<string, unknown> }>((resolve) => {
      void ch.consume(mirror.queue, (m) => m && resolve({ key: m.fields.routingKey, body: JSON.parse(m.content.toString()) }), { noAck: true });
    });
    ch.publish('chat.inbound', 'room.desk', Buffer.from(JSON.stringify({ user: 'news', name: 'Newsbot', text: 'ECB holds rates', ref: 'n-1' })));
    await ch.waitForConfirms();

    const msg = JSON.parse((await delivered).payload.toString());
    expect(msg).toMatchObject({ type: 'message', room: 'desk', seq: 1, user: 'bot:news', name: 'Newsbot', text: 'ECB holds rates', ref: 'n-1' });
    const event = await mirrored;
    expect(event.key).toBe('room.desk.message');
    expect(event.body).toMatchObject({ id: msg.id, seq: 1, user: 'bot:news' });
    await conn.close();
  });
});
