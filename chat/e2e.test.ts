import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChatTopology, collect } from './testing/app.js';
import { TOPOLOGIES } from '../test/testing/topology.js';
import { signedInRawClient } from '../test/testing/raw-mqtt.js';

/** A loaded CI machine can take a while to route a message: poll generously (never a speed assertion). */
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 });

type ChatTopology = Awaited<ReturnType<typeof startChatTopology>>;

/**
 * Independent MQTT clients (mqtt.js) over real sockets against one broker node with chat (PGlite),
 * and against two over Redis and PostgreSQL with the clients spread over both.
 */
describe.each(TOPOLOGIES)('chat over MQTT (%s)', (kind) => {
  let app: ChatTopology;
  const connect = async (sub: string, name: string, roles = ['trader']) => app.connect({ password: await app.token(sub, roles, name) });

  const rawClient = async (sub: string, name: string) =>
    signedInRawClient(app.ports.mqtt!, await app.token(sub, ['trader'], name), { clientId: `raw-${sub}` });

  beforeAll(async () => {
    app = await startChatTopology(kind, { CHAT_MAX_LENGTH: '100' });
  });
  afterAll(() => app?.stop());

  it('stores, stamps and forwards room messages; a retried ref is delivered once', async () => {
    const alice = await connect('alice', 'Alice');
    const bob = await connect('bob', 'Bob');
    const seen = collect(bob, 'chat/rooms/e2e');
    await bob.subscribeAsync('chat/rooms/e2e', { qos: 1 });

    await alice.publishAsync('chat/rooms/e2e', JSON.stringify({ text: 'hello', ref: 'c-1', user: 'bob', name: 'Not Alice' }), { qos: 1 });
    await alice.publishAsync('chat/rooms/e2e', JSON.stringify({ text: 'hello', ref: 'c-1' }), { qos: 1 });
    await alice.publishAsync('chat/rooms/e2e', JSON.stringify({ text: 'again' }), { qos: 1 });
    await eventually(() => seen.length).toBe(2);
    expect(seen[0]).toEqual({
      type: 'message',
      id: expect.any(String),
      room: 'e2e',
      seq: 1,
      user: 'alice',
      name: 'Alice',
      text: 'hello',
      ts: expect.any(Number),
      ref: 'c-1',
    });
    expect(seen[1]).toMatchObject({ seq: 2, text: 'again' });

    const history = await app.api.inject({ url: '/api/rooms/e2e/messages', headers: { authorization: `Bearer ${await app.token('carol')}` } });
    expect(history.json()).toEqual({ messages: seen, has_more: false });
  });

  it('acks QoS 1 chat publishes in the order they arrived, even when a later one is refused at once, however the bytes are cut', async () => {
    const bob = await connect('bob', 'Bob');
    const seen = collect(bob, 'chat/rooms/order');
    await bob.subscribeAsync('chat/rooms/order', { qos: 1 });

    const { socket, acked, closed } = await rawClient('alice', 'Alice');
    const frame = (p: mqttPacket.Packet) => mqttPacket.generate(p);
    const publish = (messageId: number, payload: string, retain = false) =>
      frame({ cmd: 'publish', topic: 'chat/rooms/order', payload, qos: 1, messageId, retain, dup: false });

    // The first message waits for its database commit; the next two are refused without one.
    const burst = Buffer.concat([
      publish(1, JSON.stringify({ text: 'first' })),
      publish(2, 'not json'),
      publish(3, JSON.stringify({ text: 'retained' }), true),
      publish(4, JSON.stringify({ text: 'second' })),
    ]);
    socket.write(burst);
    await eventually(acked).toEqual([1, 2, 3, 4]);
    // One byte at a time: frames reassembled across reads are taken the same way.
    for (const byte of publish(5, JSON.stringify({ text: 'third' }))) socket.write(Buffer.from([byte]));
    await eventually(acked).toEqual([1, 2, 3, 4, 5]);
    await eventually(() => seen.map((m) => [m.seq, m.text])).toEqual([
      [1, 'first'],
      [2, 'second'],
      [3, 'third'],
    ]);
    // A wildcard in a topic name breaks MQTT (3.3.2-2): the connection is closed, nothing acked.
    socket.write(
      frame({ cmd: 'publish', topic: 'chat/rooms/+', payload: JSON.stringify({ text: 'x' }), qos: 1, messageId: 6, retain: false, dup: false }),
    );
    await closed;
    expect(acked()).toEqual([1, 2, 3, 4, 5]);
  });

  it('acks every publish of a client that pipelines thousands without waiting, in order (it is held back, never dropped)', async () => {
    const { socket, acked } = await rawClient('flood', 'Flood');
    const ids = Array.from({ length: 3000 }, (_, i) => i + 1);
    socket.write(
      Buffer.concat(
        ids.map((messageId) =>
          mqttPacket.generate({
            cmd: 'publish',
            topic: 'chat/rooms/flood',
            payload: JSON.stringify({ text: `m${messageId}` }),
            qos: 1,
            messageId,
            retain: false,
            dup: false,
          }),
        ),
      ),
    );
    await eventually(() => acked().length).toBe(ids.length);
    expect(acked()).toEqual(ids);
    socket.destroy();
  });

  it("explains a publish the ACL refuses (a DM in the wrong order, someone else's DM, a bad room)", async () => {
    const alice = await connect('alice', 'Alice');
    const errors = collect(alice, 'users/alice/errors');
    await alice.subscribeAsync('users/alice/errors');
    await alice.publishAsync('chat/dm/bob/alice', JSON.stringify({ text: 'x', ref: 'wrong-order' }), { qos: 1 });
    await alice.publishAsync('chat/dm/bob/carol', JSON.stringify({ text: 'x', ref: 'not-mine' }), { qos: 1 });
    await alice.publishAsync('chat/rooms/Bad_Room', JSON.stringify({ text: 'x', ref: 'bad-room' }), { qos: 1 });
    await eventually(() => errors.length).toBe(3);
    expect(errors.map((e) => [e.ref, e.code])).toEqual([
      ['wrong-order', 'forbidden'],
      ['not-mine', 'forbidden'],
      ['bad-room', 'forbidden'],
    ]);
    expect(errors[0].message).toMatch(/a < b/);
  });

  it('answers a rejected publish on users/{sub}/errors and forwards nothing', async () => {
    const alice = await connect('alice', 'Alice');
    const bob = await connect('bob', 'Bob');
    const errors = collect(alice, 'users/alice/errors');
    const seen = collect(bob, 'chat/rooms/bad');
    await alice.subscribeAsync('users/alice/errors');
    await bob.subscribeAsync('chat/rooms/bad', { qos: 1 });
    await alice.publishAsync('chat/rooms/bad', 'not json', { qos: 1 });
    await alice.publishAsync('chat/rooms/bad', JSON.stringify({ text: 'x'.repeat(101), ref: 'long' }), { qos: 1 });
    await alice.publishAsync('chat/rooms/bad', JSON.stringify({ text: 'fine' }), { qos: 1 });
    await eventually(() => errors.length).toBe(2);
    expect(errors).toEqual([
      { ref: null, code: 'invalid_payload', message: expect.stringContaining('JSON') },
      { ref: 'long', code: 'invalid_payload', message: 'text: text must be at most 100 characters' },
    ]);
    await eventually(() => seen.length).toBe(1);
    expect(seen[0]).toMatchObject({ seq: 1, text: 'fine' });
  });

  it('keeps DMs between their two users', async () => {
    const alice = await connect('alice', 'Alice');
    const bob = await connect('bob', 'Bob');
    const mallory = await connect('mallory', 'Mallory');
    const seen = collect(bob, 'chat/dm/alice/bob');
    await bob.subscribeAsync('chat/dm/alice/bob', { qos: 1 });
    await mallory.publishAsync('chat/dm/alice/bob', JSON.stringify({ text: 'it is me, alice' }), { qos: 1 });
    await alice.publishAsync('chat/dm/alice/bob', JSON.stringify({ text: 'psst' }), { qos: 1 });
    await eventually(() => seen.length).toBe(1);
    expect(seen[0]).toMatchObject({ room: 'dm:alice:bob', seq: 1, user: 'alice', text: 'psst' });
    const asMallory = await app.api.inject({ url: '/api/dm/alice/messages', headers: { authorization: `Bearer ${await app.token('mallory')}` } });
    expect(asMallory.json()).toEqual({ messages: [], has_more: false });
  });

  it('stamps typing, announces presence, and broadcasts moderation events', async () => {
    const watcher = await connect('mia', 'Mia', ['trader', 'moderator']);
    const typing = collect(watcher, 'chat/typing/pres');
    const presence = collect(watcher, 'chat/presence/pres');
    const room = collect(watcher, 'chat/rooms/pres');
    await watcher.subscribeAsync(['chat/typing/pres', 'chat/presence/pres', 'chat/rooms/pres'], { qos: 1 });

    const dave = await connect('dave', 'Dave');
    await dave.subscribeAsync('chat/rooms/pres', { qos: 1 });
    await dave.publishAsync('chat/typing/pres', JSON.stringify({ user: 'mia' }));
    await dave.publishAsync('chat/rooms/pres', JSON.stringify({ text: 'tpyo' }), { qos: 1 });
    await eventually(() => typing).toEqual([{ user: 'dave', name: 'Dave' }]);
    await eventually(() => room.length).toBe(1);

    const auth = { authorization: `Bearer ${await app.token('dave', ['trader'], 'Dave')}` };
    expect((await app.api.inject({ method: 'PATCH', url: '/api/rooms/pres/messages/1', headers: auth, payload: { text: 'typo' } })).statusCode).toBe(
      200,
    );
    await eventually(() => room.length).toBe(2);
    expect(room[1]).toEqual({ type: 'edit', room: 'pres', seq: 1, text: 'typo', edited_ts: expect.any(Number) });

    await dave.endAsync();
    await eventually(() => presence).toEqual([
      { user: 'mia', name: 'Mia', state: 'online' },
      { user: 'dave', name: 'Dave', state: 'online' },
      { user: 'dave', name: 'Dave', state: 'offline' },
    ]);
    expect((await app.api.inject({ url: '/api/rooms/pres/presence', headers: auth })).json()).toEqual({
      room: 'pres',
      members: [{ user: 'mia', name: 'Mia' }],
    });
  });
});

/** The offline queue against the PUBACK: a separate node, so one sender may burst past the default rate limit. */
describe.each(TOPOLOGIES)('chat persistent sessions (%s)', (kind) => {
  let app: ChatTopology;
  beforeAll(async () => {
    app = await startChatTopology(kind, { CHAT_RATE_PER_S: '10000', CHAT_BURST: '10000' });
  });
  afterAll(() => app?.stop());

  it('gives a persistent session resumed the instant its last message is acked everything, in order and once', async () => {
    const topic = 'chat/rooms/resume';
    const sender = await app.connect({ password: await app.token('sender', ['trader'], 'Sender') });
    const token = await app.token('member', ['trader'], 'Member');
    const member = { clientId: 'member-phone', clean: false, password: token };
    const received: number[] = [];
    const onMessage = (t: string, payload: Buffer) => {
      if (t === topic) received.push((JSON.parse(payload.toString()) as { seq: number }).seq);
    };
    let online = await app.connect(member, onMessage);
    await online.subscribeAsync(topic, { qos: 1 });
    let sent = 0;
    for (let round = 1; round <= 3; round++) {
      await online.endAsync();
      // Many in flight at once: the member is back the moment the last of them is acked.
      await Promise.all(Array.from({ length: 100 }, () => sender.publishAsync(topic, JSON.stringify({ text: `m${++sent}` }), { qos: 1 })));
      online = await app.connect(member, onMessage);
      // A marker published after the resume comes after everything queued, and no duplicate trails it.
      await sender.publishAsync(topic, JSON.stringify({ text: `m${++sent}` }), { qos: 1 });
      await expect.poll(() => received.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(sent);
      expect(received).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    }
    await online.endAsync();
  });
});
