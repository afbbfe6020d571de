import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

/** What a Redis user may choose per connection; everything else (errors, close) is the factory's. */
export type RedisConnectionOptions = Pick<RedisOptions, 'lazyConnect' | 'enableOfflineQueue' | 'enableAutoPipelining' | 'maxRetriesPerRequest'>;

/** How often one connection's errors reach the log while Redis stays away (ioredis retries every few seconds). */
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * Every Redis connection of a process, made here so that they share one error policy: errors are
 * logged (one line per connection per 10 s while Redis is away; unheard, an 'error' event would end
 * the process or ioredis would print to stderr), readiness is one question over all of them, and
 * closing never rejects (ioredis' quit rejects when the socket closes before the reply).
 */
export class RedisConnections {
  private readonly conns: { name: string; conn: Redis }[] = [];

  constructor(
    readonly url: string,
    private readonly log: Logger,
  ) {}

  /** A new connection named for the log (`cluster-pub`, `chat`, ...). */
  connect(name: string, options: RedisConnectionOptions = {}): Redis {
    const conn = new Redis(this.url, options);
    let lastLog = -Infinity;
    conn.on('error', (err: Error) => {
      if (performance.now() - lastLog < ERROR_LOG_INTERVAL_MS) return;
      lastLog = performance.now();
      this.log.warn({ redis: name, err: err.message }, 'redis unavailable; retrying');
    });
    const quit = conn.quit.bind(conn);
    conn.quit = () => quit().catch(() => 'OK');
    this.conns.push({ name, conn });
    return conn;
  }

  /** True while every connection made here is ready. */
  ready(): boolean {
    return this.conns.every(({ conn }) => conn.status === 'ready');
  }

  /** Names of the connections that are not ready, for /readyz and logs. */
  notReady(): string[] {
    return this.conns.filter(({ conn }) => conn.status !== 'ready').map(({ name }) => name);
  }

  /** Quits every connection still open (ones their users closed already are skipped). */
  async close(): Promise<void> {
    await Promise.all(this.conns.filter(({ conn }) => conn.status !== 'end').map(({ conn }) => conn.quit().catch(() => conn.disconnect())));
  }
}
