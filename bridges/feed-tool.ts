import { z } from 'zod';
import { FeedPublisher } from './feed-publisher.js';

/** What the feed tools (`ticktalk feed-sim`, `ticktalk replay`) share: argument rules and the run frame. */

export const amqpUrlArg = z
  .string({ error: '--amqp URL is required (or set AMQP_URL)' })
  .refine((v) => /^amqps?:\/\//.test(v) && URL.canParse(v), { message: '--amqp must be an amqp:// or amqps:// URL' });

/** The `{feed}` part of the routing key: no dot, since the symbol starts after the first one. */
export const feedNameArg = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, '--feed must match [A-Za-z0-9_-]{1,64} (no dots)');

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

export async function openFeedPublisher(url: string, tool: string, err: { write(text: string): unknown }): Promise<FeedPublisher | undefined> {
  try {
    return await FeedPublisher.open(url, { connectionName: `ticktalk ${tool}` });
  } catch (cause) {
    err.write(`ticktalk ${tool}: cannot publish to RabbitMQ at ${redactUrl(url)}: ${(cause as Error).message}\n`);
    return undefined;
  }
}

/** Resolves on the first SIGINT/SIGTERM, so a tool can stop cleanly and still print its summary. */
export function interrupted(): { promise: Promise<void>; dispose: () => void } {
  let dispose = () => {};
  const promise = new Promise<void>((resolve) => {
    const onSignal = () => resolve();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    dispose = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  });
  return { promise, dispose };
}
