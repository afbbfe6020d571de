import amqp from 'amqplib';
import { pino } from 'pino';
import { Health } from '../platform/health.js';
import { Metrics } from '../platform/metrics.js';
import { Simulator } from './simulator.js';
import { privateVhost } from './testing/rabbitmq.js';
import { describeTickSource } from './testing/tick-source-suite.js';
import { TickBridge } from './tick-bridge.js';
import { TICK_TOPOLOGY } from './topology.js';

describeTickSource('Simulator', async () => ({
  source: new Simulator({ symbols: ['EURUSD', 'BTCUSD', 'AUDNZD'], ratePerSymbol: 100 }),
  drive: async () => {},
  teardown: async () => {},
}));

describeTickSource('TickBridge (RabbitMQ)', async () => {
  const vhost = await privateVhost('tt_source');
  const feed = await amqp.connect(vhost.url);
  const channel = await feed.createConfirmChannel();
  await channel.assertExchange(TICK_TOPOLOGY.exchange, 'topic', { durable: true });
  let bid = 1.1;
  return {
    source: new TickBridge({ url: vhost.url, timeZone: 'UTC', log: pino({ level: 'silent' }), metrics: new Metrics(false), health: new Health() }),
    drive: async () => {
      bid += 0.0001;
      const body = { time_msc: Date.now(), bid: Number(bid.toFixed(5)), ask: Number((bid + 0.0001).toFixed(5)) };
      channel.publish(TICK_TOPOLOGY.exchange, 'feed.EURUSD', Buffer.from(JSON.stringify(body)));
      await channel.waitForConfirms();
    },
    teardown: async () => {
      await feed.close();
      await vhost.drop();
    },
  };
});
