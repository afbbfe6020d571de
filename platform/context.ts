import type { FastifyInstance } from 'fastify';
import type { Config } from '../protocol/config.js';
import type { Tick } from '../protocol/tick.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Health } from './health.js';
import type { Shutdown } from './shutdown.js';
import type { TickHub } from './tick-hub.js';
import type { Database } from './database.js';
import type { RedisConnections } from './redis.js';
import type { TokenIssuer, TokenVerifier } from './auth.js';

/**
 * Publishing into the MQTT cluster from inside the process (bridge, aggregator, chat). In cluster
 * mode this reaches subscribers on every broker node.
 */
export interface MqttPublisher {
  publish(topic: string, payload: Buffer | string, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** Ticks take the encode-once fast path: retained `ticks/{SYMBOL}`, QoS 0. */
  publishTicks(ticks: readonly Tick[]): void;
}

/** Which implementation runs behind each port that has two, picked once by `cli/engines.ts`. */
export interface EngineChoice {
  /** MQTT cluster, chat rate limits and presence: inside this process, or shared through Redis. */
  cluster: 'memory' | 'redis';
  database: 'pglite' | 'postgres';
  /** Where ticks come from: the built-in simulator, RabbitMQ `mt.ticks`, or nowhere (`FEED_SIM=off`). */
  feed: 'simulator' | 'rabbitmq' | 'none';
}

/** Everything a role may use. Built once by `ticktalk serve`; nothing else reads the environment. */
export interface RoleContext {
  config: Config;
  /** The engines chosen at start: roles ask this, not the config, which engine runs. */
  engines: EngineChoice;
  log: Logger;
  metrics: Metrics;
  health: Health;
  /** The process's HTTP server, not yet listening: register plugins during role start. */
  http: FastifyInstance;
  /** Steps run in reverse order of registration on SIGTERM/SIGINT. */
  shutdown: Shutdown;
  mqtt: MqttPublisher;
  ticks: TickHub;
  auth: TokenVerifier & TokenIssuer;
  /** Lazily opened shared database (PGlite allows one handle per data dir, so roles share it). */
  database(): Promise<Database>;
  /** Every Redis connection of the process is made here; unset when the cluster engine is memory. */
  redis?: RedisConnections;
}
