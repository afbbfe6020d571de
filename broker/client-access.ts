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
  /** Clean session false: the session outlives the connection. */
  persistent: boolean;
  /** The topic of the CONNECT's will, decided in the authenticate step (mayLeaveWill). */
  willTopic?: string;
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
  open(client: Client, connect: { refuseIdentifier: boolean; persistent: boolean; willTopic: string | undefined }): void {
    this.states.set(client, { who: null, filters: new Set(), ...connect });
  }

  get(client: Client): ClientState | undefined {
    return this.states.get(client);
  }

  /** ACL decision for an authenticated client, for paths that bypass Aedes (the wire layer). */
  may(client: Client, access: Access, topic: string): boolean {
    const st = this.states.get(client);
    return st !== undefined && isAllowed(st.who, access, topic, this.aclContext(client.id));
  }

  /** The ACL's answer for a publish on `topic`, cached for the client's last topic. */
  mayPublish(client: Client, st: ClientState, topic: string): boolean {
    if (st.lastPublish?.topic !== topic) {
      st.lastPublish = { topic, allowed: isAllowed(st.who, 'publish', topic, this.aclContext(client.id)) };
    }
    return st.lastPublish.allowed;
  }

  /** Why the client may not (still) hold `filter`: the subscription cap, then the ACL; undefined when it may. */
  subscribeRefusal(client: Client, st: ClientState, filter: string): 'quota exceeded' | 'not authorized' | undefined {
    if (!st.filters.has(filter) && st.filters.size >= this.config.MQTT_MAX_SUBSCRIPTIONS) return 'quota exceeded';
    return isAllowed(st.who, 'subscribe', filter, this.aclContext(client.id)) ? undefined : 'not authorized';
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

  /**
   * Whether `who`, connected as `clientId` (owned, see ownedClientId), may leave a will on `topic`:
   * never on a built-in family (a will is published after its owner is gone, so chat cannot stamp
   * it nor the tick intake validate it, and the other families are the broker's own), elsewhere
   * where the owner may publish. Asked at CONNECT and again when a node publishes a dead node's will.
   */
  mayLeaveWill(who: Principal, clientId: string, topic: string): boolean {
    return !inBuiltInFamily(topic) && isAllowed(who, 'publish', topic, this.aclContext(clientId));
  }

  /** Whether this node granted `client` the subscription `topic` (ACL and cap passed). */
  readonly granted = (client: Client, topic: string): boolean => this.states.get(client)?.filters.has(topic) ?? false;

  refused(access: Access): void {
    this.denied.labels(access).inc();
  }

  info(client: Client): ClientInfo {
    return { id: client.id, who: this.states.get(client)?.who ?? null, node: this.config.NODE_ID };
  }

  private aclContext(clientId: string) {
    return {
      allowAnonymousMarketData: this.config.ALLOW_ANONYMOUS_MARKET_DATA,
      operator: this.operatorAcl,
      clientId,
    };
  }
}

const ANONYMOUS_OWNER = '~anonymous';

/**
 * Sessions belong to whoever made them: the client id Aedes keys sessions (and takeovers) by is
 * qualified with the authenticated user, so reusing someone else's client id with clean session
 * false resumes nothing of theirs, receives none of their queued messages and cannot kick them off.
 * Set in the authenticate step, before Aedes looks the session up.
 */
export function ownedClientId(who: Principal, requested: string): string {
  // `~` cannot start a user id (USER_PATTERN), so anonymous sessions never meet a user's.
  return `${who === null ? ANONYMOUS_OWNER : who.sub}:${requested}`;
}

/**
 * The owner's user id in an owned client id (null: anonymous), or undefined when the id is not
 * one ownedClientId made. Roles are not in it: only rules that ignore roles may be asked with it.
 */
export function ownerOf(ownedId: string): Principal | undefined {
  const colon = ownedId.indexOf(':');
  if (colon <= 0) return undefined;
  const sub = ownedId.slice(0, colon);
  return sub === ANONYMOUS_OWNER ? null : { sub, name: sub, roles: [] };
}
