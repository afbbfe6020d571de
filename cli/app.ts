import { ConfigError, type Config } from '../protocol/config.js';
import { createLogger, type Logger } from '../platform/logger.js';
import { Metrics } from '../platform/metrics.js';
import { Health } from '../platform/health.js';
import { createHttpServer } from '../platform/http.js';
import { Shutdown } from '../platform/shutdown.js';
import { TickHub } from '../platform/tick-hub.js';
import type { RoleContext } from '../platform/context.js';
import { Hs256Auth } from '../platform/auth.js';
import { loadOperatorAcl } from './operator-acl.js';
import { BrokerNode } from '../broker/node.js';
import { BrokerPublisher } from '../broker/publisher.js';
import { TcpListener, registerWebSocketListener } from '../broker/listeners.js';
import { drainGradually } from '../broker/drain.js';
import { startOhlcvRole } from '../ohlcv/role.js';
import { prepareSimulatorHistory } from '../bridges/simulator-history.js';
import { keptJwtSecret } from '../platform/jwt-secret.js';
import { registerUdfRoutes } from '../ohlcv/udf-routes.js';
import { openCandleStore } from '../ohlcv/store.js';
import { createChatService, registerChatRoutes } from '../chat/role.js';
import { registerWebPage } from '../web/serve-page.js';
import { startChatBridges } from '../bridges/chat-events.js';
import { openEngines, type Engines } from './engines.js';

export const ROLE_NAMES = ['broker', 'bridge', 'ohlcv', 'web'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export interface AppOptions {
  config: Config;
  roles: readonly RoleName[];
  log?: Logger;
}

export interface App {
  readonly ctx: RoleContext;
  readonly node: BrokerNode;
  /** Bound ports (useful when configured as 0). */
  readonly ports: { mqtt?: number; http: number };
  stop(): Promise<void>;
}

/**
 * The one place roles are composed: reads the parsed config, takes the engines chosen in
 * engines.ts (memory or Redis, PGlite or PostgreSQL, simulator or RabbitMQ) and wires the roles
 * asked for.
 */
export async function startApp({ config, roles, log: givenLog }: AppOptions): Promise<App> {
  const log = givenLog ?? createLogger(config.LOG_LEVEL, config.NODE_ID);
  const shutdown = new Shutdown(log);
  try {
    return await compose(config, roles, log, shutdown);
  } catch (err) {
    // A failed start (a port in use, a dependency down) releases what it had already opened.
    await shutdown.run();
    throw err;
  }
}

async function compose(config: Config, roles: readonly RoleName[], log: Logger, shutdown: Shutdown): Promise<App> {
  const metrics = new Metrics();
  const health = new Health();
  const http = createHttpServer({ log, health, metrics, requestTimeoutS: config.HTTP_REQUEST_TIMEOUT_S });
  const ticks = new TickHub((err) => log.error({ err }, 'tick listener failed'));
  const engines = openEngines(config, { log, metrics, health, shutdown });
  const secret = config.AUTH_JWT_SECRET ?? keptJwtSecret(config.DATA_DIR, log);
  const auth = secret ? new Hs256Auth(secret) : Hs256Auth.ephemeral();

  const operatorAcl = config.ACL_FILE ? loadOperatorAcl(config.ACL_FILE) : undefined;
  if (engines.choice.cluster === 'memory' && roles.length < ROLE_NAMES.length) {
    log.warn({ roles }, 'REDIS_URL unset: MQTT traffic stays inside this process; split roles need a cluster');
  }

  // Every process joins the MQTT cluster (roles without listeners publish through it);
  // only the broker role accepts client connections.
  const node = await BrokerNode.start({ config, log: log.child({ component: 'broker' }), metrics, auth, operatorAcl, redis: engines.redis });
  if (engines.redis) health.addCheck('cluster', () => node.clusterConnected());
  shutdown.add('http', () => http.close());
  shutdown.add('broker', () => node.close());
  const mqtt = new BrokerPublisher(node);
  ticks.subscribe((batch) => mqtt.publishTicks(batch));

  const { redis } = engines;
  const database = () => engines.database();
  const ctx: RoleContext = { config, engines: engines.choice, log, metrics, health, http, shutdown, mqtt, ticks, auth, database, redis };

  const listeners = roles.includes('broker') ? await startBrokerRole(ctx, node) : undefined;
  if (roles.includes('ohlcv')) await startOhlcvRole(ctx);
  if (roles.includes('web')) await startWebRole(ctx);

  const ports: { mqtt?: number; http: number } = { http: 0 };
  if (listeners) ports.mqtt = await listenMqtt(ctx, node, listeners);
  await bind('HTTP_PORT', config.HTTP_PORT, config.HOST, () => http.listen({ port: config.HTTP_PORT, host: config.HOST }));
  // Tick sources start last, once every sink (MQTT, aggregator) is listening on the hub.
  if (roles.includes('bridge')) await startBridgeRole(ctx, engines, roles);
  ports.http = (http.server.address() as { port: number }).port;
  log.info({ roles, ports }, 'ticktalk started');

  return {
    ctx,
    node,
    ports,
    stop: async () => {
      health.startDraining();
      await shutdown.run();
    },
  };
}

interface MqttListeners {
  tcp: TcpListener;
  webSocket: { stopAccepting(): void };
}

/** Client listeners (not yet bound) and chat in the publish path. */
async function startBrokerRole(ctx: RoleContext, node: BrokerNode): Promise<MqttListeners> {
  const listenerOpts = {
    node,
    log: ctx.log,
    metrics: ctx.metrics,
    maxPacket: ctx.config.MQTT_MAX_PACKET,
    connectsPerIpPerSecond: ctx.config.MQTT_CONNECTS_PER_IP_PER_S,
    listenBacklog: ctx.config.MQTT_LISTEN_BACKLOG,
  };
  const tcp = new TcpListener(listenerOpts);
  const webSocket = await registerWebSocketListener(ctx.http, listenerOpts);
  // Chat is stamped and stored inside the broker's publish path, before PUBACK.
  node.addExtension(await createChatService(ctx));
  return { tcp, webSocket };
}

/** Binds MQTT_PORT; on shutdown, stops accepting and drains the clients over SHUTDOWN_DRAIN_S. */
async function listenMqtt(ctx: RoleContext, node: BrokerNode, { tcp, webSocket }: MqttListeners): Promise<number> {
  const { config, log, health, shutdown } = ctx;
  const port = await bind('MQTT_PORT', config.MQTT_PORT, config.HOST, () => tcp.listen(config.MQTT_PORT, config.HOST));
  health.addCheck('mqtt', () => tcp.listening);
  shutdown.add(
    'mqtt-drain',
    async () => {
      tcp.stopAccepting();
      webSocket.stopAccepting();
      const clients = node.clientsToDrain();
      log.info({ clients: clients.length, seconds: config.SHUTDOWN_DRAIN_S }, 'draining MQTT clients');
      await drainGradually(clients, config.SHUTDOWN_DRAIN_S * 1000);
    },
    // The drain takes SHUTDOWN_DRAIN_S by design; the default step bound must not cut it short.
    (config.SHUTDOWN_DRAIN_S + 5) * 1000,
  );
  return port;
}

async function startWebRole(ctx: RoleContext): Promise<void> {
  await registerUdfRoutes(ctx.http, { store: await openCandleStore(await ctx.database()) });
  await registerChatRoutes(ctx);
  await registerWebPage(ctx.http);
}

/** The feed's tick source into the hub; with RabbitMQ also the chat bridges. */
async function startBridgeRole(ctx: RoleContext, engines: Engines, roles: readonly RoleName[]): Promise<void> {
  // chat.events relays the chat outbox, chat.inbound takes bot messages.
  if (engines.choice.feed === 'rabbitmq') await startChatBridges(ctx);
  // The simulator continues where the stored (or freshly generated) history ends.
  const resumeBids = await prepareSimulatorHistory(ctx, roles);
  const source = engines.tickSource(resumeBids);
  if (!source) return;
  await source.start(ctx.ticks);
  ctx.shutdown.add('tick-source', () => source.stop());
}

/** A port already taken is a configuration problem: say which variable to change. */
async function bind<T>(variable: string, port: number, host: string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError(variable, `port ${port} on ${host} is already in use (another broker or server?); choose another`);
    }
    throw err;
  }
}

export function parseRoles(text: string | undefined): RoleName[] {
  if (!text) return [...ROLE_NAMES];
  const roles = text
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const unknown = roles.filter((r) => !(ROLE_NAMES as readonly string[]).includes(r));
  if (unknown.length > 0 || roles.length === 0) {
    throw new Error(`unknown role(s) ${unknown.join(', ') || '(none)'}: choose from ${ROLE_NAMES.join(', ')}`);
  }
  return [...new Set(roles)] as RoleName[];
}
