import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import type { Health } from '../platform/health.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { TickHub, TickSource } from '../platform/tick-hub.js';
import { describeRejects, parseTickMessage, receiptTime, type ParsedTickMessage } from './tick-body.js';
import { declareTickTopology, TICK_TOPOLOGY, type TickTopologyNames } from './topology.js';
import { publishDeadLetter } from './dead-letter.js';
import { connectRecovering, type ReconnectPolicy } from './amqp.js';

export interface TickBridgeOptions {
  /** AMQP_URL. */
  url: string;
  /** FEED_TIMEZONE. */
  timeZone: string;
  log: Logger;
  metrics: Metrics;
  health: Health;
  /** Shown in the RabbitMQ management UI and `rabbitmqctl list_connections`. */
  connectionName?: string;
  /** Unacknowledged deliveries in flight. Ticks are small and parsed synchronously, so a deep window pays. */
  prefetch?: number;
  reconnect?: ReconnectPolicy;
  /** Contract names unless a test isolates itself. */
  names?: TickTopologyNames;
  now?: () => number;
}

/**
 * RabbitMQ → TickHub (docs/protocol.md#tick-feeds). Consumes `ticktalk.bridge.ticks` (single active consumer: a
 * second bridge on the same queue is a hot standby that takes over when the active one's connection
 * dies), parses each message with tick-body, hands the valid ticks to the hub in delivery order and
 * acks. A message with rejected ticks is republished unchanged to `mt.ticks.dead` with the reason in
 * `x-ticktalk-error` on a confirm channel, and acked only once RabbitMQ has confirmed the dead letter,
 * so a poison message never blocks the queue and is never lost. When RabbitMQ goes away the bridge
 * reports not ready, reconnects with capped jittered backoff, re-declares its topology and resumes.
 */
export class TickBridge implements TickSource {
  private readonly names: TickTopologyNames;
  private readonly prefetch: number;
  private readonly now: () => number;
  private readonly instruments: ReturnType<typeof bridgeMetrics>;
  private connection: RecoveringChannelModel | undefined;
  private session: { consumer: Channel; deadLetters: ConfirmChannel; consumerTag: string } | undefined;
  private stopping = false;

  constructor(private readonly opts: TickBridgeOptions) {
    this.names = opts.names ?? TICK_TOPOLOGY;
    this.prefetch = opts.prefetch ?? 500;
    this.now = opts.now ?? Date.now;
    this.instruments = bridgeMetrics(opts.metrics);
    opts.health.addCheck('rabbitmq', () => this.session !== undefined);
  }

  /**
   * Starts connecting and returns at once: an unreachable RabbitMQ at start is the same condition
   * as one lost later (not ready, retrying), not a reason to exit.
   */
  async start(hub: TickHub): Promise<void> {
    if (this.connection) throw new Error('tick bridge already started');
    this.stopping = false;
    this.connection = await connectRecovering({
      url: this.opts.url,
      name: this.opts.connectionName ?? 'ticktalk tick bridge',
      log: this.opts.log,
      setup: (model) => this.consume(model, hub),
      reconnect: this.opts.reconnect,
      onReconnectScheduled: () => this.instruments.reconnects.inc(),
    });
    this.connection.on('connect', () => {
      this.instruments.state.set(1);
      this.opts.log.info({ queue: this.names.bridgeQueue }, 'tick bridge consuming');
    });
    this.connection.on('disconnect', (err: Error) => {
      this.session = undefined;
      this.instruments.state.set(0);
      this.opts.log.warn({ err: err.message }, 'tick bridge lost RabbitMQ');
    });
  }

  /** Cancels the consumer, waits for pending dead letters, closes; unacked deliveries go back to the queue. */
  async stop(): Promise<void> {
    this.stopping = true;
    const session = this.session;
    this.session = undefined;
    this.instruments.state.set(0);
    if (session) {
      await session.consumer.cancel(session.consumerTag).catch(() => {});
      await session.deadLetters.waitForConfirms().catch(() => {});
    }
    await this.connection?.close();
    this.connection = undefined;
  }

  /** Runs on every (re)connect; a failure here makes the recovery retry with backoff. */
  private async consume(model: ChannelModel, hub: TickHub): Promise<void> {
    const consumer = await model.createChannel();
    await declareTickTopology(consumer, this.names);
    await consumer.prefetch(this.prefetch);
    const deadLetters = await model.createConfirmChannel();

    // A channel-level failure (queue deleted, consumer cancelled) leaves the connection up but the
    // bridge deaf; closing the connection hands the problem to the reconnect loop.
    const restart = (why: string) => {
      if (this.stopping || this.session?.consumer !== consumer) return;
      this.opts.log.warn({ why }, 'tick bridge channel lost; reconnecting');
      model.close().catch(() => {});
    };
    consumer.on('close', () => restart('consumer channel closed'));
    deadLetters.on('close', () => restart('dead-letter channel closed'));
    consumer.on('error', (err: Error) => this.opts.log.warn({ err: err.message }, 'tick bridge channel error'));
    deadLetters.on('error', (err: Error) => this.opts.log.warn({ err: err.message }, 'tick bridge channel error'));

    const channels = { consumer, deadLetters };
    const { consumerTag } = await consumer.consume(this.names.bridgeQueue, (msg) => {
      if (msg === null) restart('consumer cancelled by RabbitMQ');
      else this.handleSafely(msg, hub, channels);
    });
    this.session = { ...channels, consumerTag };
  }

  /** A bug in parsing must not kill the consumer: the message is dead-lettered with the error instead. */
  private handleSafely(msg: ConsumeMessage, hub: TickHub, channels: { consumer: Channel; deadLetters: ConfirmChannel }): void {
    try {
      this.handle(msg, hub, channels);
    } catch (err) {
      this.opts.log.error({ err, routingKey: msg.fields.routingKey }, 'tick bridge failed on a message');
      const result: ParsedTickMessage = {
        ticks: [],
        rejects: [{ index: -1, code: 'internal', reason: `internal error: ${(err as Error).message}` }],
      };
      this.instruments.rejected.inc({ reason: 'internal' });
      this.deadLetter(msg, result, channels);
    }
  }

  private handle(msg: ConsumeMessage, hub: TickHub, session: { consumer: Channel; deadLetters: ConfirmChannel }): void {
    const { instruments } = this;
    instruments.messages.inc();
    const result = parseTickMessage(
      msg.content,
      { contentType: msg.properties.contentType as string | undefined, routingKey: msg.fields.routingKey, receivedAt: receiptTime(msg, this.now()) },
      { timeZone: this.opts.timeZone },
    );
    if (result.ticks.length > 0) {
      hub.publish(result.ticks);
      instruments.accepted.inc(result.ticks.length);
    }
    if (result.rejects.length === 0) {
      session.consumer.ack(msg);
      return;
    }
    for (const reject of result.rejects) instruments.rejected.inc({ reason: reject.code });
    this.deadLetter(msg, result, session);
  }

  private deadLetter(msg: ConsumeMessage, result: ParsedTickMessage, session: { consumer: Channel; deadLetters: ConfirmChannel }): void {
    const error = describeRejects(result);
    this.opts.log.warn(
      { routingKey: msg.fields.routingKey, bytes: msg.content.length, accepted: result.ticks.length, error },
      'feed message dead-lettered',
    );
    publishDeadLetter(session.deadLetters, this.names.deadExchange, msg, error, this.opts.log, () => {
      this.instruments.deadLettered.inc();
      session.consumer.ack(msg);
    });
  }
}

function bridgeMetrics(metrics: Metrics) {
  return {
    messages: metrics.counter('tick_bridge_messages_total', 'feed messages consumed from the bridge queue'),
    accepted: metrics.counter('tick_bridge_ticks_accepted_total', 'valid ticks handed to the hub'),
    rejected: metrics.counter('tick_bridge_ticks_rejected_total', 'rejected ticks (or whole messages) by reason family', ['reason']),
    deadLettered: metrics.counter('tick_bridge_dead_letters_total', 'messages republished to the dead-letter exchange and confirmed'),
    reconnects: metrics.counter('tick_bridge_reconnects_total', 'reconnect attempts scheduled after losing RabbitMQ'),
    state: metrics.gauge('tick_bridge_consumer_state', '1 while connected and consuming (active or standby), 0 otherwise'),
  };
}
