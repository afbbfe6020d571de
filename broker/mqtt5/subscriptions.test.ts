import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IClientOptions, IClientSubscribeOptions, MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { startTopology, TOPOLOGIES, type Topology } from '../../test/testing/topology.js';

const V5: IClientOptions = { protocolVersion: 5 };
const settle = (ms = 400) => new Promise((r) => setTimeout(r, ms));
let run = 0;

/** An operator area every signed-in user may use: `devices/{user}/…`. */
function operatorAcl(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ticktalk-acl-')), 'acl');
  writeFileSync(file, 'pattern readwrite devices/%u/#\n');
  return file;
}

/** Every PUBLISH a client receives, with its MQTT 5 properties. */
function recorder(client: MqttClient): IPublishPacket[] {
  const got: IPublishPacket[] = [];
  client.on('message', (_t, _p, packet) => got.push(packet));
  return got;
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await settle(25);
  }
}

/** The SUBACK reason codes of one SUBSCRIBE. */
async function subscribe(client: MqttClient, filters: Record<string, IClientSubscribeOptions>, properties?: object): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters, properties ? { properties } : undefined);
    return granted.map((g) => g.qos);
  } catch (err) {
    // mqtt.js rejects a SUBACK with any refused filter: the codes are on the packet it carries.
    const suback = (err as { packet?: { granted?: number[] } }).packet;
    if (!suback?.granted) throw err;
    return suback.granted;
  }
}

describe.each(TOPOLOGIES)('MQTT 5 subscription options (%s)', (kind) => {
  let app: Topology;
  const signedIn = async (user: string, opts: IClientOptions = {}) => app.connect({ ...V5, password: await app.token(user), ...opts });

  beforeAll(async () => {
    app = await startTopology(kind, { ACL_FILE: operatorAcl(), CHAT_BURST: '1000', CHAT_RATE_PER_S: '1000' });
  });
  afterAll(() => app.stop());

  it('No Local: a chat client does not get its own message back, others (and itself without it) do', async () => {
    const room = `chat/rooms/nl-${kind}-${++run}`;
    const alice = await signedIn('alice');
    const aliceEcho = await signedIn('alice');
    const bob = await signedIn('bob');
    const [a, e, b] = [recorder(alice), recorder(aliceEcho), recorder(bob)];
    await subscribe(alice, { [room]: { qos: 1, nl: true } });
    await subscribe(aliceEcho, { [room]: { qos: 1 } });
    await subscribe(bob, { [room]: { qos: 1 } });
    await settle(200);
    await alice.publishAsync(room, JSON.stringify({ text: 'mine' }), { qos: 1 });
    await aliceEcho.publishAsync(room, JSON.stringify({ text: 'echoed' }), { qos: 1 });
    await until(() => b.length === 2 && e.length === 2);
    await settle();
    expect(a.map((p) => JSON.parse(p.payload.toString()).text)).toEqual(['echoed']);
  });

  it('No Local on a plain topic, QoS 0 and 1', async () => {
    const topic = `devices/carol/nl-${++run}`;
    const carol = await signedIn('carol');
    const other = await signedIn('carol');
    const [own, seen] = [recorder(carol), recorder(other)];
    await subscribe(carol, { [topic]: { qos: 1, nl: true } });
    await subscribe(other, { [topic]: { qos: 1 } });
    await settle(200);
    await carol.publishAsync(topic, 'q0', { qos: 0 });
    await carol.publishAsync(topic, 'q1', { qos: 1 });
    await other.publishAsync(topic, 'from-other', { qos: 1 });
    await until(() => seen.length === 3);
    await settle();
    expect(own.map((p) => p.payload.toString())).toEqual(['from-other']);
  });

  it('Retain As Published: live messages keep RETAIN only with it; retained ones on SUBSCRIBE always have it', async () => {
    const topic = `devices/dave/rap-${++run}`;
    const dave = await signedIn('dave');
    await dave.publishAsync(topic, 'stored', { qos: 1, retain: true });
    const kept = await signedIn('dave');
    const cleared = await signedIn('dave');
    const [k, c] = [recorder(kept), recorder(cleared)];
    await subscribe(kept, { [topic]: { qos: 1, rap: true } });
    await subscribe(cleared, { [topic]: { qos: 1, rap: false } });
    await until(() => k.length === 1 && c.length === 1);
    expect([k[0].retain, c[0].retain]).toEqual([true, true]);
    await settle(200);
    await dave.publishAsync(topic, 'live', { qos: 1, retain: true });
    await until(() => k.length === 2 && c.length === 2);
    expect([k[1].retain, c[1].retain]).toEqual([true, false]);
  });

  it('Retain As Published on ticks: a live tick keeps RETAIN only with it', async () => {
    const symbol = `RAP${++run}${kind === 'single' ? 'S' : 'C'}`;
    const kept = await app.connect(V5);
    const cleared = await app.connect(V5);
    const [k, c] = [recorder(kept), recorder(cleared)];
    await subscribe(kept, { [`ticks/${symbol}`]: { qos: 0, rap: true } });
    await subscribe(cleared, { [`ticks/${symbol}`]: { qos: 0 } });
    await settle(200);
    app.ctx.mqtt.publishTicks([{ symbol, time_msc: Date.now(), bid: 1.1, ask: 1.2, last: 0, volume: 0, flags: 6 }]);
    await until(() => k.length === 1 && c.length === 1);
    expect([k[0].retain, c[0].retain]).toEqual([true, false]);
  });

  it('Retain Handling: 0 sends retained messages on every SUBSCRIBE, 1 only for a new subscription, 2 never', async () => {
    const topic = `devices/erin/rh-${++run}`;
    const erin = await signedIn('erin');
    await erin.publishAsync(topic, 'stored', { qos: 1, retain: true });
    const retainedOn = async (rh: 0 | 1 | 2, client: MqttClient) => {
      const got = recorder(client);
      await subscribe(client, { [topic]: { qos: 1, rh } });
      await settle(300);
      return got.filter((p) => p.retain).length;
    };
    const zero = await signedIn('erin');
    expect([await retainedOn(0, zero), await retainedOn(0, zero)]).toEqual([1, 1]);
    const one = await signedIn('erin');
    expect([await retainedOn(1, one), await retainedOn(1, one)]).toEqual([1, 0]);
    const two = await signedIn('erin');
    expect(await retainedOn(2, two)).toBe(0);
  });

  it('Retain Handling 2 on ticks: no retained tick on SUBSCRIBE; 0 gets it', async () => {
    const symbol = `RH${++run}${kind === 'single' ? 'S' : 'C'}`;
    app.ctx.mqtt.publishTicks([{ symbol, time_msc: Date.now(), bid: 1.1, ask: 1.2, last: 0, volume: 0, flags: 6 }]);
    await settle(300);
    const never = await app.connect(V5);
    const always = await app.connect(V5);
    const [n, a] = [recorder(never), recorder(always)];
    await subscribe(never, { [`ticks/${symbol}`]: { qos: 0, rh: 2 } });
    await subscribe(always, { [`ticks/${symbol}`]: { qos: 0, rh: 0 } });
    await until(() => a.length === 1);
    await settle();
    expect(n).toHaveLength(0);
  });
});

describe.each(TOPOLOGIES)('MQTT 5 subscription identifiers (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind, { ACL_FILE: operatorAcl() });
  });
  afterAll(() => app.stop());

  it('overlapping subscriptions: a message carries the identifier of each filter it matches', async () => {
    const base = `devices/frank/ids-${++run}`;
    const frank = await app.connect({ ...V5, password: await app.token('frank') });
    const got = recorder(frank);
    await subscribe(frank, { [`${base}/#`]: { qos: 1 } }, { subscriptionIdentifier: 1 });
    await subscribe(frank, { [`${base}/+`]: { qos: 0 } }, { subscriptionIdentifier: 2 });
    await subscribe(frank, { [`${base}/only`]: { qos: 1 } });
    await settle(200);
    await frank.publishAsync(`${base}/a`, 'a', { qos: 1 });
    await frank.publishAsync(`${base}/b/c`, 'bc', { qos: 1 });
    await until(() => got.some((p) => p.topic === `${base}/b/c`));
    await settle(200);
    const ids = (topic: string) =>
      [...new Set(got.filter((p) => p.topic === topic).flatMap((p) => [p.properties?.subscriptionIdentifier ?? []].flat()))].sort();
    expect(ids(`${base}/a`)).toEqual([1, 2]);
    expect(ids(`${base}/b/c`)).toEqual([1]);
  });

  it('a resumed session (on the other node in a cluster) keeps its subscription identifiers', async () => {
    const topic = `devices/gina/resume-${++run}`;
    const token = await app.token('gina');
    const session = {
      ...V5,
      clientId: `gina-${kind}-${run}`,
      clean: false,
      password: token,
      username: 'jwt',
      properties: { sessionExpiryInterval: 300 },
    };
    const first = await app.at(0).connect(session);
    await subscribe(first, { [topic]: { qos: 1 } }, { subscriptionIdentifier: 77 });
    await first.endAsync();
    const again = await app.at(1).connect(session);
    const got = recorder(again);
    const publisher = await app.at(0).connect({ ...V5, password: token, username: 'jwt' });
    await settle(200);
    await publisher.publishAsync(topic, 'after resume', { qos: 1 });
    await until(() => got.length === 1);
    expect(got[0].properties?.subscriptionIdentifier).toBe(77);
  });
});

describe.each(TOPOLOGIES)('shared subscriptions (%s)', (kind) => {
  let app: Topology;
  const bot = async (n: number, opts: IClientOptions = V5) =>
    app.at(n).connect({ ...opts, clientId: `bot-${kind}-${run}-${n}-${Math.random()}`, password: await app.token('bot'), username: 'jwt' });
  beforeAll(async () => {
    app = await startTopology(kind, { ACL_FILE: operatorAcl() });
  });
  afterAll(() => app.stop());

  it('the CONNACK announces shared subscriptions', async () => {
    const client = await app.connect(V5);
    expect((client as unknown as { connackPacket?: { properties?: object } }).connackPacket?.properties).toMatchObject({
      sharedSubscriptionAvailable: true,
    });
  });

  it('three members over the nodes: each message reaches exactly one, all of them are delivered; members leave', async () => {
    const topic = `devices/bot/jobs-${++run}`;
    const members = await Promise.all([bot(0), bot(1), bot(2)]);
    const got = members.map(recorder);
    for (const m of members) expect(await subscribe(m, { [`$share/workers/${topic}/+`]: { qos: 1 } })).toEqual([1]);
    const publisher = await bot(1);
    await settle(300);
    const sent = Array.from({ length: 30 }, (_, i) => `m${i}`);
    for (const m of sent) await publisher.publishAsync(`${topic}/x`, m, { qos: 1 });
    const total = () => got.reduce((n, g) => n + g.length, 0);
    await until(() => total() >= sent.length);
    await settle();
    const received = got.flatMap((g) => g.map((p) => p.payload.toString()));
    expect(received.sort()).toEqual([...sent].sort());
    if (kind === 'single') expect(got.every((g) => g.length === 10)).toBe(true);

    await members[0].endAsync();
    await members[1].unsubscribeAsync(`$share/workers/${topic}/+`);
    await settle(300);
    const before = got[2].length;
    for (const m of ['late1', 'late2']) await publisher.publishAsync(`${topic}/y`, m, { qos: 1 });
    await until(() => got[2].length === before + 2);
    expect(got[1].length + got[0].length).toBe(received.length - before);
  });

  it('a persistent member resumed on the other node is a member again; nothing is queued for the group while none is connected', async () => {
    const topic = `devices/bot/resume-${++run}`;
    const token = await app.token('bot');
    const session = {
      ...V5,
      clientId: `bot-resume-${kind}-${run}`,
      clean: false,
      password: token,
      username: 'jwt',
      properties: { sessionExpiryInterval: 300 },
    };
    const first = await app.at(0).connect(session);
    await subscribe(first, { [`$share/resumers/${topic}`]: { qos: 1 } });
    await first.endAsync();
    const publisher = await bot(0);
    await publisher.publishAsync(topic, 'while away', { qos: 1 });
    const again = await app.at(1).connect(session);
    const got = recorder(again);
    await settle(300);
    await publisher.publishAsync(topic, 'after resume', { qos: 1 });
    await until(() => got.length >= 1);
    await settle();
    expect(got.map((p) => p.payload.toString())).toEqual(['after resume']);
  });

  it('different groups each get every message; an MQTT 3.1.1 client may be a member', async () => {
    const topic = `devices/bot/fan-${++run}`;
    const [a, b] = [await bot(0), await bot(1, {})];
    const [ga, gb] = [recorder(a), recorder(b)];
    await subscribe(a, { [`$share/archive/${topic}`]: { qos: 0 } });
    await subscribe(b, { [`$share/audit/${topic}`]: { qos: 1 } });
    await settle(300);
    await a.publishAsync(topic, 'one', { qos: 1 });
    await until(() => ga.length === 1 && gb.length === 1);
  });

  it('the ACL decides the inner filter; shared ticks and malformed names are refused', async () => {
    const member = await bot(0);
    const codes = await subscribe(member, {
      '$share/g/devices/someone-else/x': { qos: 1 },
      '$share/g/devices/bot/ok': { qos: 1 },
      '$share/g/ticks/EURUSD': { qos: 0 },
      '$share/g': { qos: 0 },
    });
    expect(codes[1]).toBe(1);
    expect(codes[0]).toBeGreaterThanOrEqual(0x80);
    expect(codes[2]).toBe(0x9e);
    expect(codes[3]).toBe(0x8f);
    const legacy = await bot(1, {});
    expect(await subscribe(legacy, { '$share/g/devices/someone-else/x': { qos: 1 } })).toEqual([0x80]);
  });
});
