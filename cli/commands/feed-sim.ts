import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { FeedProgress } from '../../bridges/feed-progress.js';
import { encodeFeedMessage } from '../../bridges/feed-encoding.js';
import { amqpUrlArg, feedNameArg, interrupted, openFeedPublisher, redactUrl } from '../../bridges/feed-tool.js';
import { Simulator } from '../../bridges/simulator.js';
import { TickHub } from '../../platform/tick-hub.js';
import { loadConfig } from '../../protocol/config.js';
import { SYMBOL_PATTERN } from '../../protocol/names.js';
import { parseCommandArgs, UsageError, type Command } from '../args.js';

const argsSchema = z.object({
  amqp: amqpUrlArg,
  symbols: z
    .array(z.string().regex(SYMBOL_PATTERN, '--symbols: each symbol must match [A-Za-z0-9._-]{1,32}'))
    .min(1, '--symbols needs at least one symbol'),
  rate: z.coerce
    .number({ error: '--rate must be a number' })
    .positive('--rate must be positive')
    .max(10_000, '--rate is at most 10000 ticks/s per symbol'),
  duration: z.coerce.number({ error: '--duration must be a number of seconds' }).positive('--duration must be positive').optional(),
  format: z.enum(['json', 'dwx'], { error: '--format is json or dwx' }),
  feed: feedNameArg,
});

const options = {
  amqp: { type: 'string', arg: 'URL', doc: 'RabbitMQ to publish to (default AMQP_URL)' },
  symbols: { type: 'string', arg: 'A,B', doc: 'comma-separated symbols (default SYMBOLS)' },
  rate: { type: 'string', arg: 'N', default: '10', doc: 'ticks per second per symbol, at most 10000' },
  duration: { type: 'string', arg: 'S', doc: 'seconds to run (default: until interrupted)' },
  format: { type: 'string', arg: 'F', default: 'json', doc: 'json or dwx' },
  feed: { type: 'string', arg: 'NAME', default: 'sim', doc: "feed name, the routing key's first part" },
} as const;

/**
 * `ticktalk feed-sim`: the in-process simulator's ticks published to `mt.ticks` as a feed would,
 * with publisher confirms. JSON times are written in FEED_TIMEZONE, as the bridge expects them.
 * Exit 0 when every tick was confirmed, 1 when RabbitMQ was unreachable, lost or refused some.
 */
export const command: Command = {
  name: 'feed-sim',
  summary: 'publish simulated MT-style ticks into RabbitMQ (mt.ticks)',
  usage: 'ticktalk feed-sim --amqp URL [--symbols EURUSD,...] [--rate N] [--duration S] [--format json|dwx] [--feed NAME]',
  options,
  async run(argv) {
    const { values } = parseCommandArgs(argv, options);
    const config = loadConfig(process.env);
    const parsed = argsSchema.safeParse({
      ...values,
      amqp: values.amqp ?? config.AMQP_URL,
      symbols:
        values.symbols === undefined
          ? config.SYMBOLS
          : values.symbols
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
    });
    if (!parsed.success) throw new UsageError(parsed.error.issues[0]?.message ?? 'invalid arguments');
    const args = parsed.data;

    const publisher = await openFeedPublisher(args.amqp, 'feed-sim', process.stderr);
    if (!publisher) return 1;
    process.stderr.write(
      `publishing ${args.symbols.join(',')} at ${args.rate}/s each as ${args.format} to ${redactUrl(args.amqp)} (routing key ${args.feed}.SYMBOL)` +
        `${args.duration ? ` for ${args.duration}s` : ' until interrupted'}\n`,
    );

    const progress = new FeedProgress(process.stderr);
    let skipped = 0;
    const hub = new TickHub();
    hub.subscribe((ticks) => {
      for (const tick of ticks) {
        // The simulator keeps time; when RabbitMQ cannot keep up, skip ticks rather than queue without bound.
        if (publisher.full || publisher.lost) {
          skipped++;
          continue;
        }
        publisher.publish(encodeFeedMessage(tick, { feed: args.feed, format: args.format, timeZone: config.FEED_TIMEZONE }));
        progress.sent++;
      }
    });
    const simulator = new Simulator({ symbols: args.symbols, ratePerSymbol: args.rate });
    const signal = interrupted();

    progress.start();
    await simulator.start(hub);
    const timer = new AbortController();
    const elapsed = args.duration ? sleep(args.duration * 1000, undefined, { signal: timer.signal }).catch(() => {}) : new Promise(() => {});
    await Promise.race([signal.promise, publisher.whenLost, elapsed]);
    timer.abort();
    await simulator.stop();
    signal.dispose();
    progress.stop();
    await publisher.close();

    if (publisher.lost) process.stderr.write(`ticktalk feed-sim: lost RabbitMQ: ${publisher.lost.message}\n`);
    process.stdout.write(`${progress.summary({ confirmed: publisher.confirmed, failed: publisher.failed, skipped })}\n`);
    return publisher.failed === 0 && publisher.confirmed === progress.sent && !publisher.lost ? 0 : 1;
  },
};
