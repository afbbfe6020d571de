import type { Config } from '../protocol/config.js';
import type { EngineChoice } from '../platform/context.js';
import { PostgresDatabase, type Database } from '../platform/database.js';
import { PgliteDatabase } from '../platform/pglite-database.js';
import type { Health } from '../platform/health.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { RedisConnections } from '../platform/redis.js';
import type { Shutdown } from '../platform/shutdown.js';
import type { TickSource } from '../platform/tick-hub.js';
import { Simulator } from '../bridges/simulator.js';
import { TickBridge } from '../bridges/tick-bridge.js';

/** The chosen engines and the shared resources built for them. */
export interface Engines {
  readonly choice: EngineChoice;
  /** Every Redis connection of the process comes from here (cluster `redis` only). */
  readonly redis?: RedisConnections;
  /** The shared database, opened on first use (PGlite allows one handle per data dir). */
  database(): Promise<Database>;
  /** The feed's tick source, for the bridge role; none when the feed is `none`. The simulator starts from `resumeBids`. */
  tickSource(resumeBids?: ReadonlyMap<string, number>): TickSource | undefined;
}

export interface EngineDeps {
  log: Logger;
  metrics: Metrics;
  health: Health;
  shutdown: Shutdown;
}

export function chooseEngines(config: Config): EngineChoice {
  return {
    cluster: config.REDIS_URL ? 'redis' : 'memory',
    database: config.DATABASE_URL ? 'postgres' : 'pglite',
    feed: config.AMQP_URL ? 'rabbitmq' : config.FEED_SIM ? 'simulator' : 'none',
  };
}

/**
 * Picks the engines once, says which in one log line, and registers what they hold open with
 * readiness and shutdown (registered first, so closed last: after every role that uses them).
 */
export function openEngines(config: Config, deps: EngineDeps): Engines {
  const choice = chooseEngines(config);
  deps.log.info({ engines: choice }, 'engines chosen');
  return {
    choice,
    redis: config.REDIS_URL ? redisConnections(config.REDIS_URL, deps) : undefined,
    database: sharedDatabase(config, deps),
    tickSource: (resumeBids) => tickSource(config, deps, resumeBids),
  };
}

function redisConnections(url: string, { log, health, shutdown }: EngineDeps): RedisConnections {
  const redis = new RedisConnections(url, log.child({ component: 'redis' }));
  health.addCheck('redis', () => redis.ready());
  shutdown.add('redis', () => redis.close());
  return redis;
}

function sharedDatabase(config: Config, { health, shutdown, metrics }: EngineDeps): () => Promise<Database> {
  let db: Promise<Database> | undefined;
  shutdown.add('database', async () => {
    if (db) await (await db).close();
  });
  return () =>
    (db ??= openDatabase(config).then((opened) => {
      health.addCheck('database', () => opened.ping());
      if (opened instanceof PgliteDatabase) {
        metrics.gauge(
          'pglite_memory_bytes',
          "PGlite's worker thread: JavaScript heap and external memory (PostgreSQL's WebAssembly memory)",
          [],
          async (g) => g.set(await opened.memoryBytes().catch(() => 0)),
        );
      }
      return opened;
    }));
}

/** The configured database (PostgreSQL with DATABASE_URL, else PGlite in DATA_DIR); also for offline tools. */
export async function openDatabase(config: Config): Promise<Database> {
  return config.DATABASE_URL
    ? new PostgresDatabase(config.DATABASE_URL)
    : PgliteDatabase.open({ dataDir: `${config.DATA_DIR}/pglite`, cacheMb: config.PGLITE_CACHE_MB });
}

function tickSource(
  config: Config,
  { log, metrics, health }: EngineDeps,
  resumeBids: ReadonlyMap<string, number> = new Map(),
): TickSource | undefined {
  if (config.AMQP_URL) {
    return new TickBridge({
      url: config.AMQP_URL,
      timeZone: config.FEED_TIMEZONE,
      log: log.child({ component: 'tick-bridge' }),
      metrics,
      health,
      connectionName: `ticktalk-bridge-${config.NODE_ID}`,
    });
  }
  if (config.FEED_SIM) {
    return new Simulator({ symbols: config.SYMBOLS, ratePerSymbol: config.FEED_SIM_RATE, resumeBids, log: log.child({ component: 'simulator' }) });
  }
  return undefined;
}
