import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run test:unit`: the tests that need no PostgreSQL, Redis, RabbitMQ or Chromium. They use plain
// values, PGlite, in-process servers on loopback port 0, the built CLI, and kubectl's offline kustomize.
// A new test joins this list only if it opens no connection to a service.
const UNIT_TESTS = [
  'bridges/{amqp,feed-encoding,feed-progress,feed-time,mt5-export,simulated-history,simulator,tick-body,tick-generator}.test.ts',
  'broker/{acl,connect-rate,packet-guard,topic-filter}.test.ts',
  'broker/aedes/{internals,qos-forward,resume-order,chat-order}.test.ts',
  'broker/wire/{frame-splitter,mqtt-frame,ordered-acks,outbound-queue,route-table,tick-intake}.test.ts',
  'chat/{presence-store.memory,rate-limiter.memory,service,sql-store.pglite}.test.ts',
  'cli/engines.test.ts',
  'k8s/*.test.ts',
  'ohlcv/{aggregate,bucket,history-cache,hub-feed,live-bars,symbols}.test.ts',
  'platform/{auth,health,pglite-database,shutdown}.test.ts',
  'protocol/*.test.ts',
  'test/architecture.test.ts',
  'test/contract/cli.test.ts',
  'web/serve-page.test.ts',
  'web/src/**/*.test.ts',
];

// One file at a time: these tests are CPU-bound (property tests, PGlite), and the CLI's serve test
// waits a bounded time for a child process that would otherwise share the cores with them.
export default defineConfig({ test: { ...base.test, include: UNIT_TESTS, maxWorkers: 1 } });
