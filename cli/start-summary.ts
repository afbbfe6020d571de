import { maskUserinfo, type Config } from '../protocol/config.js';
import type { App, RoleName } from './app.js';
import { columns } from './columns.js';

type Row = [string, string];

/** The engines a configuration picks (as `startApp` does), passwords masked. */
export function engineRows(config: Config, runsBridge = true): Row[] {
  const feed = config.AMQP_URL
    ? `RabbitMQ ${maskUserinfo(config.AMQP_URL)}`
    : config.FEED_SIM
      ? `simulator: ${config.SYMBOLS.length} symbols at ${config.FEED_SIM_RATE} ticks/s each`
      : 'none (FEED_SIM off, AMQP_URL unset)';
  return [
    ['cluster', config.REDIS_URL ? `Redis ${maskUserinfo(config.REDIS_URL)}` : 'memory: this process only (REDIS_URL unset)'],
    ['database', config.DATABASE_URL ? `PostgreSQL ${maskUserinfo(config.DATABASE_URL)}` : `PGlite in ${config.DATA_DIR}/pglite`],
    ['feed', runsBridge ? feed : 'none in this process (no bridge role)'],
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
