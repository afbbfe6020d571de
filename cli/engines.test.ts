import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../protocol/config.js';
import { Health } from '../platform/health.js';
import { Metrics } from '../platform/metrics.js';
import { Shutdown } from '../platform/shutdown.js';
import { chooseEngines, openEngines } from './engines.js';

/** Nothing listens there: these tests need no services. */
const REDIS = 'redis://127.0.0.1:1';
const POSTGRES = 'postgres://ticktalk@127.0.0.1:5432/ticktalk';
const RABBITMQ = 'amqp://guest:guest@127.0.0.1:5672';

/** A logger whose records land in `lines`, parsed. */
function capturingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe('chooseEngines', () => {
  it.each([
    [{}, { cluster: 'memory', database: 'pglite', feed: 'simulator' }],
    [{ FEED_SIM: 'off' }, { cluster: 'memory', database: 'pglite', feed: 'none' }],
    [{ REDIS_URL: REDIS }, { cluster: 'redis', database: 'pglite', feed: 'simulator' }],
    [{ DATABASE_URL: POSTGRES }, { cluster: 'memory', database: 'postgres', feed: 'simulator' }],
    [{ AMQP_URL: RABBITMQ }, { cluster: 'memory', database: 'pglite', feed: 'rabbitmq' }],
    [
      { REDIS_URL: REDIS, DATABASE_URL: POSTGRES, AMQP_URL: RABBITMQ },
      { cluster: 'redis', database: 'postgres', feed: 'rabbitmq' },
    ],
  ])('%j → %j', (env, choice) => {
    expect(chooseEngines(loadConfig(env))).toEqual(choice);
  });
});

describe('openEngines', () => {
  it('logs the choice in one line and builds one RedisConnections, checked for readiness and closed at shutdown', async () => {
    const { log, lines } = capturingLog();
    const health = new Health();
    const shutdown = new Shutdown(pino({ level: 'silent' }));
    const config = loadConfig({ REDIS_URL: REDIS, DATABASE_URL: POSTGRES, AMQP_URL: RABBITMQ });
    const engines = openEngines(config, { log, metrics: new Metrics(), health, shutdown });

    expect(lines.filter((l) => l.msg === 'engines chosen')).toEqual([
      expect.objectContaining({ engines: { cluster: 'redis', database: 'postgres', feed: 'rabbitmq' } }),
    ]);
    expect(lines).toHaveLength(1);

    const conn = engines.redis!.connect('test', { lazyConnect: true });
    expect((await health.readiness()).checks).toEqual({ redis: false });
    await shutdown.run();
    await expect.poll(() => conn.status).toBe('end');
  });

  it('makes no Redis connections for the memory cluster, and no tick source when the feed is off', () => {
    const { log } = capturingLog();
    const deps = { log, metrics: new Metrics(), health: new Health(), shutdown: new Shutdown(log) };
    const engines = openEngines(loadConfig({ FEED_SIM: 'off' }), deps);
    expect(engines.redis).toBeUndefined();
    expect(engines.tickSource()).toBeUndefined();
  });
});
