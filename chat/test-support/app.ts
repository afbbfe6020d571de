import Fastify, { type FastifyInstance } from 'fastify';
import type { MqttClient } from 'mqtt';
import { startTestApp, type TestApp } from '../../test/support/app.js';
import { createChatService, registerChatRoutes } from '../role.js';

export interface ChatTestApp extends TestApp {
  /** The chat HTTP API on a server of its own, for inject(). */
  api: FastifyInstance;
}

/**
 * A real broker node with chat wired in the way the composition root does it: the service as a
 * broker extension, the routes on an HTTP server.
 */
export async function startChatTestApp(env: Record<string, string> = {}): Promise<ChatTestApp> {
  const app = await startTestApp(env, ['broker']);
  app.node.addExtension(await createChatService(app.ctx));
  const api = Fastify();
  await registerChatRoutes(app.ctx, api);
  return {
    ...app,
    api,
    stop: async () => {
      await api.close();
      await app.stop();
    },
  };
}

/** Collects every message a client receives on one topic, parsed. */
export function collect(client: MqttClient, topic: string): Record<string, unknown>[] {
  const got: Record<string, unknown>[] = [];
  client.on('message', (t, payload) => {
    if (t === topic) got.push(JSON.parse(payload.toString()));
  });
  return got;
}
