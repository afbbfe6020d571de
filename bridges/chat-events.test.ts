import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../platform/metrics.js';
import { dmConversation, roomConversation } from '../chat/conversation.js';
import { chatServiceOnPglite } from '../chat/testing/service.js';
import { CHAT_BRIDGE_NAMES, connectChatBridges } from './chat-events.js';
import { closeConnectionNamed, privateVhost } from './testing/rabbitmq.js';

describe('chat.events outbox relay (RabbitMQ, private vhost)', () => {
  let vhost: Awaited<ReturnType<typeof privateVhost>>;
  let chat: Awaited<ReturnType<typeof chatServiceOnPglite>>;
  let observer: amqp.ChannelModel;
  let channel: amqp.Channel;
  let queue: string;
  const bridges: { stop(): Promise<void> }[] = [];
  const received: { key: string; body: Record<string, unknown> }[] = [];
  const alice = { sub: 'alice', name: 'Alice', roles: ['trader', 'moderator'] as const };
  const lobby = roomConversation('lobby')!;

  beforeAll(async () => {
    vhost = await privateVhost('tt_chat_ev');
    chat = await chatServiceOnPglite({ outbox: true });
    observer = await amqp.connect(vhost.url);
    channel = await observer.createChannel();
    await channel.assertExchange(CHAT_BRIDGE_NAMES.eventsExchange, 'topic', { durable: true });
    ({ queue } = await channel.assertQueue('', { exclusive: true }));
    await channel.bindQueue(queue, CHAT_BRIDGE_NAMES.eventsExchange, '#');
    await channel.consume(queue, (msg) => msg && received.push({ key: msg.fields.routingKey, body: JSON.parse(msg.content.toString()) }), {
      noAck: true,
    });
  });
  afterAll(async () => {
    for (const b of bridges) await b.stop();
    await observer?.close();
    await chat?.close();
    await vhost?.drop();
  });

  const start = async (holder: string) => {
    bridges.push(
      await connectChatBridges({
        url: vhost.url,
        chat: chat.service,
        store: chat.store,
        maxLength: 2000,
        holder,
        log: chat.log,
        metrics: new Metrics(false),
      }),
    );
  };

  it('relays events stored while RabbitMQ was out of reach, in order, and those after a lost connection', async () => {
    // No bridge yet: as far as chat is concerned RabbitMQ is down. Everything waits in the outbox.
    await chat.service.post(alice, lobby, { text: 'one' }, { rateLimited: false });
    await chat.service.post(alice, lobby, { text: 'two' }, { rateLimited: false });
    await chat.service.post(alice, dmConversation('bob', 'alice')!, { text: 'psst' }, { rateLimited: false });
    await chat.service.edit(alice, lobby, 1, 'uno');
    await chat.service.delete(alice, lobby, 2);
    await chat.service.mute(alice, lobby, 'troll', Date.now() + 60_000);
    await start('relay-1');
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(6);
    expect(received.map((r) => r.key)).toEqual([
      'room.lobby.message',
      'room.lobby.message',
      'dm.alice.bob.message',
      'room.lobby.edit',
      'room.lobby.delete',
      'room.lobby.mute',
    ]);
    expect(received[0].body).toMatchObject({ type: 'message', room: 'lobby', seq: 1, user: 'alice', text: 'one' });
    expect(received[3].body).toEqual({ type: 'edit', room: 'lobby', seq: 1, text: 'uno', edited_ts: expect.any(Number) });

    await closeConnectionNamed('ticktalk chat bridges relay-1');
    await chat.service.post(alice, lobby, { text: 'three' }, { rateLimited: false });
    await chat.service.post(alice, lobby, { text: 'four' }, { rateLimited: false });
    await expect.poll(() => received.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(8);
    // At least once: nothing lost; a confirm lost with the connection may repeat an event.
    const texts = received.slice(6).map((r) => r.body.text);
    expect([...new Set(texts)]).toEqual(['three', 'four']);
  });
});
