import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from './logger.js';
import type { Health } from './health.js';
import type { Metrics } from './metrics.js';

export interface HttpOptions {
  log: Logger;
  health: Health;
  metrics: Metrics;
}

/**
 * The process's one HTTP server. Roles register their plugins on it before it listens:
 * the broker adds `/mqtt` (WebSocket), the web role `/`, `/api`, `/udf`.
 */
export function createHttpServer({ log, health, metrics }: HttpOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ component: 'http' }) as FastifyBaseLogger,
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
