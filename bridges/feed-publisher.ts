import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { FeedMessage } from './feed-encoding.js';
import { declareTickExchange, TICK_TOPOLOGY } from './topology.js';

/**
 * Publishes feed messages to `mt.ticks` with publisher confirms, keeping a bounded window of
 * unconfirmed messages: callers that can wait (replay) await `writable()`, callers that cannot
 * (the simulator's clock) check `full` and count what they skip.
 */
export class FeedPublisher {
  confirmed = 0;
  failed = 0;
  /** Set when RabbitMQ closes the connection or channel under us; the tool should stop. */
  lost: Error | undefined;
  /** Resolves when `lost` is set. */
  readonly whenLost: Promise<Error>;
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  private closing = false;

  private constructor(
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly exchange: string,
    private readonly window: number,
  ) {
    let resolveLost: (err: Error) => void = () => {};
    this.whenLost = new Promise((resolve) => {
      resolveLost = resolve;
    });
    const lose = (err?: Error) => {
      if (this.closing || this.lost) return;
      this.lost = err ?? new Error('connection to RabbitMQ closed');
      resolveLost(this.lost);
      for (const wake of this.waiters.splice(0)) wake();
    };
    connection.on('error', lose);
    connection.on('close', lose);
    channel.on('error', lose);
    channel.on('close', () => lose());
  }

  static async open(url: string, opts: { connectionName: string; exchange?: string; window?: number }): Promise<FeedPublisher> {
    const connection = await amqp.connect(url, { clientProperties: { connection_name: opts.connectionName } });
    try {
      const channel = await connection.createConfirmChannel();
      const exchange = opts.exchange ?? TICK_TOPOLOGY.exchange;
      await declareTickExchange(channel, { ...TICK_TOPOLOGY, exchange });
      return new FeedPublisher(connection, channel, exchange, opts.window ?? 1000);
    } catch (err) {
      await connection.close().catch(() => {});
      throw err;
    }
  }

  get full(): boolean {
    return this.inFlight >= this.window;
  }

  /** Resolves once there is room in the confirm window (or the connection is lost). */
  writable(): Promise<void> {
    return this.full && !this.lost ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }

  publish(msg: FeedMessage): void {
    this.inFlight++;
    const settled = (err: unknown) => {
      this.inFlight--;
      if (err) this.failed++;
      else this.confirmed++;
      if (!this.full) for (const wake of this.waiters.splice(0)) wake();
    };
    try {
      this.channel.publish(this.exchange, msg.routingKey, msg.body, { contentType: msg.contentType }, settled);
    } catch (err) {
      // The channel closed before its close event reached us.
      settled(err);
    }
  }

  /** Waits for every outstanding confirm, then closes the connection. */
  async close(): Promise<void> {
    await this.channel.waitForConfirms().catch(() => {});
    this.closing = true;
    await this.connection.close().catch(() => {});
  }
}
