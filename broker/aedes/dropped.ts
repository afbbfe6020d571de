import type { EmitterInternals, PublishPacket } from './internals.js';

/** Topic a refused or extension-dropped publish is renamed to: acked, then swallowed by the emitter. */
export const DROPPED_TOPIC = '$ticktalk/dropped';

/**
 * Aedes has no way for authorizePublish to acknowledge a publish without forwarding it (an error
 * closes the connection): the packet is renamed so it is acked but never forwarded or retained.
 * Returns null (proceed) for the authorizePublish callback.
 */
export function drop(packet: PublishPacket): null {
  packet.topic = DROPPED_TOPIC;
  packet.retain = false;
  return null;
}

/** The emitter half of `drop`: a dropped publish never reaches subscribers or the cluster. */
export function swallowDropped(mq: EmitterInternals): void {
  const emit = mq.emit.bind(mq);
  mq.emit = (packet, cb) => {
    if (packet.topic === DROPPED_TOPIC) {
      if (cb) process.nextTick(cb);
      return;
    }
    return emit(packet, cb);
  };
}
