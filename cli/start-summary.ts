import { maskUserinfo, type Config } from '../protocol/config.js';
import type { App, RoleName } from './app.js';
import { columns } from './columns.js';
import { chooseEngines } from './engines.js';
import type { EngineChoice } from '../platform/context.js';

type Row = [string, string];

/** How each engine is described; the URLs are the ones the choice was made from. */
const DESCRIPTIONS: { [K in keyof EngineChoice]: Record<EngineChoice[K], (config: Config) => string> } = {
  cluster: {
    redis: (c) => `Redis ${maskUserinfo(c.REDIS_URL ?? '')}`,
    memory: () => 'memory: this process only (REDIS_URL unset)',
  },
  database: {
    postgres: (c) => `PostgreSQL ${maskUserinfo(c.DATABASE_URL ?? '')}`,
    pglite: (c) => `PGlite in ${c.DATA_DIR}/pglite`,
  },
  feed: {
    rabbitmq: (c) => `RabbitMQ ${maskUserinfo(c.AMQP_URL ?? '')}`,
    simulator: (c) => `simulator: ${c.SYMBOLS.length} symbols at ${c.FEED_SIM_RATE} ticks/s each`,
    none: () => 'none (FEED_SIM off, AMQP_URL unset)',
  },
};

/** The engines a configuration picks (`chooseEngines`, as `serve` does), passwords masked. */
export function engineRows(config: Config, runsBridge = true): Row[] {
  const choice = chooseEngines(config);
  return [
    ['cluster', DESCRIPTIONS.cluster[choice.cluster](config)],
    ['database', DESCRIPTIONS.database[choice.database](config)],
    ['feed', runsBridge ? DESCRIPTIONS.feed[choice.feed](config) : 'none in this process (no bridge role)'],
  ];
}

/** A wildcard bind address is reached as localhost; an IPv6 literal goes in brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The lines `serve` prints on stderr once it listens: where to point a browser and an MQTT client,
 * which engines were picked. stdout keeps only the JSON log.
 */
export function startSummary(app: App, roles: readonly RoleName[]): string {
  const { config } = app.ctx;
  const host = urlHost(config.HOST);
  const http = `http://${host}:${app.ports.http}`;
  const rows: Row[] = [];
  if (roles.includes('web')) rows.push(['web page', `${http}/`]);
  if (app.ports.mqtt !== undefined) {
    rows.push(['MQTT', `mqtt://${host}:${app.ports.mqtt}`], ['MQTT WebSocket', `ws://${host}:${app.ports.http}/mqtt`]);
  }
  rows.push(['metrics', `${http}/metrics`], ...engineRows(config, roles.includes('bridge')));
  const wildcard = host === 'localhost' && config.HOST !== 'localhost' ? ` on all interfaces (HOST=${config.HOST})` : '';
  return [`ticktalk ${config.NODE_ID} started${wildcard}, roles ${roles.join(', ')}`, ...columns(rows)].join('\n');
}
