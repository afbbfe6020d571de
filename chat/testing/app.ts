import type { FastifyInstance } from 'fastify';
import type { MqttClient } from 'mqtt';
import { startTestApp, type TestApp } from '../../test/testing/app.js';
import { startTopology, type Topology, type TopologyKind } from '../../test/testing/topology.js';

export interface ChatTestApp extends TestApp {
  /** The process's HTTP server (chat API included), for inject(). */
  api: FastifyInstance;
}

/** A real process with the broker and web roles: chat in the publish path, the chat API on HTTP. */
export async function startChatTestApp(env: Record<string, string> = {}): Promise<ChatTestApp> {
  const app = await startTestApp(env, ['broker', 'web']);
  return { ...app, api: app.ctx.http };
}

/** The same on one node or on two over Redis; `api` is node 0's. */
export async function startChatTopology(kind: TopologyKind, env: Record<string, string> = {}): Promise<Topology & { api: FastifyInstance }> {
  const topology = await startTopology(kind, env, ['broker', 'web']);
  return { ...topology, api: topology.ctx.http };
}

/** Collects every message a client receives on one topic, parsed. */
export function collect(client: MqttClient, topic: string): Record<string, unknown>[] {
  const got: Record<string, unknown>[] = [];
  client.on('message', (t, payload) => {
    if (t === topic) got.push(JSON.parse(payload.toString()));
  });
  return got;
}
