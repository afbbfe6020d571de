import amqp, { type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from '../platform/logger.js';

/** Without a heartbeat a silently dead broker is noticed only by TCP, minutes later. */
const DEFAULT_HEARTBEAT_S = 15;

export interface ReconnectPolicy {
  /** First delay after a loss (250 ms); it doubles per attempt. */
  initialDelayMs?: number;
  /** Cap of the delay (30 s). */
  maxDelayMs?: number;
}

export interface RecoveringConnectionOptions {
  url: string;
  /** Connection name shown by RabbitMQ, and the subject of this connection's log lines. */
  name: string;
  log: Logger;
  /** Runs on every (re)connect: declare, open channels, consume. A throw retries with backoff. */
  setup: (model: ChannelModel) => Promise<void>;
  reconnect?: ReconnectPolicy;
  /** Called each time a reconnect is scheduled (for a metric). */
  onReconnectScheduled?: () => void;
}

/**
 * The one way ticktalk connects to RabbitMQ: returns at once (an unreachable broker is retried, not
 * fatal), heartbeats on, and after a loss reconnects with exponential backoff, capped, each delay
 * drawn from the upper half of its range so a fleet of processes does not reconnect in step.
 * Callers follow `connect`/`disconnect` for their readiness.
 */
export function connectRecovering(opts: RecoveringConnectionOptions): Promise<RecoveringChannelModel> {
  const { initialDelayMs = 250, maxDelayMs = 30_000 } = opts.reconnect ?? {};
  const { log, name } = opts;
  return amqp
    .connect(withHeartbeat(opts.url), {
      clientProperties: { connection_name: name },
      recovery: {
        waitForConnect: false,
        setup: opts.setup,
        calculateDelay: (attempt: number) => Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random() * 0.5),
      },
    })
    .then((connection) => {
      connection.on('connect-failed', (err: Error) => log.warn({ err: err.message }, `${name}: cannot reach RabbitMQ`));
      connection.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) => {
        opts.onReconnectScheduled?.();
        log.info({ attempt, delayMs: Math.round(delay) }, `${name}: reconnecting to RabbitMQ`);
      });
      connection.on('error', (err: Error) => log.warn({ err: err.message }, `${name}: RabbitMQ connection error`));
      return connection;
    });
}

/** The URL's own `heartbeat` wins; otherwise ours. */
export function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(DEFAULT_HEARTBEAT_S));
  return parsed.toString();
}
