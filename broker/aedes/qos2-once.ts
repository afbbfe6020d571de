import { drop } from './dropped.js';
import { clientInternals, type AedesOptions, type Client, type PublishPacket } from './internals.js';

type AuthorizePublish = Required<AedesOptions>['authorizePublish'];

/**
 * MQTT-4.3.3-2: until its PUBREL, a PUBLISH reusing the packet id of a QoS 2 message the client
 * already sent is the same message: answered with PUBREC, never handled again. Aedes
 * (lib/handlers/publish.js) looks for the id in its incoming store only after authorizePublish,
 * which in ticktalk stores and numbers chat messages; and copies arriving in one read pass that
 * look-up together, so both are published (bug (e), broker/README.md). Here a copy is recognised
 * first, in the session store (an earlier connection, on any node) or among this node's
 * decisions in flight (same packet id, same client id), and renamed away after the first copy's
 * decision, so Aedes acks it without the extension seeing it again.
 */
export function decideQoS2Once(authorize: AuthorizePublish): AuthorizePublish {
  const deciding = new Map<string, Promise<Error | null>>();
  return (client, packet, done) => {
    if (!client || packet.qos !== 2 || packet.messageId === undefined) return authorize(client, packet, done);
    const key = `${client.id}\n${packet.messageId}`;
    const earlier = deciding.get(key);
    // The copy waits for the first: a failed decision closes the connection, and then no PUBREC may go.
    if (earlier) return void earlier.then((err) => done(err ?? drop(packet)));
    const decided = alreadyReceived(client, packet)
      .then((received) =>
        received ? drop(packet) : new Promise<Error | null>((resolve) => authorize(client, packet, (err) => resolve(err ?? null))),
      )
      .catch((err: Error) => err);
    deciding.set(key, decided);
    void decided.then((err) => {
      deciding.delete(key);
      done(err);
    });
  };
}

/** Whether the session store holds this QoS 2 message (received, PUBREL not yet). */
function alreadyReceived(client: Client, packet: PublishPacket): Promise<boolean> {
  // Aedes' own look-up treats a failing store as "not received" too (lib/handlers/publish.js).
  return clientInternals(client)
    .broker.persistence.incomingGetPacket(client, packet)
    .then(
      () => true,
      () => false,
    );
}
