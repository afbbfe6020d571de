import mqttPacket from 'mqtt-packet';

/**
 * Where Aedes' packets for an MQTT 5 client go instead of mqtt-packet's 3.1.1 encoder. Aedes 1.2.0
 * writes every packet with `mqtt.writeToStream(packet, client.conn)` (lib/write.js) and never passes
 * the protocol version, so a stream carrying this symbol gets the packet object itself and encodes
 * it as MQTT 5 (broker/mqtt5). Streams without it are written exactly as before.
 */
export const PACKET_SINK = Symbol('ticktalk.packetSink');

/**
 * Set on a stream by the QoS delivery: called with the packet id of a QoS 1/2 delivery the MQTT 5
 * encoder will never send (over the client's Maximum Packet Size, expired), so the session drops it
 * as if delivered (MQTT-3.1.2-25).
 */
export const DELIVERY_WITHHELD = Symbol('ticktalk.deliveryWithheld');

/** A packet object as Aedes writes it (mqtt-packet's shape). */
export type OutboundPacket = mqttPacket.Packet;

export interface PacketSinkStream {
  [PACKET_SINK]?: (packet: OutboundPacket) => boolean;
  [DELIVERY_WITHHELD]?: (messageId: number) => void;
}

type WriteToStream = (packet: OutboundPacket, stream: PacketSinkStream, opts?: unknown) => boolean;

let installed = false;

/** Routes Aedes' writes to a stream's packet sink when it has one. Idempotent; checked at start. */
export function installPacketSinks(): void {
  if (installed) return;
  const target = mqttPacket as unknown as { writeToStream: WriteToStream };
  if (typeof target.writeToStream !== 'function') {
    throw new Error('mqtt-packet.writeToStream is not a function: broker/aedes/packet-sink.ts is written for mqtt-packet 9.0.2');
  }
  const original = target.writeToStream;
  target.writeToStream = (packet, stream, opts) => {
    const sink = stream[PACKET_SINK];
    return sink ? sink(packet) : original(packet, stream, opts);
  };
  installed = true;
}
