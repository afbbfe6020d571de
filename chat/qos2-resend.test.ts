import { expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import mqttPacket from 'mqtt-packet';
import { signedInRawClient } from '../test/testing/raw-mqtt.js';
import { onOneNodeAndTwo, type Nodes } from './testing/two-ways.js';
import { collect, type ChatTestApp } from './testing/app.js';

const run = randomBytes(4).toString('hex');

const publish = (topic: string, messageId: number, text: string, dup = false): mqttPacket.IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: JSON.stringify({ text }),
  qos: 2,
  messageId,
  retain: false,
  dup,
});
const pubrel = (messageId: number): mqttPacket.IPubrelPacket => ({ cmd: 'pubrel', messageId });

/** Message ids of the packets of one kind a raw client received, in arrival order. */
const idsOf = (packets: mqttPacket.Packet[], cmd: string) => packets.flatMap((p) => (p.cmd === cmd ? [(p as { messageId: number }).messageId] : []));

/** What the tests of one topology share: user names of this run, a room's watcher, and the check that a message was handled once. */
function resendHelpers(tag: string) {
  const user = (name: string) => `${name}-${tag}-${run}`;
  const history = async (node: ChatTestApp, room: string) => {
    const res = await node.api.inject({
      url: `/api/rooms/${room}/messages`,
      headers: { authorization: `Bearer ${await node.token(user('reader'))}` },
    });
    return res.json<{ messages: { seq: number; text: string }[] }>().messages.map((m) => [m.seq, m.text]);
  };
  const watch = async (node: ChatTestApp, room: string) => {
    const watcher = await node.connect({ password: await node.token(user('watcher')) });
    const seen = collect(watcher, `chat/rooms/${room}`);
    await watcher.subscribeAsync(`chat/rooms/${room}`, { qos: 2 });
    return seen;
  };

  /** Subscribers got these texts as seq 1, 2, …, and history holds exactly those. */
  const deliveredAndStoredOnce = async (node: ChatTestApp, room: string, seen: Record<string, unknown>[], texts: string[]) => {
    const expected = texts.map((text, i) => [i + 1, text]);
    await expect.poll(() => seen.map((m) => [m.seq, m.text])).toEqual(expected);
    expect(await history(node, room)).toEqual(expected);
  };
  return { user, watch, deliveredAndStoredOnce };
}

/**
 * MQTT-4.3.3-2: until the PUBREL, a PUBLISH with the packet id of a QoS 2 message already received
 * is answered with PUBREC and not handled again (stored, numbered, delivered), whether it comes on
 * the same connection or after a reconnect to a persistent session, on any node.
 */
function resendSuite(nodes: Nodes, tag: string) {
  resendOnOneConnection(nodes, tag);
  resendAfterReconnect(nodes, tag);
}

/** The copy comes on the connection that sent the original. */
function resendOnOneConnection(nodes: Nodes, tag: string) {
  const { user, watch, deliveredAndStoredOnce } = resendHelpers(tag);

  it('answers a resend before PUBREL with PUBREC and stores and delivers the message once', async () => {
    const { first, second } = nodes();
    const room = `resend-${tag}-${run}`;
    const topic = `chat/rooms/${room}`;
    const seen = await watch(second, room);
    const client = await signedInRawClient(first.ports.mqtt!, await first.token(user('alice')), { clientId: user('raw') });
    client.send(publish(topic, 7, 'once'));
    await expect.poll(() => idsOf(client.packets, 'pubrec')).toEqual([7]);
    client.send(publish(topic, 7, 'once', true));
    await expect.poll(() => idsOf(client.packets, 'pubrec')).toEqual([7, 7]);
    client.send(pubrel(7));
    await expect.poll(() => idsOf(client.packets, 'pubcomp')).toEqual([7]);
    // Released: the same id now starts a new message.
    client.send(publish(topic, 7, 'next'));
    await expect.poll(() => idsOf(client.packets, 'pubrec')).toEqual([7, 7, 7]);
    client.send(pubrel(7));
    await deliveredAndStoredOnce(second, room, seen, ['once', 'next']);
    client.socket.destroy();
  });

  it('handles a copy arriving in the same read as the original once', async () => {
    const { first, second } = nodes();
    const room = `burst-${tag}-${run}`;
    const topic = `chat/rooms/${room}`;
    const seen = await watch(second, room);
    const client = await signedInRawClient(first.ports.mqtt!, await first.token(user('bob')), { clientId: user('burst') });
    client.socket.write(Buffer.concat([mqttPacket.generate(publish(topic, 9, 'one')), mqttPacket.generate(publish(topic, 9, 'one', true))]));
    await expect.poll(() => idsOf(client.packets, 'pubrec')).toEqual([9, 9]);
    client.send(pubrel(9));
    await expect.poll(() => idsOf(client.packets, 'pubcomp')).toEqual([9]);
    client.send(publish(topic, 10, 'two'));
    client.send(pubrel(10));
    await deliveredAndStoredOnce(second, room, seen, ['one', 'two']);
    client.socket.destroy();
  });
}

/** The copy comes after a reconnect to the persistent session. */
function resendAfterReconnect(nodes: Nodes, tag: string) {
  const { user, watch, deliveredAndStoredOnce } = resendHelpers(tag);

  it('answers the resend of a persistent session that reconnected (to the other node) with PUBREC, without storing it again', async () => {
    const { first, second } = nodes();
    const room = `resume-${tag}-${run}`;
    const topic = `chat/rooms/${room}`;
    const seen = await watch(second, room);
    const session = { clientId: user('persistent'), clean: false };
    const before = await signedInRawClient(first.ports.mqtt!, await first.token(user('carol')), session);
    before.send(publish(topic, 3, 'kept'));
    await expect.poll(() => idsOf(before.packets, 'pubrec')).toEqual([3]);
    before.socket.destroy(); // the PUBREC was lost with the connection: the client resends
    await before.closed;

    const after = await signedInRawClient(second.ports.mqtt!, await second.token(user('carol')), session);
    after.send(publish(topic, 3, 'kept', true));
    await expect.poll(() => idsOf(after.packets, 'pubrec')).toEqual([3]);
    after.send(pubrel(3));
    await expect.poll(() => idsOf(after.packets, 'pubcomp')).toEqual([3]);
    after.send(publish(topic, 4, 'after'));
    after.send(pubrel(4));
    await deliveredAndStoredOnce(second, room, seen, ['kept', 'after']);
    after.socket.destroy();
  });
}

onOneNodeAndTwo('a QoS 2 chat publish resent before PUBREL', run, resendSuite);
