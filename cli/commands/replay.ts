import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { encodeFeedMessage } from '../../bridges/feed-encoding.js';
import { FeedProgress } from '../../bridges/feed-progress.js';
import type { FeedPublisher } from '../../bridges/feed-publisher.js';
import { isKnownTimeZone } from '../../bridges/feed-time.js';
import { amqpUrlArg, feedNameArg, interrupted, openFeedPublisher, redactUrl } from '../../bridges/feed-tool.js';
import { loadConfig, type Config } from '../../protocol/config.js';
import { SYMBOL_PATTERN } from '../../protocol/names.js';
import { parseCommandArgs, UsageError, type Command } from '../args.js';
import { exportTicks, MAX_REPORTED_ERRORS, type ExportCounts } from './mt5-file.js';
import { replayIntoStore } from './replay-store.js';

const zone = (flag: string) => z.string().refine(isKnownTimeZone, { message: `${flag} must be an IANA time zone such as UTC or Europe/Athens` });

const argsSchema = z.object({
  amqp: amqpUrlArg,
  file: z.string({ error: 'FILE is required: an MT5 tick export' }).min(1),
  tz: zone('--tz'),
  speed: z.coerce.number({ error: '--speed must be a number' }).positive('--speed must be positive').optional(),
  symbol: z
    .string({ error: '--symbol is required when the file name does not start with one' })
    .regex(SYMBOL_PATTERN, '--symbol must match [A-Za-z0-9._-]{1,32}'),
  feed: feedNameArg,
});
const storeArgsSchema = argsSchema.pick({ file: true, tz: true, symbol: true });

const options = {
  amqp: { type: 'string', arg: 'URL', doc: 'RabbitMQ to publish to (default AMQP_URL)' },
  tz: { type: 'string', arg: 'ZONE', doc: "IANA zone the export's times are in (default FEED_TIMEZONE)" },
  speed: { type: 'string', arg: 'X', doc: "pace by the file's timestamps at X times real time (default: as fast as confirmed)" },
  symbol: { type: 'string', arg: 'S', doc: "symbol of the ticks (default: the file name's leading symbol)" },
  feed: { type: 'string', arg: 'NAME', default: 'replay', doc: "feed name, the routing key's first part" },
  store: { type: 'boolean', doc: 'aggregate the export straight into the candle store (the default setup; stop the server first)' },
} as const;

/**
 * `ticktalk replay`: an MT5 tick export published to `mt.ticks`, one tick per message with
 * publisher confirms, as fast as RabbitMQ confirms or paced by the file's timestamps (`--speed`).
 * Times are read in `--tz` (the export's server zone, default FEED_TIMEZONE) and written in
 * FEED_TIMEZONE, the zone the bridge reads feeds in. Exit 0 when every row was published and
 * confirmed, 1 when RabbitMQ failed or rows were unreadable, 2 for bad arguments.
 */
export const command: Command = {
  name: 'replay',
  summary: 'publish a MetaTrader 5 tick export into RabbitMQ (mt.ticks), or with --store straight into the candle store',
  usage: 'ticktalk replay (--amqp URL | --store) FILE [--tz ZONE] [--speed X] [--symbol S] [--feed NAME]',
  options,
  operands: [['FILE', 'MetaTrader 5 tick export (tab-separated, UTF-8 or UTF-16LE)']],
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, options, true);
    if (positionals.length > 1) throw new UsageError(`one FILE expected, got ${positionals.length}`);
    const config = loadConfig(process.env);
    const file = positionals[0];
    if (values.store) return replayIntoStore(storeArgs(values, file, config), config);
    return replayOverAmqp(amqpArgs(values, file, config), config.FEED_TIMEZONE);
  },
};

type Values = ReturnType<typeof parseCommandArgs<typeof options>>['values'];
type ReplayArgs = z.output<typeof argsSchema>;

/** `--store` takes neither RabbitMQ nor pacing. */
function storeArgs(values: Values, file: string | undefined, config: Config): z.output<typeof storeArgsSchema> {
  const { amqp, speed, ...rest } = values;
  if (amqp !== undefined || speed !== undefined) throw new UsageError('--store writes candles directly: --amqp and --speed do not apply');
  return parseOrUsage(storeArgsSchema, { ...rest, file, tz: rest.tz ?? config.FEED_TIMEZONE, symbol: rest.symbol ?? defaultSymbol(file) });
}

function amqpArgs(values: Values, file: string | undefined, config: Config): ReplayArgs {
  return parseOrUsage(argsSchema, {
    ...values,
    file,
    amqp: values.amqp ?? config.AMQP_URL,
    tz: values.tz ?? config.FEED_TIMEZONE,
    symbol: values.symbol ?? defaultSymbol(file),
  });
}

function parseOrUsage<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new UsageError(parsed.error.issues[0]?.message ?? 'invalid arguments');
  return parsed.data;
}

const defaultSymbol = (file: string | undefined) => (file ? symbolFromFileName(file) : undefined);

/** One replay to RabbitMQ: what the publishing loop and the final report share. */
interface AmqpReplay {
  args: ReplayArgs;
  /** FEED_TIMEZONE: the zone the bridge reads feeds in. */
  timeZone: string;
  publisher: FeedPublisher;
  progress: FeedProgress;
  counts: ExportCounts;
  interrupted: Promise<void>;
  stopped: boolean;
}

async function replayOverAmqp(args: ReplayArgs, timeZone: string): Promise<number> {
  const publisher = await openFeedPublisher(args.amqp, 'replay', process.stderr);
  if (!publisher) return 1;
  process.stderr.write(
    `replaying ${args.file} as ${args.symbol} (times in ${args.tz}) to ${redactUrl(args.amqp)} routing key ${args.feed}.${args.symbol}, ` +
      `${args.speed ? `at ${args.speed}x` : 'as fast as possible'}\n`,
  );

  const progress = new FeedProgress(process.stderr);
  const signal = interrupted();
  const counts: ExportCounts = { rows: 0, bad: 0, skipped: 0 };
  const replay: AmqpReplay = { args, timeZone, publisher, progress, counts, interrupted: signal.promise, stopped: false };
  void signal.promise.then(() => (replay.stopped = true));
  let failure: string | undefined;

  progress.start();
  try {
    await publishExport(replay);
  } catch (err) {
    failure = `${args.file}: ${(err as Error).message}`;
  } finally {
    signal.dispose();
    progress.stop();
    await publisher.close();
  }
  return reportOutcome(replay, failure);
}

/** Publishes tick by tick until the file ends, RabbitMQ is lost or the run is interrupted. */
async function publishExport(replay: AmqpReplay): Promise<void> {
  const { args, publisher, counts } = replay;
  const report = (message: string) => process.stderr.write(`${message}\n`);
  const dueAt = args.speed ? pacedClock(args.speed) : undefined;
  for await (const tick of exportTicks(args.file, { symbol: args.symbol, tz: args.tz, counts, report })) {
    if (replay.stopped || publisher.lost) break;
    if (dueAt) {
      const due = dueAt(tick.time_msc);
      if (due > Date.now()) await Promise.race([sleep(due - Date.now()), replay.interrupted]);
      if (replay.stopped) break;
    }
    await publisher.writable();
    if (publisher.lost) break;
    publisher.publish(encodeFeedMessage(tick, { feed: args.feed, format: 'json', timeZone: replay.timeZone }));
    replay.progress.sent++;
  }
}

/** `--speed`: the wall-clock time a tick is due, the file's first tick playing now. */
function pacedClock(speed: number): (timeMsc: number) => number {
  let clock: { fileStart: number; wallStart: number } | undefined;
  return (timeMsc) => {
    clock ??= { fileStart: timeMsc, wallStart: Date.now() };
    return clock.wallStart + (timeMsc - clock.fileStart) / speed;
  };
}

/** Exit 0 only when every row was read, published and confirmed. */
function reportOutcome({ publisher, progress, counts, stopped }: AmqpReplay, failure: string | undefined): number {
  if (failure) process.stderr.write(`ticktalk replay: ${failure}\n`);
  if (publisher.lost) process.stderr.write(`ticktalk replay: lost RabbitMQ: ${publisher.lost.message}\n`);
  if (counts.bad > MAX_REPORTED_ERRORS) process.stderr.write(`… and ${counts.bad - MAX_REPORTED_ERRORS} more bad rows\n`);
  process.stdout.write(
    `${progress.summary({ confirmed: publisher.confirmed, failed: publisher.failed, rows: counts.rows, 'bad rows': counts.bad, 'rows before first quote': counts.skipped })}\n`,
  );
  const complete = !failure && !stopped && !publisher.lost && counts.bad === 0 && publisher.failed === 0 && publisher.confirmed === progress.sent;
  return complete ? 0 : 1;
}

/** MT5 names exports after the symbol: `EURUSD_202501020000_202501030000.csv`, `EURUSD-ticks.tsv`. */
function symbolFromFileName(file: string): string | undefined {
  const match = /^([A-Za-z0-9.]+?)(?:[_-]|\.[A-Za-z]+$)/.exec(basename(file));
  return match?.[1];
}
