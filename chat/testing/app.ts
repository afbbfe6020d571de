import type { FastifyInstance } from 'fastify';
import type { MqttClient } from 'mqtt';
import { startTestApp, type TestApp } from '../../test/testing/app.js';

export interface ChatTestApp extends TestApp {
  /** The process's HTTP server (chat API included), for inject(). */
  api: FastifyInstance;
}

/** A real process with the broker and web roles: chat in the publish path, the chat API on HTTP. */
export async function startChatTestApp(env: Record<string, string> = {}): Promise<ChatTestApp> {
  const app = await startTestApp(env, ['broker', 'web']);
  return { ...app, api: app.ctx.http };
}

/** Collects every message a client receives on one topic, parsed. */
export function collect(client: MqttClient, topic: string): Record<string, unknown>[] {
  const got: Record<string, unknown>[] = [];
  client.on('message', (t, payload) => {
    if (t === topic) got.push(JSON.parse(payload.toString()));
  });
  return got;
}
