import { Readable } from 'node:stream';
import { aedesInternals, type Aedes, type InternalPacket } from './internals.js';

/** What an MQTT 5 publisher put on a retained message beyond Aedes' five fields. */
type Mqtt5Extras = Pick<InternalPacket, 'properties' | 'messageExpiry'>;

/** By payload: Aedes' rebuilt retained packet keeps the stored packet's payload Buffer. */
const extrasByPayload = new WeakMap<object, Mqtt5Extras>();

/**
 * Aedes' SUBSCRIBE handler (`handlers/subscribe.js` sendRetained) rebuilds each retained message
 * from cmd, qos, topic, payload and retain, dropping an MQTT 5 publisher's properties and expiry
 * that the store (memory, or msgpack in Redis) kept. The retained stream is wrapped to remember
 * them by payload; `withRetainedExtras` (in authorizeForward) puts them back on the delivery.
 */
export function keepRetainedProperties(aedes: Aedes): void {
  const persistence = aedesInternals(aedes).persistence;
  const combi = persistence.createRetainedStreamCombi.bind(persistence);
  persistence.createRetainedStreamCombi = (patterns) => Readable.from(remembering(combi(patterns)));
}

async function* remembering(source: AsyncIterable<InternalPacket>): AsyncGenerator<InternalPacket> {
  for await (const packet of source) {
    const { properties, messageExpiry, payload } = packet;
    if ((properties !== undefined || messageExpiry !== undefined) && typeof payload === 'object') {
      extrasByPayload.set(payload, { properties, messageExpiry });
    }
    yield packet;
  }
}

/** A retained delivery with the properties and expiry its publisher sent (a fresh packet per delivery, so set in place). */
export function withRetainedExtras<P extends InternalPacket>(packet: P): P {
  if (!packet.retain || packet.properties !== undefined || typeof packet.payload !== 'object') return packet;
  const extras = extrasByPayload.get(packet.payload);
  if (extras) Object.assign(packet, extras);
  return packet;
}
