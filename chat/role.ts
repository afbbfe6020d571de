import type { FastifyInstance } from 'fastify';
import type { RoleContext } from '../platform/context.js';
import { chatRoutes } from './http-routes.js';
import { MemoryPresenceStore, type PresenceStore } from './presence-store.js';
import { Presence } from './presence.js';
import { MemoryRateLimiter, type RateLimiter } from './rate-limiter.js';
import { RedisPresenceStore } from './redis-presence-store.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';
import { ChatService } from './service.js';
import { SqlChatStore } from './sql-store.js';

const REDIS_PREFIX = 'ticktalk:chat:';
const HEARTBEAT_MS = 5_000;

/** The chat service and the store behind it (the RabbitMQ bridges relay the store's outbox). */
export interface ChatRuntime {
  service: ChatService;
  store: SqlChatStore;
  /** Guest sign-ins per client address: in the same engine as the chat limiter. */
  guestLimiter: RateLimiter;
}

/**
 * One chat runtime per process: the broker role (publish path, presence), the web role (HTTP API)
 * and the bridge role (chat.events / chat.inbound) share it, so a single in-memory node has one
 * presence map and one rate limiter.
 */
const runtimes = new WeakMap<RoleContext, Promise<ChatRuntime>>();

export function chatRuntime(ctx: RoleContext): Promise<ChatRuntime> {
  let runtime = runtimes.get(ctx);
  if (!runtime) runtimes.set(ctx, (runtime = openChatRuntime(ctx)));
  return runtime;
}

/** The broker role registers the result as a BrokerExtension: `node.addExtension(await createChatService(ctx))`. */
export async function createChatService(ctx: RoleContext): Promise<ChatService> {
  return (await chatRuntime(ctx)).service;
}

/** The web role: `/api/session`, `/api/rooms…`, `/api/dm…` on ctx.http (or the given app). */
export async function registerChatRoutes(ctx: RoleContext, app: FastifyInstance = ctx.http): Promise<void> {
  const { service, guestLimiter } = await chatRuntime(ctx);
  await app.register(chatRoutes, {
    chat: service,
    auth: ctx.auth,
    guest: ctx.config.AUTH_GUEST,
    guestLimit: {
      limiter: guestLimiter,
      refused: ctx.metrics.counter('auth_guest_refused_total', 'Guest sessions refused over AUTH_GUEST_PER_IP_PER_MIN'),
    },
    maxLength: ctx.config.CHAT_MAX_LENGTH,
  });
}

async function openChatRuntime(ctx: RoleContext): Promise<ChatRuntime> {
  const { config, log } = ctx;
  // Without RabbitMQ nobody would drain the outbox, so it is only written when a relay can run.
  const store = await SqlChatStore.open(await ctx.database(), { outbox: ctx.engines.feed === 'rabbitmq' });

  const limits = { ratePerS: config.CHAT_RATE_PER_S, burst: config.CHAT_BURST };
  const guestLimits = { ratePerS: config.AUTH_GUEST_PER_IP_PER_MIN / 60, burst: config.AUTH_GUEST_PER_IP_PER_MIN };
  // With a Redis cluster, rate limits and presence hold across every node.
  const redis = ctx.redis?.connect('chat', { maxRetriesPerRequest: 2 });
  const limiter: RateLimiter = redis ? new RedisRateLimiter(redis, limits, REDIS_PREFIX) : new MemoryRateLimiter(limits);
  const guestLimiter: RateLimiter = redis ? new RedisRateLimiter(redis, guestLimits, `${REDIS_PREFIX}guest:`) : new MemoryRateLimiter(guestLimits);
  const presenceStore: PresenceStore = redis ? new RedisPresenceStore(redis, REDIS_PREFIX, HEARTBEAT_MS * 3) : new MemoryPresenceStore();

  const publish = (topic: string, payload: string, qos: 0 | 1) => ctx.mqtt.publish(topic, payload, { qos, retain: false });
  const presence = new Presence(presenceStore, publish, { node: config.NODE_ID, heartbeatMs: HEARTBEAT_MS }, log.child({ component: 'presence' }));
  await presence.start();
  const service = new ChatService({
    store,
    limiter,
    presence,
    publish,
    maxLength: config.CHAT_MAX_LENGTH,
    editWindowMs: config.CHAT_EDIT_WINDOW_S * 1000,
    typingPerS: config.CHAT_TYPING_PER_S,
    log: log.child({ component: 'chat' }),
    metrics: ctx.metrics,
  });
  ctx.shutdown.add('chat', async () => {
    await service.settled();
    await presence.stop();
  });
  return { service, store, guestLimiter };
}
