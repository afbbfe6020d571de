import type { Config } from '../protocol/config.js';
import type { Principal } from '../protocol/identity.js';
import type { Metrics } from '../platform/metrics.js';
import { inBuiltInFamily, isAllowed, type Access } from './acl.js';
import type { OperatorAcl } from './acl-file.js';
import type { Client } from './aedes/internals.js';
import type { ClientInfo } from './extensions.js';

export interface ClientState {
  who: Principal;
  /** Filters this node granted the client: the subscription cap and what persistence may store. */
  filters: Set<string>;
  /** Set in preConnect: MQTT-3.1.3-8 needs CONNACK 2, which only the authenticate step can send. */
  refuseIdentifier: boolean;
  /**
   * The ACL's answer for the last topic this client published on: a chatting client publishes on
   * one room at a time, and the answer depends on nothing that changes during a connection.
   */
  lastPublish?: { topic: string; allowed: boolean };
}

/** What this node knows of each connected client (identity, granted filters) and the ACL's answers for it. */
export class ClientAccess {
  private readonly states = new WeakMap<Client, ClientState>();
  private readonly denied;

  constructor(
    private readonly config: Config,
    private readonly operatorAcl: OperatorAcl | undefined,
    metrics: Metrics,
  ) {
    this.denied = metrics.counter('mqtt_acl_denials_total', 'Subscriptions and publishes refused by the ACL', ['access']);
  }

  /** A client's CONNECT arrived: it is anonymous until authenticated. */
  open(client: Client, refuseIdentifier: boolean): void {
    this.states.set(client, { who: null, filters: new Set(), refuseIdentifier });
  }

  get(client: Client): ClientState | undefined {
    return this.states.get(client);
  }

  /** ACL decision for an authenticated client, for paths that bypass Aedes (the wire layer). */
  may(client: Client, access: Access, topic: string): boolean {
    const st = this.states.get(client);
    return st !== undefined && isAllowed(st.who, access, topic, this.aclContext(client));
  }

  /** The ACL's answer for a publish on `topic`, cached for the client's last topic. */
  mayPublish(client: Client, st: ClientState, topic: string): boolean {
    if (st.lastPublish?.topic !== topic) {
      st.lastPublish = { topic, allowed: isAllowed(st.who, 'publish', topic, this.aclContext(client)) };
    }
    return st.lastPublish.allowed;
  }

  /** Whether the ACL and the subscription cap let the client (still) hold `filter`. */
  maySubscribe(client: Client, st: ClientState, filter: string): boolean {
    return (
      (st.filters.has(filter) || st.filters.size < this.config.MQTT_MAX_SUBSCRIPTIONS) &&
      isAllowed(st.who, 'subscribe', filter, this.aclContext(client))
    );
  }

  /**
   * Whether a message on `topic` may reach the client. Built-in families were decided whole at
   * SUBSCRIBE; in operator areas a granted wildcard may span topics the rules deny to this client,
   * so each topic is checked (Mosquitto's acl_file does the same at delivery).
   */
  mayReceive(client: Client, topic: string): boolean {
    if (this.operatorAcl === undefined || inBuiltInFamily(topic)) return true;
    const st = this.states.get(client);
    return st !== undefined && this.operatorAcl.allows(st.who, client.id, 'subscribe', topic);
  }

  /** Whether this node granted `client` the subscription `topic` (ACL and cap passed). */
  readonly granted = (client: Client, topic: string): boolean => this.states.get(client)?.filters.has(topic) ?? false;

  refused(access: Access): void {
    this.denied.labels(access).inc();
  }

  info(client: Client): ClientInfo {
    return { id: client.id, who: this.states.get(client)?.who ?? null, node: this.config.NODE_ID };
  }

  private aclContext(client: Client) {
    return {
      allowAnonymousMarketData: this.config.ALLOW_ANONYMOUS_MARKET_DATA,
      operator: this.operatorAcl,
      clientId: client.id,
    };
  }
}
