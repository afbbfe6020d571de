import type { ConfirmChannel, ConsumeMessage, MessageProperties, Options } from 'amqplib';
import type { Logger } from '../platform/logger.js';

/**
 * Republishes a message RabbitMQ gave us to a dead-letter exchange, unchanged but for the reason in
 * `x-ticktalk-error`, on a confirm channel. `onStored` runs once RabbitMQ has confirmed it: only then
 * may the original be acked, so a dead letter is never lost. Unconfirmed, the original stays unacked
 * and is redelivered after reconnect. A closed channel is logged, never thrown.
 */
export function publishDeadLetter(
  channel: ConfirmChannel,
  exchange: string,
  msg: ConsumeMessage,
  reason: string,
  log: Logger,
  onStored: () => void,
): void {
  const confirmed = (err: unknown) => {
    if (err) return log.error({ err, routingKey: msg.fields.routingKey }, 'dead letter not confirmed');
    onStored();
  };
  const publish = (properties: MessageProperties) =>
    channel.publish(exchange, msg.fields.routingKey, msg.content, deadLetterProperties(properties, reason), confirmed);
  try {
    try {
      publish(msg.properties);
    } catch (err) {
      if (isChannelClosed(err)) throw err;
      // The original headers plus the reason no longer fit a header table: keep the reason.
      log.warn({ err }, 'dead letter published without the original headers');
      publish({ ...msg.properties, headers: {} });
    }
  } catch (err) {
    log.warn({ err, routingKey: msg.fields.routingKey }, 'dead letter not published; the original is redelivered');
  }
}

function isChannelClosed(err: unknown): boolean {
  return err instanceof Error && /closed/i.test(err.message);
}

/**
 * The original properties and headers plus the reason, persistent. `userId` would be checked against
 * the bridge's own user and `expiration` would let the dead letter vanish, so neither is copied.
 */
function deadLetterProperties(original: MessageProperties, error: string): Options.Publish {
  const props: Options.Publish = {
    headers: { ...original.headers, 'x-ticktalk-error': error },
    persistent: true,
  };
  const copied = ['contentType', 'contentEncoding', 'priority', 'correlationId', 'replyTo', 'messageId', 'timestamp', 'type', 'appId'] as const;
  for (const key of copied) {
    if (original[key] !== undefined) (props as Record<string, unknown>)[key] = original[key];
  }
  return props;
}
