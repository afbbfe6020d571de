import net from 'node:net';
import mqttPacket from 'mqtt-packet';

/**
 * A raw MQTT 3.1.1 client on a plain socket (MQTT 5 with `protocolVersion` 5): what a broken,
 * hostile or very fast client can send, and every packet it gets back, in order.
 */
export function rawClient(port: number, protocolVersion: 4 | 5 = 4) {
  const socket = net.connect(port, '127.0.0.1');
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: mqttPacket.Packet[] = [];
  parser.on('packet', (p) => packets.push(p));
  const onData = (d: Buffer) => parser.parse(d);
  socket.on('data', onData);
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    packets,
    closed,
    send: (p: mqttPacket.Packet) => socket.write(mqttPacket.generate(p, { protocolVersion })),
    /** The first packet of this kind received so far or within `ms`. */
    waitFor: async (cmd: string, ms = 10_000) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const found = packets.find((p) => p.cmd === cmd);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no ${cmd} within ${ms} ms`);
    },
    /** Message ids of the PUBACKs received, in arrival order. */
    acked: () => packets.flatMap((p) => (p.cmd === 'puback' ? [p.messageId!] : [])),
    /** Never read again (the broker's writes back up). */
    stopReading: () => {
      socket.off('data', onData);
      socket.pause();
    },
  };
}

export const connectPacket = (extra: Partial<mqttPacket.IConnectPacket> = {}): mqttPacket.IConnectPacket => ({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clean: true,
  clientId: `raw-${Math.random().toString(36).slice(2)}`,
  keepalive: 30,
  ...extra,
});

/** A raw client past its CONNACK, signed in with `token`. */
export async function signedInRawClient(port: number, token: string, extra: Partial<mqttPacket.IConnectPacket> = {}) {
  const client = rawClient(port, extra.protocolVersion === 5 ? 5 : 4);
  client.send(connectPacket({ username: 'jwt', password: Buffer.from(token), ...extra }));
  await client.waitFor('connack');
  return client;
}
