import { describe, expect, it } from 'vitest';
import { PacketTooLargeError } from '../packet-guard.js';
import { badPacketDisconnect, connackRefusal } from './reasons.js';

describe('MQTT 5 refusal reasons', () => {
  it('every CONNECT refusal the broker makes has its own reason code and a reason string that starts with the reason', () => {
    const refusals: [code: 2 | 3 | 5, reason: string, mqtt5: number][] = [
      [2, 'identifier rejected', 0x85],
      [5, 'anonymous', 0x87],
      [5, 'anonymous session', 0x87],
      [5, 'will not authorised', 0x87],
      [5, 'bad token', 0x86],
      [3, 'too many connections', 0x97],
      [3, 'session registry unavailable', 0x88],
    ];
    for (const [code, reason, mqtt5] of refusals) {
      const refusal = connackRefusal(code, reason);
      expect(refusal.reasonCode, reason).toBe(mqtt5);
      expect(refusal.reason.startsWith(`${reason}: `), refusal.reason).toBe(true);
    }
    expect(connackRefusal(5, 'bad token', 'token expired')).toEqual({ reasonCode: 0x86, reason: 'token expired' });
  });

  it('a packet the guard refuses: 0x95 when too large, 0x81 when malformed', () => {
    expect(badPacketDisconnect(new PacketTooLargeError(5000, 2048)).reasonCode).toBe(0x95);
    expect(badPacketDisconnect(new Error('malformed packet: reserved type 0'))).toEqual({
      reasonCode: 0x81,
      reason: 'malformed packet: reserved type 0',
    });
  });
});
