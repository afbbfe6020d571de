import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { connectRecovering } from './amqp.js';
import type { RoleContext } from '../platform/context.js';
import type { Health } from '../platform/health.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { chatRuntime } from '../chat/role.js';
import type { ChatService } from '../chat/service.js';
import type { ChatStore, OutboxRow } from '../chat/store.js';
import { CHAT_INBOUND_NAMES, ChatInbound, declareChatInbound, type ChatInboundNames } from './chat-inbound.js';

export interface ChatBridgeNames {
  /** Topic exchange every stored chat event is mirrored to (docs/protocol.md#chat-events). */
  eventsExchange: string;
  inbound: ChatInboundNames;
}

export const CHAT_BRIDGE_NAMES: ChatBridgeNames = { eventsExchange: 'chat.events', inbound: CHAT_INBOUND_NAMES };

const RELAY_BATCH = 500;
/** The outbox is also polled, for rows written by other processes. */
const POLL_MS = 250;

/**
 * The chat outbox → RabbitMQ `chat.events`. Rows are published persistent on a confirm channel and
 * deleted only after RabbitMQ confirmed them, so an outage delays events but loses none (delivery is
 * at least once: a consumer may see an event again after a crash, and can tell by room+seq+type).
 */
export class ChatEventsRelay {
  private channel: ConfirmChannel | undefined;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly relayed;

  constructor(
    private readonly store: ChatStore,
    private readonly opts: { exchange: string; holder: string; log: Logger; metrics: Metrics },
  ) {
    this.relayed = opts.metrics.counter('chat_events_relayed_total', 'Chat events confirmed by RabbitMQ chat.events');
    store.onOutboxQueued(() => this.wake?.());
  }

  attach(channel: ConfirmChannel | undefined): void {
    this.channel = channel;
    this.wake?.();
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
    await this.store.releaseOutbox(this.opts.holder).catch((err: Error) => this.opts.log.warn({ err: err.message }, 'outbox lease not released'));
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let relayed = 0;
      const channel = this.channel;
      if (channel) {
        try {
          relayed = await this.store.relayOutbox(this.opts.holder, RELAY_BATCH, (rows) => this.publish(channel, rows));
          this.relayed.inc(relayed);
        } catch (err) {
          this.opts.log.warn({ err: (err as Error).message }, 'chat events not relayed yet; retrying');
        }
      }
      if (relayed === 0)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, POLL_MS);
          this.wake = () => (clearTimeout(timer), resolve());
        });
    }
  }

  private async publish(channel: ConfirmChannel, rows: readonly OutboxRow[]): Promise<void> {
    for (const row of rows) {
      channel.publish(this.opts.exchange, row.routingKey, Buffer.from(row.body), {
        persistent: true,
        contentType: 'application/json',
        messageId: `chat-outbox-${row.id}`,
      });
    }
    await channel.waitForConfirms();
  }
}

export interface ChatBridgesOptions {
  url: string;
  chat: ChatService;
  store: ChatStore;
  maxLength: number;
  /** Lease holder id for the outbox relay (the node id). */
  holder: string;
  log: Logger;
  metrics: Metrics;
  health?: Health;
  names?: ChatBridgeNames;
}

/**
 * Both chat bridges on one recovering RabbitMQ connection: the outbox relay to `chat.events` and the
 * `chat.inbound` consumer. Returns at once; RabbitMQ being down is "not ready, retrying".
 */
export async function connectChatBridges(opts: ChatBridgesOptions): Promise<{ stop(): Promise<void> }> {
  const names = opts.names ?? CHAT_BRIDGE_NAMES;
  const log = opts.log;
  const relay = new ChatEventsRelay(opts.store, { exchange: names.eventsExchange, holder: opts.holder, log, metrics: opts.metrics });
  const inbound = new ChatInbound(opts.chat, { names: names.inbound, maxLength: opts.maxLength, log, metrics: opts.metrics });
  let connected = false;
  opts.health?.addCheck('chat-rabbitmq', () => connected);

  const connection = await connectRecovering({
    url: opts.url,
    name: `ticktalk chat bridges ${opts.holder}`,
    log,
    reconnect: { maxDelayMs: 10_000 },
    setup: async (model: ChannelModel) => {
      const setupChannel = await model.createChannel();
      await setupChannel.assertExchange(names.eventsExchange, 'topic', { durable: true });
      await declareChatInbound(setupChannel, names.inbound);
      await setupChannel.close();
      const events = await model.createConfirmChannel();
      const consumer = await model.createChannel();
      const deadLetters = await model.createConfirmChannel();
      for (const ch of [events, consumer, deadLetters]) {
        ch.on('error', (err: Error) => log.warn({ err: err.message }, 'chat bridge channel error'));
        // A lost channel with a live connection would leave a bridge deaf: reconnect everything.
        ch.on('close', () => {
          if (connected) model.close().catch(() => {});
        });
      }
      await inbound.consume(consumer, deadLetters);
      relay.attach(events);
      connected = true;
    },
  });
  connection.on('disconnect', (err: Error) => {
    connected = false;
    relay.attach(undefined);
    log.warn({ err: err.message }, 'chat bridges lost RabbitMQ');
  });

  return {
    stop: async () => {
      connected = false;
      await inbound.stop();
      await relay.stop();
      await connection.close().catch(() => {});
    },
  };
}

/** The bridge role's entry point (when AMQP_URL is set). */
export async function startChatBridges(ctx: RoleContext): Promise<void> {
  const url = ctx.config.AMQP_URL;
  if (!url) throw new Error('startChatBridges needs AMQP_URL');
  const { service, store } = await chatRuntime(ctx);
  const bridges = await connectChatBridges({
    url,
    chat: service,
    store,
    maxLength: ctx.config.CHAT_MAX_LENGTH,
    holder: ctx.config.NODE_ID,
    log: ctx.log.child({ component: 'chat-bridges' }),
    metrics: ctx.metrics,
    health: ctx.health,
  });
  ctx.shutdown.add('chat-bridges', () => bridges.stop());
}
