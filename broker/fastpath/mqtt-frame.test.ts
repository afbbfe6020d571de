import { describe, expect, it } from 'vitest';
import { frameLength, publishFrame, publishTopicStartsWith, readPublish } from './mqtt-frame.js';

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
});
