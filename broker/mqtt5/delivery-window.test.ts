import { describe, expect, it } from 'vitest';
import type { Packet } from 'mqtt-packet';
import mqttPacket from 'mqtt-packet';
import { DeliveryWindow } from './delivery-window.js';
import { publishExpiryInterval } from './frames.js';

const publish = (messageId: number, qos: 0 | 1 | 2 = 1): Packet => ({
  cmd: 'publish',
  topic: 't',
  payload: Buffer.from('x'),
  qos,
  messageId,
  retain: false,
  dup: false,
});

function windowOf(maximum: number, maxWaiting = 10, withheld = new Set<number>()) {
  const sent: number[] = [];
  const dropped: number[] = [];
  const overflows = { count: 0 };
  const window = new DeliveryWindow(
    maximum,
    maxWaiting,
    (p) => {
      const id = (p as { messageId?: number }).messageId ?? 0;
      if (withheld.has(id)) return false;
      sent.push(id);
      return true;
    },
    (p) => dropped.push((p as { messageId: number }).messageId),
    () => overflows.count++,
  );
  return { window, sent, dropped, overflows };
}

describe('DeliveryWindow (the client Receive Maximum)', () => {
  it('sends up to the maximum, then one per acknowledgement, in order', () => {
    const { window, sent } = windowOf(2);
    for (const id of [1, 2, 3, 4]) window.offer(publish(id));
    expect(sent).toEqual([1, 2]);
    window.acknowledged(2);
    expect(sent).toEqual([1, 2, 3]);
    window.acknowledged(99);
    expect(sent).toEqual([1, 2, 3]);
    window.acknowledged(1);
    expect(sent).toEqual([1, 2, 3, 4]);
  });

  it('QoS 0 and other packets pass while the window is full; a resend of one in flight takes no place', () => {
    const { window, sent } = windowOf(1);
    window.offer(publish(1));
    window.offer(publish(2));
    window.offer(publish(0, 0));
    window.offer(publish(1));
    expect(sent).toEqual([1, 0, 1]);
  });

  it('a withheld delivery takes no place and is reported dropped; the oldest waiting go past the bound', () => {
    const { window, sent, dropped, overflows } = windowOf(1, 2, new Set([1]));
    window.offer(publish(1));
    expect(dropped).toEqual([1]);
    window.offer(publish(2));
    for (const id of [3, 4, 5]) window.offer(publish(id));
    // 3 was the oldest of three waiting behind 2 with room for two: dropped, and counted.
    expect(overflows.count).toBe(1);
    window.acknowledged(2);
    window.acknowledged(4);
    expect(sent).toEqual([2, 4, 5]);
  });
});

describe('publishExpiryInterval', () => {
  const frame = (properties: Record<string, unknown>, qos: 0 | 1 = 0) =>
    mqttPacket.generate(
      { cmd: 'publish', topic: 'ticks/X', payload: Buffer.from('{}'), qos, messageId: 7, retain: false, dup: false, properties },
      { protocolVersion: 5 },
    );

  it('reads the interval among other properties, QoS 0 and 1', () => {
    expect(publishExpiryInterval(frame({ messageExpiryInterval: 30 }))).toBe(30);
    expect(publishExpiryInterval(frame({ contentType: 'application/json', userProperties: { a: 'b' }, messageExpiryInterval: 5 }, 1))).toBe(5);
    expect(publishExpiryInterval(frame({ payloadFormatIndicator: true, correlationData: Buffer.from('c') }))).toBeUndefined();
    expect(publishExpiryInterval(frame({}))).toBeUndefined();
  });
});
