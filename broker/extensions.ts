import type { Principal } from '../protocol/identity.js';

/** What the broker knows about a connected client, as handed to extensions. */
export interface ClientInfo {
  /** MQTT client id. */
  id: string;
  /** Verified identity, or null for an anonymous market-data client. */
  who: Principal;
  /** Broker node the client is connected to (cluster-aware presence). */
  node: string;
}

/**
 * Why an extension refused a client's publish (acked and dropped either way): MQTT 5 clients get it
 * on their PUBACK (broker/mqtt5/reasons.ts maps `kind` to a reason code); 3.1.1 clients have no
 * place for it, so the extension tells them its own way (chat: `users/{sub}/errors`).
 */
export interface PublishRefusal {
  kind: 'not authorized' | 'quota exceeded' | 'payload invalid' | 'topic invalid';
  /** For people: the reason string. */
  message: string;
  /** For programs: a stable code (MQTT 5 user property `code`). */
  code?: string;
}

/** What an extension makes of a publish: the payload to forward, null to ack and drop, or a refusal (acked and dropped). */
export type PublishVerdict = Buffer | null | { refused: PublishRefusal };

export function isRefused(verdict: PublishVerdict): verdict is { refused: PublishRefusal } {
  return verdict !== null && !Buffer.isBuffer(verdict);
}

export interface ClientPublish {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
}

/**
 * Features that live inside the broker's publish path (chat stamping and storage, presence)
 * plug in here instead of reaching into Aedes. The broker calls them after its ACL allowed the
 * action, so an extension never has to re-check topic permissions.
 */
export interface BrokerExtension {
  /** Topic prefixes whose client publishes this extension owns, e.g. `chat/`. */
  readonly publishPrefixes: readonly string[];
  /**
   * Runs before the broker acknowledges the publish (PUBACK is sent only once this resolves).
   * Resolve with the payload to forward (possibly rewritten, e.g. stamped), `null` to acknowledge
   * without forwarding (a duplicate, a throttled signal), or `{ refused }` to acknowledge without
   * forwarding and say why (MQTT 5 PUBACK reason). A throw means "not handled, try again":
   * the connection is closed without PUBACK, so the client retransmits after reconnecting.
   */
  onClientPublish(client: ClientInfo, packet: ClientPublish): Promise<PublishVerdict>;
  /**
   * The ACL refused an authenticated client's publish on one of this extension's prefixes (it is
   * acked and dropped either way); the extension may tell the client why, and returns the refusal
   * an MQTT 5 PUBACK carries (default: not authorized to publish on the topic).
   */
  onDeniedPublish?(client: ClientInfo, packet: ClientPublish): PublishRefusal | undefined;
  onSubscribe?(client: ClientInfo, topics: readonly string[]): void;
  onUnsubscribe?(client: ClientInfo, topics: readonly string[]): void;
  onDisconnect?(client: ClientInfo): void;
}
