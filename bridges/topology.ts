import type { Channel } from 'amqplib';

/**
 * RabbitMQ objects of the tick path (docs/protocol.md#tick-feeds). Every declaration is idempotent: the bridge runs
 * it on each (re)connect, and other roles declaring the same objects must use the same arguments
 * (RabbitMQ refuses a redeclaration that differs), so they call these functions too.
 */
export const TICK_TOPOLOGY = {
  /** Feeds publish here, routing key `{feed}.{SYMBOL}`. */
  exchange: 'mt.ticks',
  /** Tick bridge to MQTT: single active consumer, bounded, oldest dropped first (latest matters). */
  bridgeQueue: 'ticktalk.bridge.ticks',
  /** Invalid feed messages, original body kept, reason in `x-ticktalk-error`. */
  deadExchange: 'mt.ticks.dead',
  deadQueue: 'ticktalk.ticks.dead',
} as const;

export type TickTopologyNames = { [K in keyof typeof TICK_TOPOLOGY]: string };

/** Ticks waiting for the bridge; beyond this the oldest are dropped, since only the latest reaches MQTT. */
export const BRIDGE_QUEUE_MAX_LENGTH = 10_000;
/** Dead letters kept for inspection; a broken feed cannot fill the broker's disk. */
export const DEAD_QUEUE_MAX_LENGTH = 100_000;

/** `mt.ticks`: topic, durable, no arguments. */
export async function declareTickExchange(channel: Channel, names: TickTopologyNames = TICK_TOPOLOGY): Promise<void> {
  await channel.assertExchange(names.exchange, 'topic', { durable: true });
}

/** `mt.ticks.dead` (topic, durable) → `ticktalk.ticks.dead` (durable, bounded), bound with `#`. */
export async function declareTickDeadLetters(channel: Channel, names: TickTopologyNames = TICK_TOPOLOGY): Promise<void> {
  await channel.assertExchange(names.deadExchange, 'topic', { durable: true });
  await channel.assertQueue(names.deadQueue, {
    durable: true,
    arguments: { 'x-max-length': DEAD_QUEUE_MAX_LENGTH, 'x-overflow': 'drop-head' },
  });
  await channel.bindQueue(names.deadQueue, names.deadExchange, '#');
}

/**
 * Everything the tick bridge needs. The bridge queue has no `x-dead-letter-exchange` on purpose:
 * ticks dropped by the length bound are stale, not invalid, and must not pollute the dead-letter
 * queue; the bridge publishes invalid messages there itself, with the reason.
 */
export async function declareTickTopology(channel: Channel, names: TickTopologyNames = TICK_TOPOLOGY): Promise<void> {
  await declareTickExchange(channel, names);
  await declareTickDeadLetters(channel, names);
  await channel.assertQueue(names.bridgeQueue, {
    durable: true,
    arguments: {
      'x-single-active-consumer': true,
      'x-max-length': BRIDGE_QUEUE_MAX_LENGTH,
      'x-overflow': 'drop-head',
    },
  });
  await channel.bindQueue(names.bridgeQueue, names.exchange, '#');
}
