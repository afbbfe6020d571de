import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from './logger.js';
import type { Health } from './health.js';
import type { Metrics } from './metrics.js';

export interface HttpOptions {
  log: Logger;
  health: Health;
  metrics: Metrics;
  /** HTTP_REQUEST_TIMEOUT_S: time a client has to send a whole request, headers and body. */
  requestTimeoutS: number;
}

/**
 * The process's one HTTP server. Roles register their plugins on it before it listens:
 * the broker adds `/mqtt` (WebSocket), the web role `/`, `/api`, `/udf`.
 */
export function createHttpServer({ log, health, metrics, requestTimeoutS }: HttpOptions): FastifyInstance {
  // Typed as Fastify's logger: pino's own type would make every route generic over it.
  const httpLog: FastifyBaseLogger = log.child({ component: 'http' });
  const timeoutMs = Math.round(requestTimeoutS * 1000);
  const app = Fastify({
    // A client dribbling its headers or body would hold a socket and a parser for as long as it
    // liked; Node answers 408 and closes once the request is not complete in time. An upgraded
    // WebSocket is no longer a request, so /mqtt connections are not cut.
    requestTimeout: timeoutMs,
    http: {
      headersTimeout: timeoutMs,
      // Node only looks for late requests this often (30 s by default, longer than the timeout).
      connectionsCheckingInterval: Math.min(1000, timeoutMs),
    },
    loggerInstance: httpLog,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
    return503OnClosing: true,
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err, url: req.url }, 'request failed');
    void reply.status(status).send({ error: status >= 500 ? 'internal error' : err.message });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const result = await health.readiness();
    return reply.status(result.ready ? 200 : 503).send(result);
  });
  // The same checks as /readyz, per check, so an alert can say which dependency is missing.
  metrics.gauge('readiness_check', '1 while the named readiness check passes, 0 while it fails', ['check'], async (g) => {
    const { checks } = await health.readiness();
    g.reset();
    for (const [check, ok] of Object.entries(checks)) g.labels(check).set(ok ? 1 : 0);
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
  return app;
}
