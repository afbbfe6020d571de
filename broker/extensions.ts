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

export interface ClientPublish {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** MQTT 5 Message Expiry: when the message expires (ms since the epoch), absent when it does not. */
  messageExpiry?: number;
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
   * Resolve with the payload to forward (possibly rewritten, e.g. stamped), or `null` to
   * acknowledge without forwarding (a rejected message). A throw means "not handled, try again":
   * the connection is closed without PUBACK, so the client retransmits after reconnecting.
   */
  onClientPublish(client: ClientInfo, packet: ClientPublish): Promise<Buffer | null>;
  /**
   * The ACL refused an authenticated client's publish on one of this extension's prefixes (it is
   * acked and dropped either way); the extension may tell the client why.
   */
  onDeniedPublish?(client: ClientInfo, packet: ClientPublish): void;
  onSubscribe?(client: ClientInfo, topics: readonly string[]): void;
  onUnsubscribe?(client: ClientInfo, topics: readonly string[]): void;
  onDisconnect?(client: ClientInfo): void;
}
