import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { ROOM_PATTERN } from '../protocol/names.js';
import { ChatError } from '../chat/errors.js';
import { botInputSchema, parseOrThrow, refSchema } from '../chat/input.js';
import type { ChatService } from '../chat/service.js';
import { publishDeadLetter } from './dead-letter.js';

export interface ChatInboundNames {
  /** Topic exchange bots publish to, routing key `room.{room}`. */
  exchange: string;
  queue: string;
  deadExchange: string;
  deadQueue: string;
}

export const CHAT_INBOUND_NAMES: ChatInboundNames = {
  exchange: 'chat.inbound',
  queue: 'ticktalk.chat.inbound',
  deadExchange: 'chat.inbound.dead',
  deadQueue: 'ticktalk.chat.inbound.dead',
};

export async function declareChatInbound(ch: Channel, names: ChatInboundNames): Promise<void> {
  await ch.assertExchange(names.exchange, 'topic', { durable: true });
  await ch.assertExchange(names.deadExchange, 'topic', { durable: true });
  await ch.assertQueue(names.queue, { durable: true });
  // Every key, not just `room.*`: a bot posting with a wrong key is dead-lettered with the reason, never dropped.
  await ch.bindQueue(names.queue, names.exchange, '#');
  await ch.assertQueue(names.deadQueue, { durable: true });
  await ch.bindQueue(names.deadQueue, names.deadExchange, '#');
}

/** Where a delivery's body and routing key say it goes, or why not (the dead-letter reason). */
export function parseInbound(routingKey: string, body: Buffer, schema: ReturnType<typeof botInputSchema>) {
  const room = /^room\.(.+)$/.exec(routingKey)?.[1];
  if (room === undefined || !ROOM_PATTERN.test(room)) {
    throw new ChatError('invalid_topic', `routing key must be room.{room} with room matching [a-z0-9][a-z0-9_-]{0,63}, got "${routingKey}"`);
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ChatError('invalid_payload', 'body must be JSON: {"user","name","text","ref"}');
  }
  return { room, ...parseOrThrow(schema, json) };
}

function refFromMessageId(messageId: unknown): string | undefined {
  return typeof messageId === 'string' && refSchema.safeParse(messageId).success ? messageId : undefined;
}

/** How long a message waits before redelivery when the chat store is unavailable. */
const RETRY_DELAY_MS = 1_000;

/**
 * RabbitMQ `chat.inbound` → chat: each bot message is stored and delivered as `bot:{user}`, then
 * acked. A message that can never be stored (bad routing key or body, a muted bot) is republished
 * to the dead-letter exchange with the reason in `x-ticktalk-error` and acked once that is
 * confirmed; one that fails for a passing reason (database down) is requeued after a pause.
 */
export class ChatInbound {
  private readonly delivered;
  private readonly schema;
  private consuming: { channel: Channel; tag: string } | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly chat: ChatService,
    private readonly opts: { names: ChatInboundNames; maxLength: number; log: Logger; metrics: Metrics },
  ) {
    this.schema = botInputSchema(opts.maxLength);
    this.delivered = opts.metrics.counter('chat_inbound_messages_total', 'chat.inbound deliveries by outcome', ['outcome']);
  }

  /** Starts consuming on the given channels; returns the consumer tag. */
  async consume(consumer: Channel, deadLetters: ConfirmChannel): Promise<string> {
    await consumer.prefetch(100);
    const { consumerTag } = await consumer.consume(this.opts.names.queue, (msg) => {
      if (msg === null) {
        // RabbitMQ cancelled the consumer (queue deleted): closing the channel makes the
        // connection recover and re-declare, instead of staying deaf.
        consumer.close().catch(() => {});
        return;
      }
      // A channel that closes mid-handling makes ack/publish throw: log it, never an unhandled
      // rejection; RabbitMQ redelivers the unacked message.
      const handling = this.handle(msg, consumer, deadLetters)
        .catch((err: unknown) => this.opts.log.warn({ err }, 'bot message left unacked'))
        .finally(() => this.inFlight.delete(handling));
      this.inFlight.add(handling);
    });
    this.consuming = { channel: consumer, tag: consumerTag };
    return consumerTag;
  }

  /** Stops taking messages and waits for those being stored, so none is stored without its ack. */
  async stop(): Promise<void> {
    const consuming = this.consuming;
    this.consuming = undefined;
    await consuming?.channel.cancel(consuming.tag).catch(() => {});
    await Promise.allSettled([...this.inFlight]);
  }

  private async handle(msg: ConsumeMessage, consumer: Channel, deadLetters: ConfirmChannel): Promise<void> {
    try {
      const { room, user, name, text, ref: bodyRef } = parseInbound(msg.fields.routingKey, msg.content, this.schema);
      // Without a ref, the AMQP message id keeps a redelivery (after a crash or a lost ack) from
      // being stored twice.
      const ref = bodyRef ?? refFromMessageId(msg.properties.messageId);
      await this.chat.postAsBot(room, { user, ...(name === undefined ? {} : { name }) }, { text, ...(ref === undefined ? {} : { ref }) });
    } catch (err) {
      if (err instanceof ChatError && err.code !== 'unavailable') return this.deadLetter(msg, err.message, consumer, deadLetters);
      this.delivered.labels('retried').inc();
      this.opts.log.warn({ err, routingKey: msg.fields.routingKey }, 'bot message not stored; will retry');
      setTimeout(() => {
        try {
          consumer.nack(msg, false, true);
        } catch {
          // Channel already closed: RabbitMQ redelivers the unacked message anyway.
        }
      }, RETRY_DELAY_MS).unref();
      return;
    }
    this.delivered.labels('stored').inc();
    consumer.ack(msg);
  }

  private deadLetter(msg: ConsumeMessage, reason: string, consumer: Channel, deadLetters: ConfirmChannel): void {
    this.opts.log.warn({ routingKey: msg.fields.routingKey, reason }, 'bot message dead-lettered');
    publishDeadLetter(deadLetters, this.opts.names.deadExchange, msg, reason, this.opts.log, () => {
      this.delivered.labels('dead_lettered').inc();
      consumer.ack(msg);
    });
  }
}
