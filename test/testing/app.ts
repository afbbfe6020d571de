import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { loadConfig } from '../../protocol/config.js';
import { startApp, type App, type RoleName } from '../../cli/app.js';
import type { Logger } from '../../platform/logger.js';
import { seedPgliteDir } from './pglite-template.js';

export const TEST_SECRET = 'test-secret-0123456789abcdef';

export interface TestApp extends App {
  mqttUrl: string;
  httpUrl: string;
  token(sub: string, roles?: string[], name?: string): Promise<string>;
  /**
   * `onMessage` is attached before CONNECT goes out: a resumed session's queued messages can arrive
   * in the same read as CONNACK, before a handler attached after `connect` resolves.
   */
  connect(opts?: IClientOptions, onMessage?: (topic: string, payload: Buffer) => void): Promise<MqttClient>;
}

/**
 * A real ticktalk process-in-a-test: ephemeral ports on 127.0.0.1, a private DATA_DIR, silent logs.
 * Every client it opens and the app itself are closed by `stop()`.
 */
export async function startTestApp(env: Record<string, string> = {}, roles: RoleName[] = ['broker'], log?: Logger): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticktalk-test-'));
  const config = loadConfig({
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    AUTH_JWT_SECRET: TEST_SECRET,
    SHUTDOWN_DRAIN_S: '0',
    FEED_SIM: 'off',
    ...env,
  });
  if (!config.DATABASE_URL) await seedPgliteDir(join(dataDir, 'pglite'));
  const app = await startApp({ config, roles, ...(log ? { log } : {}) });
  const clients: MqttClient[] = [];
  const mqttUrl = `mqtt://127.0.0.1:${app.ports.mqtt}`;
  return {
    ...app,
    mqttUrl,
    httpUrl: `http://127.0.0.1:${app.ports.http}`,
    token: (sub, roles, name) => app.ctx.auth.issue({ sub, roles, name }, 3600),
    connect: (opts = {}, onMessage) => {
      // MQTT 3.1.1 needs a username whenever a password (our token) is sent; its value is free.
      const client = mqtt.connect(mqttUrl, { reconnectPeriod: 0, connectTimeout: 15_000, ...(opts.password ? { username: 'jwt' } : {}), ...opts });
      clients.push(client);
      if (onMessage) client.on('message', onMessage);
      return new Promise((resolve, reject) => {
        client.once('connect', () => resolve(client));
        client.once('error', reject);
      });
    },
    stop: async () => {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the next message on `topic` (after subscribing), or rejects after `ms`. */
export function nextMessage(client: MqttClient, topic: string, ms = 5000): Promise<{ topic: string; payload: Buffer; retain: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${topic} within ${ms} ms`));
    }, ms);
    const onMessage = (t: string, payload: Buffer, packet: { retain: boolean }) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic: t, payload, retain: packet.retain });
    };
    client.on('message', onMessage);
  });
}
