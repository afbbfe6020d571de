import type { Channel, ChannelModel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import { declareTickExchange, TICK_TOPOLOGY } from '../bridges/topology.js';
import { receiptTime } from '../bridges/tick-body.js';
import { connectRecovering, type ReconnectPolicy } from '../bridges/amqp.js';
import type { Logger } from '../platform/logger.js';

/**
 * The aggregator's input: a RabbitMQ stream bound to `mt.ticks`. A stream keeps messages after they
 * are consumed and numbers them, so the aggregator stores the offset it reached in the same
 * transaction as the candles and resumes after it on restart: a message is applied exactly once,
 * whatever was killed when (see store.ts `commit`).
 */

export const OHLCV_STREAM = 'ticktalk.ohlcv.ticks';

/** Bounds of the stream: old segments go once the total passes the byte limit. */
export const STREAM_MAX_BYTES = 2_000_000_000;
export const STREAM_SEGMENT_BYTES = 100_000_000;

export interface StreamNames {
  exchange: string;
  stream: string;
}

export const DEFAULT_STREAM_NAMES: StreamNames = { exchange: TICK_TOPOLOGY.exchange, stream: OHLCV_STREAM };

export async function declareOhlcvStream(channel: Channel, names: StreamNames = DEFAULT_STREAM_NAMES): Promise<void> {
  await declareTickExchange(channel, { ...TICK_TOPOLOGY, exchange: names.exchange });
  await channel.assertQueue(names.stream, {
    durable: true,
    arguments: {
      'x-queue-type': 'stream',
      'x-max-length-bytes': STREAM_MAX_BYTES,
      'x-stream-max-segment-size-bytes': STREAM_SEGMENT_BYTES,
    },
  });
  await channel.bindQueue(names.stream, names.exchange, '#');
}

export interface StreamMessage {
  offset: number;
  body: Buffer;
  contentType: string | undefined;
  routingKey: string;
  /** The time DWX quotes are stamped with (see `receiptTime`). */
  receivedAt: number;
}

export interface TickStreamOptions {
  url: string;
  names?: StreamNames;
  log: Logger;
  /** Messages per batch at most (and body bytes at most), and the longest a partial batch waits. */
  batchSize?: number;
  batchBytes?: number;
  batchDelayMs?: number;
  /** The last offset already stored; consumption resumes right after it. */
  committedOffset: () => Promise<number>;
  /** Stores a batch; once it resolves the batch is acknowledged. A throw reconnects and re-reads. */
  handle: (batch: StreamMessage[]) => Promise<void>;
  reconnect?: ReconnectPolicy;
  /** Shown in the RabbitMQ management UI and `rabbitmqctl list_connections`. */
  connectionName?: string;
}

interface Session {
  model: ChannelModel;
  channel: Channel;
  consumerTag: string;
  /** Delivered, not yet handed over; `raw` is kept to acknowledge. */
  pending: { raw: ConsumeMessage; message: StreamMessage }[];
  pendingBytes: number;
  timer: NodeJS.Timeout | undefined;
  working: Promise<void> | undefined;
}

/**
 * Consumes the stream in batches, one batch in flight at a time, with automatic reconnection.
 * Prefetch is two batches so the next one fills while the current one commits; it also bounds memory
 * to that many messages (RabbitMQ's credit counts messages, not bytes).
 */
export class TickStream {
  private connection: RecoveringChannelModel | undefined;
  private session: Session | undefined;
  private stopping = false;
  private readonly names: StreamNames;
  private readonly batchSize: number;
  private readonly batchBytes: number;
  private readonly batchDelayMs: number;

  constructor(private readonly opts: TickStreamOptions) {
    this.names = opts.names ?? DEFAULT_STREAM_NAMES;
    this.batchSize = opts.batchSize ?? 2000;
    this.batchBytes = opts.batchBytes ?? 8 * 1024 * 1024;
    this.batchDelayMs = opts.batchDelayMs ?? 50;
  }

  get connected(): boolean {
    return this.session !== undefined;
  }

  /** Returns at once: an unreachable RabbitMQ is reported as not ready and retried, not fatal. */
  async start(): Promise<void> {
    this.connection = await connectRecovering({
      url: this.opts.url,
      name: this.opts.connectionName ?? 'ticktalk ohlcv aggregator',
      log: this.opts.log,
      setup: (model) => this.consume(model),
      reconnect: this.opts.reconnect,
    });
    this.connection.on('disconnect', (err: Error) => {
      this.session = undefined;
      this.opts.log.warn({ err: err.message }, 'ohlcv aggregator lost RabbitMQ');
    });
  }

  /** Stops consuming, lets the batch in flight commit and acknowledge, closes the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    const session = this.session;
    this.session = undefined;
    if (session) {
      clearTimeout(session.timer);
      await session.channel.cancel(session.consumerTag).catch(() => {});
      await session.working;
    }
    await this.connection?.close().catch(() => {});
    this.connection = undefined;
  }

  private async consume(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    await declareOhlcvStream(channel, this.names);
    await channel.prefetch(this.batchSize * 2);
    const restart = (why: string) => {
      if (this.stopping || this.session?.channel !== channel) return;
      this.session = undefined;
      this.opts.log.warn({ why }, 'ohlcv aggregator channel lost; reconnecting');
      model.close().catch(() => {});
    };
    channel.on('close', () => restart('channel closed'));
    channel.on('error', (err: Error) => this.opts.log.warn({ err: err.message }, 'ohlcv aggregator channel error'));

    const resumeAt = (await this.opts.committedOffset()) + 1;
    const session: Session = { model, channel, consumerTag: '', pending: [], pendingBytes: 0, timer: undefined, working: undefined };
    const { consumerTag } = await channel.consume(
      this.names.stream,
      (msg) => {
        if (msg === null) return restart('consumer cancelled by RabbitMQ');
        session.pending.push({ raw: msg, message: toStreamMessage(msg, Date.now()) });
        session.pendingBytes += msg.content.length;
        this.schedule(session, restart);
      },
      { noAck: false, arguments: { 'x-stream-offset': resumeAt } },
    );
    session.consumerTag = consumerTag;
    this.session = session;
    this.opts.log.info({ stream: this.names.stream, offset: resumeAt }, 'ohlcv aggregator consuming');
  }

  private schedule(session: Session, restart: (why: string) => void): void {
    if (session.working) return;
    if (session.pending.length >= this.batchSize || session.pendingBytes >= this.batchBytes) {
      clearTimeout(session.timer);
      session.timer = undefined;
      session.working = this.process(session, restart);
    } else {
      session.timer ??= setTimeout(() => {
        session.timer = undefined;
        if (!session.working && session.pending.length > 0) session.working = this.process(session, restart);
      }, this.batchDelayMs);
    }
  }

  private async process(session: Session, restart: (why: string) => void): Promise<void> {
    let count = 0;
    let bytes = 0;
    while (count < session.pending.length && count < this.batchSize && (count === 0 || bytes < this.batchBytes)) {
      bytes += session.pending[count].raw.content.length;
      count++;
    }
    const batch = session.pending.splice(0, count);
    session.pendingBytes -= bytes;
    try {
      await this.opts.handle(batch.map((d) => d.message));
    } catch (err) {
      // Nothing of this batch is stored (the commit is one transaction): read it again after reconnecting.
      this.opts.log.error({ err }, 'ohlcv batch failed; reconnecting to re-read it');
      session.working = undefined;
      restart('batch failed');
      return;
    }
    try {
      // In a stream an ack only returns credit: the stored offset, not the ack, is the position.
      session.channel.ack(batch[batch.length - 1].raw, true);
    } catch {
      // The channel went away after the commit; the next session resumes after the stored offset.
    }
    session.working = undefined;
    if (session.pending.length > 0 && this.session === session) this.schedule(session, restart);
  }
}

function toStreamMessage(msg: ConsumeMessage, now: number): StreamMessage {
  return {
    offset: Number(msg.properties.headers?.['x-stream-offset']),
    body: msg.content,
    contentType: msg.properties.contentType as string | undefined,
    routingKey: msg.fields.routingKey,
    receivedAt: receiptTime(msg, now),
  };
}
