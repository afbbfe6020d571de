import { expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import mqttPacket from 'mqtt-packet';
import { signedInRawClient } from '../test/testing/raw-mqtt.js';
import { onOneNodeAndTwo, type Nodes } from './testing/two-ways.js';
import { collect } from './testing/app.js';

const run = randomBytes(4).toString('hex');

const chatFrame = (topic: string, text: string, messageId: number) =>
  mqttPacket.generate({ cmd: 'publish', topic, payload: JSON.stringify({ text }), qos: 1, messageId, retain: false, dup: false });
const texts = (seen: Record<string, unknown>[]) => seen.map((m) => m.text);

/** A name of this run and topology: `user('bob')`. */
type UserNames = (name: string) => string;

/**
 * Delivery to sessions as MQTT asks, found by chat/node-kill.test.ts: each message once (live, and
 * in a resumed queue whatever filters overlap), re-sends flagged DUP. `first` takes the
 * subscriptions, `second` the publishes and resumes (the same node, or the other one).
 */
function deliverySuite(nodes: Nodes, tag: string) {
  const user: UserNames = (name) => `${name}-${tag}-${run}`;
  liveDelivery(nodes, user);
  resumedDelivery(nodes, user);
}

/** To a connected subscriber. */
function liveDelivery(nodes: Nodes, user: UserNames) {
  it('delivers chat messages published in the same writes as typing signals to a subscriber of both', async () => {
    const { first, second } = nodes();
    const room = user('typing');
    const bob = await first.connect({ password: await first.token(user('bob')) });
    const seen = collect(bob, `chat/rooms/${room}`);
    const typing = collect(bob, `chat/typing/${room}`);
    await bob.subscribeAsync([`chat/rooms/${room}`, `chat/typing/${room}`], { qos: 1 });
    await new Promise((r) => setTimeout(r, 300)); // the subscriptions reach the other node
    const alice = await signedInRawClient(second.ports.mqtt!, await second.token(user('alice')));
    const typingFrame = mqttPacket.generate({ cmd: 'publish', topic: `chat/typing/${room}`, payload: '{}', qos: 0, retain: false, dup: false });
    for (let i = 1; i <= 5; i++) {
      alice.socket.write(Buffer.concat([chatFrame(`chat/rooms/${room}`, `m${i}`, i), typingFrame]));
      await new Promise((r) => setTimeout(r, 50));
    }
    await expect.poll(() => alice.acked()).toEqual([1, 2, 3, 4, 5]);
    await expect.poll(() => typing.length).toBeGreaterThan(0);
    await expect.poll(() => texts(seen)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    alice.socket.destroy();
  });
}

/** To a persistent session that comes back. */
function resumedDelivery(nodes: Nodes, user: UserNames) {
  it('queues each message once for a persistent session whose filters overlap', async () => {
    const { first, second } = nodes();
    const room = user('overlap');
    const session = { clientId: user('mod-session'), clean: false, password: await first.token(user('mod'), ['moderator']) };
    const before = await first.connect(session);
    await before.subscribeAsync({ 'chat/rooms/+': { qos: 1 }, [`chat/rooms/${room}`]: { qos: 1 } });
    await before.endAsync();
    const sender = await second.connect({ password: await second.token(user('sender')) });
    for (const text of ['q1', 'q2', 'q3']) await sender.publishAsync(`chat/rooms/${room}`, JSON.stringify({ text }), { qos: 1 });

    const received: string[] = [];
    await second.connect(session, (t, p) => t === `chat/rooms/${room}` && received.push((JSON.parse(p.toString()) as { text: string }).text));
    await sender.publishAsync(`chat/rooms/${room}`, JSON.stringify({ text: 'live' }), { qos: 1 });
    await expect.poll(() => received).toEqual(['q1', 'q2', 'q3', 'live']);
  });

  it('re-sends a message a resumed session never acknowledged, with DUP', async () => {
    const { first, second } = nodes();
    const topic = `chat/rooms/${user('unacked')}`;
    const token = await first.token(user('carol'));
    const session = { clientId: user('carol-session'), clean: false };
    const before = await signedInRawClient(first.ports.mqtt!, token, session);
    before.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await before.waitFor('suback');
    const sender = await second.connect({ password: await second.token(user('dave')) });
    await sender.publishAsync(topic, JSON.stringify({ text: 'unacked' }), { qos: 1 });
    const sent = (await before.waitFor('publish')) as mqttPacket.IPublishPacket;
    expect(sent.dup).toBe(false);
    before.socket.destroy(); // no PUBACK
    await before.closed;

    const after = await signedInRawClient(second.ports.mqtt!, token, session);
    const again = (await after.waitFor('publish')) as mqttPacket.IPublishPacket;
    expect([again.topic, JSON.parse(again.payload.toString()).seq, again.dup]).toEqual([topic, 1, true]);
    after.socket.destroy();
  });
}

onOneNodeAndTwo('session delivery', run, deliverySuite);
