import { Readable } from 'node:stream';
import { aedesInternals, type Aedes, type InternalPacket } from './internals.js';

/** What Aedes' retained delivery drops from a stored retained message, by its payload (the same Buffer travels on). */
const extras = new WeakMap<Buffer, Pick<InternalPacket, 'messageExpiry' | 'properties'>>();

/**
 * A retained message's MQTT 5 Message Expiry and properties, which Aedes 1.2.0 drops when it sends
 * retained messages on SUBSCRIBE (lib/handlers/subscribe.js sendRetained rebuilds each packet from
 * cmd, qos, topic, payload and retain, keeping the payload Buffer): looked up by that Buffer.
 */
export function retainedExtras(payload: Buffer): Pick<InternalPacket, 'messageExpiry' | 'properties'> | undefined {
  return extras.get(payload);
}

type RetainedStreamCombi = (patterns: string[]) => AsyncIterable<InternalPacket>;

/**
 * Retained messages read for a SUBSCRIBE skip the expired ones (MQTT-3.3.2-5: not for subscribers of
 * either protocol), and keep their expiry and properties for the MQTT 5 encoder (retainedExtras).
 * Messages without an expiry pass untouched.
 */
export function honourRetainedExpiry(aedes: Aedes): void {
  const persistence = aedesInternals(aedes).persistence;
  const original: RetainedStreamCombi = persistence.createRetainedStreamCombi.bind(persistence);
  persistence.createRetainedStreamCombi = (patterns) => Readable.from(unexpired(original(patterns)), { objectMode: true });
}

async function* unexpired(stored: AsyncIterable<InternalPacket>): AsyncGenerator<InternalPacket> {
  for await (const packet of stored) {
    const { messageExpiry, properties } = packet;
    if (messageExpiry !== undefined && messageExpiry <= Date.now()) continue;
    const kept = messageExpiry !== undefined || properties !== undefined;
    if (kept && typeof packet.payload !== 'string') extras.set(packet.payload, { messageExpiry, properties });
    yield packet;
  }
}
