import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { TEST_SECRET } from '../test/testing/app.js';
import { aedesInternals } from '../broker/aedes/internals.js';
import { freshDatabase } from '../test/testing/postgres.js';
import { deleteKeys, forgetSessions } from './testing/redis.js';
import { startChatTestApp, type ChatTestApp } from './testing/app.js';

/** The built CLI, as an operator runs it (`npm test` builds first through `pretest`). */
const BIN = fileURLToPath(new URL('../bin/ticktalk.js', import.meta.url));
const REDIS_URL = `redis://127.0.0.1:6379/${5 + (process.pid % 4)}`;
const run = randomBytes(4).toString('hex');

/** Node A as its own process (so it can really be killed), node B in this one; one Redis, one PostgreSQL. */
describe('a broker node killed under a persistent chat session', () => {
  let pg: Awaited<ReturnType<typeof freshDatabase>>;
  let nodeA: ChildProcess;
  let portA: number;
  let b: ChatTestApp;
  const env = () => ({ REDIS_URL, DATABASE_URL: pg.url, AUTH_JWT_SECRET: TEST_SECRET });

  beforeAll(async () => {
    pg = await freshDatabase('chat_kill');
    nodeA = spawn(process.execPath, [BIN, 'serve', '--roles', 'broker'], {
      env: { PATH: process.env.PATH, HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_PORT: '0', LOG_LEVEL: 'info', NODE_ID: `kill-a-${run}`, ...env() },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    portA = await new Promise<number>((resolve, reject) => {
      nodeA.once('exit', (code) => reject(new Error(`node A exited with ${code}`)));
      createInterface({ input: nodeA.stdout! }).on('line', (line) => {
        const event = JSON.parse(line) as { msg?: string; ports?: { mqtt?: number } };
        if (event.msg === 'ticktalk started' && event.ports?.mqtt) resolve(event.ports.mqtt);
      });
    });
    b = await startChatTestApp({ ...env(), NODE_ID: `kill-b-${run}` });
  });
  afterAll(async () => {
    if (nodeA?.exitCode === null) nodeA.kill('SIGKILL');
    await b?.stop();
    const redis = new Redis(REDIS_URL);
    await deleteKeys(redis, `*${run}*`);
    await forgetSessions(redis, run);
    redis.disconnect();
    await pg?.drop();
  });

  it('delivers everything published meanwhile, in order, when the member comes back on the other node', async () => {
    const room = `killed-${run}`;
    const member = { sub: `member-${run}`, clientId: `member-${run}` };
    const token = await b.token(member.sub);
    const onA: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${portA}`, {
      clientId: member.clientId,
      clean: false,
      username: 'jwt',
      password: token,
      reconnectPeriod: 0,
    });
    onA.on('error', () => {});
    await onA.subscribeAsync(`chat/rooms/${room}`, { qos: 1 });
    const persistence = aedesInternals(b.node.aedes).persistence;
    await expect
      .poll(async () => (await persistence.subscriptionsByTopic(`chat/rooms/${room}`)).map((s) => s.clientId), { timeout: 10_000 })
      .toContain(`${member.sub}:${member.clientId}`); // sessions are keyed by user and client id

    const lost = new Promise<void>((resolve) => onA.once('close', () => resolve()));
    nodeA.kill('SIGKILL');
    await lost;

    const sender = await b.connect({ password: await b.token(`sender-${run}`) });
    for (let i = 1; i <= 10; i++) await sender.publishAsync(`chat/rooms/${room}`, JSON.stringify({ text: `m${i}` }), { qos: 1 });

    const received: { seq: number; text: string }[] = [];
    await b.connect({ clientId: member.clientId, clean: false, password: token }, (t, p) => {
      if (t === `chat/rooms/${room}`) received.push(JSON.parse(p.toString()));
    });
    await expect.poll(() => received.map((m) => m.seq), { timeout: 10_000 }).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(received.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i + 1}`));
    onA.end(true);
  });
});
