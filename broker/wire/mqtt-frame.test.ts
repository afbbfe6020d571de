import { describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { frameLength, publishFrame, publishTopicStartsWith, qosPublishFrame, readPublish } from './mqtt-frame.js';

describe('mqtt-frame', () => {
  it.each([0, 10, 200, 20_000])('builds and reads back a QoS 0 publish with a %i-byte payload', (size) => {
    const payload = 'p'.repeat(size);
    const frame = publishFrame('ticks/EURUSD', payload, true);
    expect(frame[0]).toBe(0x31);
    expect(frameLength(frame)).toBe(frame.length);
    expect(frameLength(frame.subarray(0, frame.length - 1))).toBe(-1);
    expect(readPublish(frame)).toEqual({ topic: 'ticks/EURUSD', payload: Buffer.from(payload), qos: 0, retain: true });
    expect(publishTopicStartsWith(frame, Buffer.from('ticks/'))).toBe(true);
    expect(publishTopicStartsWith(frame, Buffer.from('chat/'))).toBe(false);
  });

  it('builds QoS 1 publishes byte for byte as mqtt-packet does, flags and packet id included', () => {
    for (const [retain, dup, messageId] of [
      [false, false, 1],
      [true, true, 65535],
      [false, true, 300],
    ] as const) {
      const payload = Buffer.from('{"type":"message","text":"héllo"}');
      const frame = qosPublishFrame('chat/rooms/lobby', payload, 1, retain, dup, messageId);
      expect(frame).toEqual(mqttPacket.generate({ cmd: 'publish', topic: 'chat/rooms/lobby', payload, qos: 1, retain, dup, messageId }));
    }
  });
});
