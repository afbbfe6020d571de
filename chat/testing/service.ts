import { pino } from 'pino';
import { PgliteDatabase } from '../../platform/pglite-database.js';
import { Metrics } from '../../platform/metrics.js';
import { MemoryPresenceStore } from '../presence-store.js';
import { Presence } from '../presence.js';
import { MemoryRateLimiter } from '../rate-limiter.js';
import { ChatService } from '../service.js';
import { SqlChatStore } from '../sql-store.js';

export interface Published {
  topic: string;
  payload: unknown;
  qos: 0 | 1;
}

/** A chat service on in-memory PGlite and memory adapters, recording what it publishes to MQTT. */
export async function chatServiceOnPglite(opts: { outbox: boolean; burst?: number; maxLength?: number; now?: () => number }) {
  const db = await PgliteDatabase.open();
  const log = pino({ level: 'silent' });
  const published: Published[] = [];
  const publish = async (topic: string, payload: string, qos: 0 | 1) => void published.push({ topic, payload: JSON.parse(payload), qos });
  const presence = new Presence(new MemoryPresenceStore(), publish, { node: 'test-node', heartbeatMs: 60_000 }, log);
  await presence.start();
  const store = await SqlChatStore.open(db, { outbox: opts.outbox });
  const now = opts.now ?? Date.now;
  const service = new ChatService({
    store,
    limiter: new MemoryRateLimiter({ ratePerS: 1, burst: opts.burst ?? 1000 }, now),
    presence,
    publish,
    maxLength: opts.maxLength ?? 2000,
    editWindowMs: 60_000,
    typingPerS: 2,
    log,
    metrics: new Metrics(false),
    now,
  });
  return { service, store, published, log, close: () => db.close() };
}
