import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listQueues, privateVhost } from './testing/rabbitmq.js';
import { BRIDGE_QUEUE_MAX_LENGTH, DEAD_QUEUE_MAX_LENGTH, declareTickTopology, TICK_TOPOLOGY } from './topology.js';

describe('declareTickTopology (RabbitMQ, private vhost)', () => {
  let vhost: Awaited<ReturnType<typeof privateVhost>>;
  let connection: amqp.ChannelModel;

  beforeAll(async () => {
    vhost = await privateVhost('tt_topology');
    connection = await amqp.connect(vhost.url);
  });

  afterAll(async () => {
    await connection?.close();
    await vhost?.drop();
  });

  it('declares the contract objects idempotently and routes feed and dead-letter messages', async () => {
    const channel = await connection.createChannel();
    await declareTickTopology(channel);
    await declareTickTopology(channel);

    const queues = Object.fromEntries((await listQueues(vhost.name)).map((q) => [q.name, q]));
    expect(queues[TICK_TOPOLOGY.bridgeQueue].arguments).toEqual({
      'x-single-active-consumer': true,
      'x-max-length': BRIDGE_QUEUE_MAX_LENGTH,
      'x-overflow': 'drop-head',
    });
    expect(queues[TICK_TOPOLOGY.deadQueue].arguments).toEqual({ 'x-max-length': DEAD_QUEUE_MAX_LENGTH, 'x-overflow': 'drop-head' });

    channel.publish(TICK_TOPOLOGY.exchange, 'mt5.EURUSD', Buffer.from('EURUSD:|:1.1;1.2'));
    channel.publish(TICK_TOPOLOGY.deadExchange, 'mt5.EURUSD', Buffer.from('bad'));
    await expect.poll(async () => (await channel.checkQueue(TICK_TOPOLOGY.bridgeQueue)).messageCount).toBe(1);
    await expect.poll(async () => (await channel.checkQueue(TICK_TOPOLOGY.deadQueue)).messageCount).toBe(1);

    // The exchange is the plain durable topic exchange other roles declare too.
    await channel.assertExchange(TICK_TOPOLOGY.exchange, 'topic', { durable: true });
    await channel.close();
  });
});
