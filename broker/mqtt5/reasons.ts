import type { Refusal } from './session.js';

/**
 * MQTT 5 reason codes for the CONNECT refusals ticktalk makes (the 3.1.1 return code and the reason
 * it counts in `ticktalk_mqtt_auth_refusals_total`); the reason string is that reason, or `detail`.
 */
const CONNACK_REASON_CODES: Record<string, number> = {
  'identifier rejected': 0x85,
  anonymous: 0x87,
  'anonymous session': 0x87,
  'will not authorised': 0x87,
  'bad token': 0x86,
  'too many connections': 0x97,
  'session registry unavailable': 0x88,
};

const BY_RETURN_CODE: Record<number, number> = { 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };

export function connackRefusal(returnCode: number, reason: string, detail?: string): Refusal {
  return { reasonCode: CONNACK_REASON_CODES[reason] ?? BY_RETURN_CODE[returnCode] ?? 0x80, reason: detail ?? reason };
}
