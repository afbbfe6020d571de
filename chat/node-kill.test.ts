import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { TEST_SECRET } from '../test/testing/app.js';
import { aedesInternals } from '../broker/aedes/internals.js';
import { freshDatabase } from '../test/testing/postgres.js';
import { privateRedis, type PrivateRedis } from '../test/testing/private-redis.js';
import { startChatTestApp, type ChatTestApp } from './testing/app.js';

/** The built CLI, as an operator runs it (`npm test` builds first through `pretest`). */
const BIN = fileURLToPath(new URL('../bin/ticktalk.js', import.meta.url));
const run = randomBytes(4).toString('hex');

/** Operator areas for wills: `devices/{user}/#` for each signed-in user, `status/#` for anyone. */
function operatorAcl(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ticktalk-acl-')), 'acl');
  writeFileSync(file, 'topic readwrite status/#\npattern readwrite devices/%u/#\n');
  return file;
}

/** What one client received, with the node it came from. */
interface Received {
  node: 'A' | 'B';
  topic: string;
  payload: string;
  retain: boolean;
  dup: boolean;
}

/**
 * One conversation as a member saw it: the messages in order of first arrival, and the arrivals
 * that repeat one. A node that dies after sending a message and before clearing its PUBACK leaves
 * it queued; the resumed session gets it again, flagged DUP (MQTT-4.4.0-1; the client knows it by `seq`).
 */
function firstsAndRepeats(received: Received[]) {
  const firstOn = new Map<number, 'A' | 'B'>();
  const firsts: [number, string][] = [];
  const repeats: string[] = [];
  for (const r of received) {
    const { seq, text } = JSON.parse(r.payload) as { seq: number; text: string };
    const first = firstOn.get(seq);
    if (first === undefined) {
      firstOn.set(seq, r.node);
      firsts.push([seq, text]);
    } else if (!(first === 'A' && r.node === 'B' && r.dup)) repeats.push(`${seq} first on ${first}, again on ${r.node}${r.dup ? ' (DUP)' : ''}`);
  }
  return { firsts, repeats };
}

/** An mqtt.js client whose messages are recorded from before its CONNECT goes out (a resumed queue comes with the CONNACK). */
function connectRecording(port: number, opts: IClientOptions, log: Received[], node: 'A' | 'B'): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 15_000, ...opts });
  client.on('message', (topic, payload, packet) => log.push({ node, topic, payload: payload.toString(), retain: packet.retain, dup: packet.dup }));
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

/** Node A as its own process (so it can really be killed), node B in this one; one Redis, one PostgreSQL. */
describe('a broker node killed under persistent chat sessions', () => {
  let pg: Awaited<ReturnType<typeof freshDatabase>>;
  let nodeA: ChildProcess;
  let portA: number;
  let b: ChatTestApp;
  const opened: MqttClient[] = [];
  let env: Record<string, string>;
  let redis: PrivateRedis;

  beforeAll(async () => {
    [pg, redis] = await Promise.all([freshDatabase('chat_kill'), privateRedis()]);
    // A bucket that never runs dry in this test: the rate limit is not what is tested here. Node B
    // takes node A's wills 3 to 7 heartbeats after its death.
    env = {
      REDIS_URL: redis.url,
      DATABASE_URL: pg.url,
      AUTH_JWT_SECRET: TEST_SECRET,
      ACL_FILE: operatorAcl(),
      CHAT_BURST: '10000',
      CHAT_RATE_PER_S: '1000',
      CLUSTER_HEARTBEAT_S: '1',
    };
    nodeA = spawn(process.execPath, [BIN, 'serve', '--roles', 'broker'], {
      env: { PATH: process.env.PATH, HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_PORT: '0', LOG_LEVEL: 'info', NODE_ID: `kill-a-${run}`, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    portA = await new Promise<number>((resolve, reject) => {
      nodeA.once('exit', (code) => reject(new Error(`node A exited with ${code}`)));
      createInterface({ input: nodeA.stdout! }).on('line', (line) => {
        const event = JSON.parse(line) as { msg?: string; ports?: { mqtt?: number } };
        if (event.msg === 'ticktalk started' && event.ports?.mqtt) resolve(event.ports.mqtt);
      });
    });
    b = await startChatTestApp({ ...env, NODE_ID: `kill-b-${run}` });
  });
  afterAll(async () => {
    if (nodeA?.exitCode === null) nodeA.kill('SIGKILL');
    await Promise.all(opened.map((c) => c.endAsync(true).catch(() => {})));
    await b?.stop();
    await redis?.dispose();
    await pg?.drop();
  });

  const user = (name: string) => `${name}-${run}`;
  const lobby = user('lobby');
  /** Sub of each member; the third is a moderator who also holds `chat/rooms/+` (overlapping filters). */
  const members = [1, 2, 3].map((i) => ({ sub: user(`m${i}`), clientId: user(`c${i}`), room: user(`own${i}`), moderator: i === 3 }));
  type Member = (typeof members)[number];
  /** DM partners on both sides of the members' ids, so both DM filters (`{me}/+`, `+/{me}`) carry messages. */
  const dmBefore = user('a'); // sorts before `m…`
  const dmAfter = user('z'); // sorts after `m…`
  const dmTopic = (x: string, y: string) => (x < y ? `chat/dm/${x}/${y}` : `chat/dm/${y}/${x}`);

  const filtersOf = (m: Member): Record<string, { qos: 0 | 1 }> => ({
    [`chat/rooms/${m.room}`]: { qos: 1 },
    [`chat/rooms/${lobby}`]: { qos: 1 },
    [`chat/dm/${m.sub}/+`]: { qos: 1 },
    [`chat/dm/+/${m.sub}`]: { qos: 1 },
    'ticks/EURUSD': { qos: 0 },
    ...(m.moderator ? { 'chat/rooms/+': { qos: 1 } } : {}),
  });
  /** The chat topics each member must get everything of. */
  const conversationsOf = (m: Member) => [
    `chat/rooms/${m.room}`,
    `chat/rooms/${lobby}`,
    dmTopic(dmBefore, m.sub),
    dmTopic(m.sub, dmAfter),
    ...(m.moderator ? members.filter((o) => o !== m).map((o) => `chat/rooms/${o.room}`) : []),
  ];
  const willOf = (m: Member) => ({
    topic: `devices/${m.sub}/status`,
    payload: Buffer.from(`{"gone":"${m.sub}"}`),
    qos: 1 as const,
    retain: m.sub === members[0].sub,
  });

  const token = async (sub: string, roles: string[] = []) => b.token(sub, roles, sub.toUpperCase());
  const credentials = async (m: Member) => ({ username: 'jwt', password: await token(m.sub, m.moderator ? ['moderator'] : []) });
  const anonymousWill = { topic: `status/${run}`, payload: Buffer.from('{"gone":"anonymous"}'), qos: 1 as const, retain: false };

  /** A will its owner could not publish never gets as far as a session. */
  const expectForgedWillRefused = async () => {
    const forging = mqtt.connect(`mqtt://127.0.0.1:${portA}`, {
      reconnectPeriod: 0,
      clientId: user('forger'),
      clean: false,
      ...(await credentials(members[0])),
      will: { topic: `chat/rooms/${lobby}`, payload: Buffer.from('{"text":"forged"}'), qos: 1, retain: true },
    });
    forging.on('error', () => {});
    expect(await new Promise((resolve) => forging.once('error', (err) => resolve((err as { code?: number }).code)))).toBe(5);
    forging.end(true);
  };

  /** On node A: each member's persistent session with ONE multi-filter SUBSCRIBE and an allowed will. */
  const connectMembersOnA = async (logs: Map<string, Received[]>): Promise<MqttClient[]> => {
    const onA: MqttClient[] = [];
    for (const m of members) {
      const client = await connectRecording(
        portA,
        { clientId: m.clientId, clean: false, ...(await credentials(m)), will: willOf(m) },
        logs.get(m.sub)!,
        'A',
      );
      client.on('error', () => {});
      opened.push(client);
      const granted = await client.subscribeAsync(filtersOf(m));
      expect(granted.map((g) => [g.topic, g.qos])).toEqual(Object.entries(filtersOf(m)).map(([t, o]) => [t, o.qos]));
      onA.push(client);
    }
    const anonymous = await connectRecording(portA, { clientId: user('anon'), will: anonymousWill }, [], 'A');
    anonymous.on('error', () => {});
    opened.push(anonymous);
    return onA;
  };

  /** Node B queues for the sessions once their subscription broadcasts reached it. */
  const awaitSubscriptionsOnB = async () => {
    const persistence = aedesInternals(b.node.aedes).persistence;
    for (const m of members) {
      for (const topic of conversationsOf(m)) {
        await expect
          .poll(async () => (await persistence.subscriptionsByTopic(topic)).map((s) => s.clientId), { timeout: 10_000 })
          .toContain(`${m.sub}:${m.clientId}`);
      }
    }
  };

  /** Watchers on node B: the wills' topics, and every chat topic (a forged will would show there). */
  const watchOnB = async (): Promise<Received[]> => {
    const watched: Received[] = [];
    for (const m of members) {
      const watcher = await connectRecording(b.ports.mqtt!, { ...(await credentials(m)), clientId: user(`w-${m.sub}`) }, watched, 'B');
      opened.push(watcher);
      await watcher.subscribeAsync([`devices/${m.sub}/#`, `users/${m.sub}/errors`]);
    }
    const anonymousWatcher = await connectRecording(b.ports.mqtt!, { clientId: user('w-anon') }, watched, 'B');
    opened.push(anonymousWatcher);
    await anonymousWatcher.subscribeAsync(['status/#', 'ticks/EURUSD']);
    const moderatorWatcher = await connectRecording(
      b.ports.mqtt!,
      { username: 'jwt', password: await token(user('mod'), ['moderator']) },
      watched,
      'B',
    );
    opened.push(moderatorWatcher);
    await moderatorWatcher.subscribeAsync('chat/rooms/+', { qos: 1 });
    return watched;
  };

  /** Senders on node B, one per conversation, each awaiting its PUBACK: acked order is seq order. */
  const conversationTraffic = () => {
    const senders = new Map<string, MqttClient>();
    const senderFor = async (sub: string) => {
      let sender = senders.get(sub);
      if (!sender) {
        sender = await b.connect({ password: await token(sub) });
        senders.set(sub, sender);
      }
      return sender;
    };
    const conversations: [string, string][] = [
      [user('s'), `chat/rooms/${lobby}`],
      ...members.map((m): [string, string] => [user('s'), `chat/rooms/${m.room}`]),
      ...members.map((m): [string, string] => [dmBefore, dmTopic(dmBefore, m.sub)]),
      ...members.map((m): [string, string] => [dmAfter, dmTopic(m.sub, dmAfter)]),
    ];
    const acked = new Map<string, string[]>(conversations.map(([, topic]) => [topic, []]));
    /** Rounds `from` to `to`, one message a conversation each. */
    const rounds = async (from: number, to: number) => {
      for (let n = from; n <= to; n++) {
        await Promise.all(
          conversations.map(async ([sub, topic]) => {
            const text = `${topic}#${n}`;
            await (await senderFor(sub)).publishAsync(topic, JSON.stringify({ text }), { qos: 1 });
            acked.get(topic)!.push(text);
          }),
        );
      }
    };
    return { acked, rounds };
  };

  /** Node A dies while node B keeps taking (and acking) messages. */
  const killNodeAWhile = async (onA: MqttClient[], traffic: () => Promise<void>) => {
    const lost = onA.map((c) => new Promise<void>((resolve) => c.once('close', () => resolve())));
    const during = traffic();
    nodeA.kill('SIGKILL');
    await Promise.all(lost);
    await during;
  };

  /** Back on node B with the same client ids: the queue, then live messages. */
  const resumeOnB = async (logs: Map<string, Received[]>) => {
    for (const m of members) {
      const client = await connectRecording(b.ports.mqtt!, { clientId: m.clientId, clean: false, ...(await credentials(m)) }, logs.get(m.sub)!, 'B');
      opened.push(client);
    }
  };

  const expectEveryAckedMessageOnce = async (logs: Map<string, Received[]>, acked: Map<string, string[]>) => {
    for (const m of members) {
      for (const topic of conversationsOf(m)) {
        const expected = acked.get(topic)!.map((text, i) => [i + 1, text]);
        const seen = () => firstsAndRepeats(logs.get(m.sub)!.filter((r) => r.topic === topic));
        await expect.poll(() => seen().firsts, { timeout: 15_000 }).toEqual(expected);
        expect(seen().repeats).toEqual([]);
      }
      await expect.poll(() => logs.get(m.sub)!.some((r) => r.node === 'B' && r.topic === 'ticks/EURUSD' && r.payload.includes('1.5'))).toBe(true);
    }
  };

  /** The wills, once node B has taken over node A's: each as its owner left it, nothing else. */
  const expectWillsAsSent = async (watched: Received[], acked: Map<string, string[]>) => {
    const wills = () => watched.filter((r) => !r.topic.startsWith('ticks/') && !r.topic.startsWith('chat/'));
    const expectedWills = [...members.map((m) => willOf(m)), anonymousWill].map((w) => `${w.topic} ${w.payload.toString()}`).sort();
    await expect
      .poll(
        () =>
          wills()
            .map((r) => `${r.topic} ${r.payload}`)
            .sort(),
        { timeout: 20_000, interval: 200 },
      )
      .toEqual(expectedWills);
    // Only the acked, stamped messages on chat topics: no will became a chat message.
    const chatSeen = watched.filter((r) => r.topic.startsWith('chat/')).map((r) => (JSON.parse(r.payload) as { text: string }).text);
    expect(chatSeen.every((text) => [...acked.values()].some((texts) => texts.includes(text)))).toBe(true);
  };

  /** The retained will is kept, as its owner's retained publish would be. */
  const expectRetainedWillKept = async () => {
    const late: Received[] = [];
    const lateClient = await connectRecording(b.ports.mqtt!, { ...(await credentials(members[0])), clientId: user('late') }, late, 'B');
    opened.push(lateClient);
    await lateClient.subscribeAsync(`devices/${members[0].sub}/#`);
    await expect
      .poll(() => late.map((r) => [r.topic, r.payload, r.retain]))
      .toEqual([[willOf(members[0]).topic, willOf(members[0]).payload.toString(), true]]);
  };

  it('resumes every member on the other node with each acked chat message once, in order, on all its filters; wills arrive as their owners sent them', async () => {
    const logs = new Map(members.map((m) => [m.sub, [] as Received[]]));
    await expectForgedWillRefused();
    const onA = await connectMembersOnA(logs);
    await awaitSubscriptionsOnB();
    const watched = await watchOnB();
    const { acked, rounds } = conversationTraffic();

    await rounds(1, 3);
    await killNodeAWhile(onA, () => rounds(4, 8));
    await rounds(9, 10);
    await resumeOnB(logs);
    await rounds(11, 12);
    b.ctx.mqtt.publishTicks([{ symbol: 'EURUSD', time_msc: Date.now(), bid: 1.5, ask: 1.6, last: 0, volume: 0, flags: 6 }]);

    await expectEveryAckedMessageOnce(logs, acked);
    await expectWillsAsSent(watched, acked);
    await expectRetainedWillKept();
  }, 60_000);
});
