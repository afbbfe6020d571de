import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../platform/metrics.js';
import { roomConversation } from '../chat/conversation.js';
import { chatServiceOnPglite } from '../chat/testing/service.js';
import { CHAT_BRIDGE_NAMES, connectChatBridges } from './chat-events.js';
import { declareChatInbound } from './chat-inbound.js';
import { privateVhost } from './testing/rabbitmq.js';

describe('chat.inbound (RabbitMQ, private vhost)', () => {
  let vhost: Awaited<ReturnType<typeof privateVhost>>;
  let chat: Awaited<ReturnType<typeof chatServiceOnPglite>>;
  let bridges: { stop(): Promise<void> };
  let bot: amqp.ChannelModel;
  let channel: amqp.ConfirmChannel;
  const names = CHAT_BRIDGE_NAMES.inbound;

  const post = async (routingKey: string, body: unknown) => {
    channel.publish(names.exchange, routingKey, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), {
      contentType: 'application/json',
    });
    await channel.waitForConfirms();
  };

  beforeAll(async () => {
    vhost = await privateVhost('tt_chat_in');
    chat = await chatServiceOnPglite({ outbox: false, maxLength: 50 });
    bridges = await connectChatBridges({
      url: vhost.url,
      chat: chat.service,
      store: chat.store,
      maxLength: 50,
      holder: 'test',
      log: chat.log,
      metrics: new Metrics(false),
    });
    bot = await amqp.connect(vhost.url);
    channel = await bot.createConfirmChannel();
    // Declared by the bot too, so its first publishes route even before the bridge is up.
    await declareChatInbound(channel, names);
  });
  afterAll(async () => {
    await bot?.close();
    await bridges?.stop();
    await chat?.close();
    await vhost?.drop();
  });

  it('stores and delivers bot messages as bot:{user}, once per ref', async () => {
    await post('room.lobby', { user: 'news', name: 'News Bot', text: 'CPI 3.1%', ref: 'cpi-1' });
    await post('room.lobby', { user: 'news', name: 'News Bot', text: 'CPI 3.1%', ref: 'cpi-1' });
    await post('room.fx', { user: 'alerts', text: 'EURUSD > 1.10' });
    const lobby = roomConversation('lobby')!;
    await expect.poll(async () => (await chat.service.history(lobby, { limit: 10 })).messages.length, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => chat.published.length, { timeout: 10_000 }).toBe(2);
    const [message] = (await chat.service.history(lobby, { limit: 10 })).messages;
    expect(message).toMatchObject({ room: 'lobby', seq: 1, user: 'bot:news', name: 'News Bot', text: 'CPI 3.1%', ref: 'cpi-1' });
    expect(chat.published).toContainEqual({ topic: 'chat/rooms/lobby', qos: 1, payload: message });
    expect(chat.published).toContainEqual({
      topic: 'chat/rooms/fx',
      qos: 1,
      payload: expect.objectContaining({ user: 'bot:alerts', name: 'alerts' }),
    });
  });

  it('uses the AMQP message id as the ref when the body has none, so a redelivery is stored once', async () => {
    for (let i = 0; i < 2; i++) {
      channel.publish(names.exchange, 'room.ids', Buffer.from(JSON.stringify({ user: 'feed', text: 'halt' })), { messageId: 'amqp-id-7' });
    }
    await channel.waitForConfirms();
    await post('room.ids', { user: 'feed', text: 'resume' });
    const ids = roomConversation('ids')!;
    await expect
      .poll(async () => (await chat.service.history(ids, { limit: 10 })).messages.map((m) => [m.text, m.ref]), { timeout: 10_000 })
      .toEqual([
        ['halt', 'amqp-id-7'],
        ['resume', undefined],
      ]);
  });

  it('dead-letters invalid messages with the reason and stores nothing', async () => {
    const dead = await bot.createChannel();
    const invalid: [string, unknown, string][] = [
      ['room.Not-A-Room', { user: 'news', text: 'x' }, 'routing key must be room.{room}'],
      ['room.lobby', 'not json', 'body must be JSON'],
      ['room.lobby', { user: 'news' }, 'text'],
      ['room.lobby', { user: 'news', text: 'x'.repeat(51) }, 'at most 50 characters'],
      ['room.lobby', { user: 'bad user!', text: 'x' }, 'user must match'],
    ];
    for (const [key, body] of invalid) await post(key, body);
    const got: { key: string; body: string; error: string }[] = [];
    const deadline = Date.now() + 5_000;
    while (got.length < invalid.length && Date.now() < deadline) {
      const msg = await dead.get(names.deadQueue, { noAck: true });
      if (msg) got.push({ key: msg.fields.routingKey, body: msg.content.toString(), error: String(msg.properties.headers?.['x-ticktalk-error']) });
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toHaveLength(invalid.length);
    invalid.forEach(([key, body, reason], i) => {
      expect(got[i]).toMatchObject({ key, body: typeof body === 'string' ? body : JSON.stringify(body) });
      expect(got[i].error).toContain(reason);
    });
    expect((await chat.service.history(roomConversation('lobby')!, { limit: 10 })).messages).toHaveLength(1);
  });
});
