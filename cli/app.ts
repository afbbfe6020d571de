import { readFileSync } from 'node:fs';
import { ConfigError, type Config } from '../protocol/config.js';
import { createLogger, type Logger } from '../platform/logger.js';
import { Metrics } from '../platform/metrics.js';
import { Health } from '../platform/health.js';
import { createHttpServer } from '../platform/http.js';
import { Shutdown } from '../platform/shutdown.js';
import { TickHub } from '../platform/tick-hub.js';
import { openDatabase, type Database } from '../platform/database.js';
import type { RoleContext } from '../platform/context.js';
import { Hs256Auth } from '../broker/auth.js';
import { OperatorAcl } from '../broker/acl-file.js';
import { BrokerNode } from '../broker/core.js';
import { BrokerPublisher } from '../broker/market-publisher.js';
import { TcpListener, registerWebSocketListener } from '../broker/listeners.js';
import { drainGradually } from '../broker/drain.js';
import type { TickSource } from '../platform/tick-hub.js';
import { Simulator } from '../bridges/simulator.js';
import { TickBridge } from '../bridges/tick-bridge.js';
import { startOhlcvRole } from '../ohlcv/role.js';
import { prepareSimulatorHistory } from '../ohlcv/first-start.js';
import { keptJwtSecret } from '../platform/jwt-secret.js';
import { registerUdfRoutes } from '../ohlcv/udf-routes.js';
import { openCandleStore } from '../ohlcv/store.js';
import { createChatService, registerChatRoutes } from '../chat/role.js';
import { registerWebPage } from '../web/serve-page.js';
import { startChatBridges } from '../bridges/chat-events.js';

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
 * The one place roles are composed: reads the parsed config, picks implementations (memory or
 * Redis, PGlite or PostgreSQL, simulator or RabbitMQ) and wires the roles asked for.
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
  const http = createHttpServer({ log, health, metrics });
  const ticks = new TickHub((err) => log.error({ err }, 'tick listener failed'));
  const secret = config.AUTH_JWT_SECRET ?? keptJwtSecret(config.DATA_DIR, log);
  const auth = secret ? new Hs256Auth(secret) : Hs256Auth.ephemeral();

  let db: Promise<Database> | undefined;
  const database = () => {
    db ??= openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR }).then((opened) => {
      health.addCheck('database', () => opened.ping());
      return opened;
    });
    return db;
  };
  shutdown.add('database', async () => {
    if (db) await (await db).close();
  });

  const operatorAcl = config.ACL_FILE ? loadOperatorAcl(config.ACL_FILE) : undefined;
  if (!config.REDIS_URL && roles.length < ROLE_NAMES.length) {
    log.warn({ roles }, 'REDIS_URL unset: MQTT traffic stays inside this process; split roles need a cluster');
  }

  // Every process joins the MQTT cluster (roles without listeners publish through it);
  // only the broker role accepts client connections.
  const node = await BrokerNode.start({ config, log: log.child({ component: 'broker' }), metrics, auth, operatorAcl });
  if (config.REDIS_URL) health.addCheck('redis', () => node.clusterConnected());
  shutdown.add('http', () => http.close());
  shutdown.add('broker', () => node.close());
  const mqtt = new BrokerPublisher(node);
  ticks.subscribe((batch) => mqtt.publishTicks(batch));

  const ctx: RoleContext = { config, log, metrics, health, http, shutdown, mqtt, ticks, auth, database };

  let tcp: TcpListener | undefined;
  let webSocket: { stopAccepting(): void } | undefined;
  if (roles.includes('broker')) {
    const listenerOpts = {
      node,
      log,
      metrics,
      maxPacket: config.MQTT_MAX_PACKET,
      connectsPerIpPerSecond: config.MQTT_CONNECTS_PER_IP_PER_S,
    };
    tcp = new TcpListener(listenerOpts);
    webSocket = await registerWebSocketListener(http, listenerOpts);
    // Chat is stamped and stored inside the broker's publish path, before PUBACK.
    node.addExtension(await createChatService(ctx));
  }

  if (roles.includes('ohlcv')) await startOhlcvRole(ctx);
  if (roles.includes('web')) {
    await registerUdfRoutes(http, { store: await openCandleStore(await database()) });
    await registerChatRoutes(ctx);
    await registerWebPage(http);
  }

  const ports: { mqtt?: number; http: number } = { http: 0 };
  if (tcp) {
    const listener = tcp;
    ports.mqtt = await bind('MQTT_PORT', config.MQTT_PORT, config.HOST, () => listener.listen(config.MQTT_PORT, config.HOST));
    health.addCheck('mqtt', () => listener.listening);
    shutdown.add(
      'mqtt-drain',
      async () => {
        listener.stopAccepting();
        webSocket?.stopAccepting();
        const clients = node.clients();
        log.info({ clients: clients.length, seconds: config.SHUTDOWN_DRAIN_S }, 'draining MQTT clients');
        await drainGradually(clients, config.SHUTDOWN_DRAIN_S * 1000);
      },
      // The drain takes SHUTDOWN_DRAIN_S by design; the default step bound must not cut it short.
      (config.SHUTDOWN_DRAIN_S + 5) * 1000,
    );
  }
  await bind('HTTP_PORT', config.HTTP_PORT, config.HOST, () => http.listen({ port: config.HTTP_PORT, host: config.HOST }));

  // Tick sources start last, once every sink (MQTT, aggregator) is listening on the hub.
  if (roles.includes('bridge')) {
    // chat.events relays the chat outbox, chat.inbound takes bot messages.
    if (config.AMQP_URL) await startChatBridges(ctx);
    const resumeBids = await prepareSimulatorHistory(ctx, roles);
    for (const source of tickSources(config, ctx, resumeBids)) {
      await source.start(ticks);
      shutdown.add('tick-source', () => source.stop());
    }
  }
  ports.http = (http.server.address() as { port: number }).port;
  log.info({ roles, ports, cluster: Boolean(config.REDIS_URL) }, 'ticktalk started');

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

/** An unreadable or invalid ACL file stops start-up with a message naming ACL_FILE. */
function loadOperatorAcl(path: string): OperatorAcl {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('ACL_FILE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return OperatorAcl.parse(text);
  } catch (err) {
    throw new ConfigError('ACL_FILE', (err as Error).message);
  }
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

function tickSources(config: Config, ctx: RoleContext, resumeBids: ReadonlyMap<string, number>): TickSource[] {
  const sources: TickSource[] = [];
  if (config.FEED_SIM) {
    const log = ctx.log.child({ component: 'simulator' });
    sources.push(new Simulator({ symbols: config.SYMBOLS, ratePerSymbol: config.FEED_SIM_RATE, resumeBids, log }));
  }
  if (config.AMQP_URL) {
    sources.push(
      new TickBridge({
        url: config.AMQP_URL,
        timeZone: config.FEED_TIMEZONE,
        log: ctx.log.child({ component: 'tick-bridge' }),
        metrics: ctx.metrics,
        health: ctx.health,
        connectionName: `ticktalk-bridge-${config.NODE_ID}`,
      }),
    );
  }
  return sources;
}

export function parseRoles(text: string | undefined): RoleName[] {
  if (!text) return [...ROLE_NAMES];
  const roles = text.split(',').map((r) => r.trim()).filter(Boolean);
  const unknown = roles.filter((r) => !(ROLE_NAMES as readonly string[]).includes(r));
  if (unknown.length > 0 || roles.length === 0) {
    throw new Error(`unknown role(s) ${unknown.join(', ') || '(none)'}: choose from ${ROLE_NAMES.join(', ')}`);
  }
  return [...new Set(roles)] as RoleName[];
}
