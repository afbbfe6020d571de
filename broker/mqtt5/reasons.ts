import type { Refusal } from './session.js';
import type { PublishRefusal } from '../extensions.js';

/** MQTT 5 reason codes ticktalk refuses with (MQTT 5 §2.4). */
export const REASON = {
  malformedPacket: 0x81,
  implementationSpecificError: 0x83,
  clientIdentifierNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverShuttingDown: 0x8b,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
} as const;

/**
 * MQTT 5 reason codes for the CONNECT refusals ticktalk makes (the 3.1.1 return code and the reason
 * it counts in `ticktalk_mqtt_auth_refusals_total`), and the reason string that explains each one.
 */
const CONNACK_REFUSALS: Record<string, { code: number; says: string }> = {
  'identifier rejected': { code: REASON.clientIdentifierNotValid, says: 'identifier rejected: a persistent session needs a client id' },
  anonymous: { code: REASON.notAuthorized, says: 'anonymous: sign in with a token as the password' },
  'anonymous session': {
    code: REASON.notAuthorized,
    says: 'anonymous session: anonymous clients get no session that outlives the connection (Clean Start 1, Session Expiry 0)',
  },
  'will not authorised': { code: REASON.notAuthorized, says: 'will not authorised: this client may not publish on its will topic' },
  'bad token': { code: REASON.badUserNameOrPassword, says: 'bad token: not signed by this service, malformed, or not valid yet' },
  'too many connections': { code: REASON.quotaExceeded, says: 'too many connections: this user already holds the most connections allowed' },
  'session registry unavailable': { code: REASON.serverUnavailable, says: 'session registry unavailable: try again shortly' },
  // The reason string is the problem itself (see requestedTickRate).
  'bad max-tick-rate': { code: REASON.implementationSpecificError, says: 'bad max-tick-rate' },
};

const BY_RETURN_CODE: Record<number, number> = { 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };

/** The CONNACK refusal for `reason`; `detail` (e.g. "token expired") replaces its reason string. */
export function connackRefusal(returnCode: number, reason: string, detail?: string): Refusal {
  const known = CONNACK_REFUSALS[reason];
  return { reasonCode: known?.code ?? BY_RETURN_CODE[returnCode] ?? 0x80, reason: detail ?? known?.says ?? reason };
}

/** Why the server ends a connection on its own (the DISCONNECT an MQTT 5 client gets; MQTT 5 §3.14.2.1). */
export const SERVER_DISCONNECTS = {
  /** MQTT 5 has no "token expired": 0x87 says the connection is no longer authorized (as EMQX does when a JWT's `exp` passes). */
  tokenExpired: { reasonCode: REASON.notAuthorized, reason: 'token expired: reconnect with a fresh token' },
  shuttingDown: { reasonCode: REASON.serverShuttingDown, reason: 'server shutting down: reconnect (another node takes the session)' },
  /** The client's quota of unread output (not the server's load) ran out: 0x97 rather than 0x89 server busy. */
  slowConsumer: (queuedBytes: number): Refusal => ({
    reasonCode: REASON.quotaExceeded,
    reason: `slow consumer: ${queuedBytes} bytes queued unread, over the limit`,
  }),
} as const;

/** The DISCONNECT for a packet the packet guard refused: too large (0x95) or malformed (0x81). */
export function badPacketDisconnect(err: Error): Refusal {
  return { reasonCode: err.name === 'PacketTooLargeError' ? REASON.packetTooLarge : REASON.malformedPacket, reason: err.message };
}

const PUBLISH_REASON_CODES: Record<PublishRefusal['kind'], number> = {
  'not authorized': REASON.notAuthorized,
  'quota exceeded': REASON.quotaExceeded,
  'payload invalid': REASON.payloadFormatInvalid,
  'topic invalid': REASON.topicNameInvalid,
};

/** The PUBACK/PUBREC reason for a refused publish. */
export function publishRefusal(refused: PublishRefusal): Refusal {
  return {
    reasonCode: PUBLISH_REASON_CODES[refused.kind],
    reason: refused.message,
    ...(refused.code !== undefined && { userProperties: { code: refused.code } }),
  };
}
