import type { Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { installQoSDelivery } from './qos-delivery.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** The parts of an Aedes client the delivery step reads, for a clean session still connecting. */
function connectingClient() {
  const written: Buffer[] = [];
  const client = {
    id: 'u:phone',
    clean: true,
    connecting: true,
    connected: false,
    connackSent: false,
    _nextId: 7,
    duplicates: {},
    subscriptions: {},
    conn: { write: (frame: Buffer) => written.push(frame) },
    deliver0: () => {},
    emit: () => true,
    broker: { authorizeForward: (_c: unknown, packet: unknown) => packet, persistence: {} },
  };
  installQoSDelivery(client as unknown as Client);
  const deliver = (n: number) =>
    new Promise<void>((resolve) =>
      (client as unknown as { deliverQoS(p: object, cb: () => void): void }).deliverQoS(
        { cmd: 'publish', topic: 'chat/rooms/lobby', payload: Buffer.from(`m${n}`), qos: 1, retain: false, brokerId: 'b', brokerCounter: n },
        resolve,
      ),
    );
  const payloads = () => written.map(readPayload);
  return { client, deliver, written, payloads };
}

function readPayload(frame: Buffer): string {
  let packet: mqttPacket.IPublishPacket | undefined;
  const parser = mqttPacket.parser();
  parser.on('packet', (p) => (packet = p as mqttPacket.IPublishPacket));
  parser.parse(frame);
  return packet!.payload.toString();
}

describe('QoS 1 delivery', () => {
  it('holds what arrives for a resuming session until its CONNACK is out, then sends it all in order', async () => {
    const { client, deliver, payloads } = connectingClient();
    await deliver(1);
    await deliver(2);
    await turn();
    expect(payloads()).toEqual([]);
    client.connackSent = true;
    await deliver(3); // arrives before the held ones are released: still goes after them
    await turn();
    await turn();
    expect(payloads()).toEqual(['m1', 'm2', 'm3']);
    await deliver(4);
    expect(payloads()).toEqual(['m1', 'm2', 'm3', 'm4']);
  });
});
