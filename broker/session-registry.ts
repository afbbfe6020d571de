/**
 * Who holds which client id, and when each persistent session whose client left expires: the
 * shared state behind MQTT_MAX_CONNECTIONS_PER_USER and MQTT_SESSION_EXPIRY_S. One in memory for a
 * single node, one in Redis for a cluster (session-registry-redis.ts); both pass
 * session-registry.test.ts.
 */

/** One connection of a signed-in user, as the registry knows it. */
export interface Holder {
  /** The owned client id (`{sub}:{client id}`, see ownedClientId). */
  clientId: string;
  user: string;
  /** Clean session false: the session outlives the connection and expires later. */
  persistent: boolean;
  /**
   * An MQTT 5 session's Session Expiry Interval as granted at CONNECT (s): what a dead node's
   * session gets (its DISCONNECT never came). Absent (MQTT 3.1.1): MQTT_SESSION_EXPIRY_S.
   */
  expiryS?: number;
  /** Unique per connection in the cluster: a takeover's old connection cannot undo the new one. */
  token: string;
}

export type OpenResult = 'opened' | 'too many connections';

export interface SessionRegistry {
  /**
   * Registers a connection unless its user already holds `maxPerUser` other client ids (a takeover
   * of a client id the user holds is not counted twice). A persistent session waiting to expire is
   * kept. Resolves once no removal of this client id's session is in progress, so a reconnect racing
   * the sweep finds the session either whole or gone.
   */
  open(holder: Holder, maxPerUser: number): Promise<OpenResult>;
  /**
   * The connection ended. Unless the client id was taken over meanwhile (on any node), a persistent
   * session then expires at `expiresAt` (Unix ms).
   */
  close(holder: Holder, expiresAt: number): Promise<void>;
  /** Persistent sessions whose expiry passed, up to `limit`; each is claimed by exactly one caller. */
  claimExpired(now: number, limit: number): Promise<string[]>;
  /**
   * Sessions the store holds that the registry may never have seen (made before it existed, or
   * whose end could not be recorded): each not connected and not already waiting expires at `expiresAt`.
   */
  adopt(clientIds: string[], expiresAt: number): Promise<void>;
  /** A claimed session could not be removed: it expires again at `at`, unless its client came back. */
  reschedule(clientId: string, at: number): Promise<void>;
  /** A claimed session is removed (or rescheduled): a reconnect waiting in `open` may go on. */
  removed(clientId: string): Promise<void>;
  /**
   * This node is alive at `now`; connections of nodes silent since `deadBefore` are closed on their
   * behalf (their persistent sessions expire at `expiresAt`). Returns how many nodes were recovered.
   */
  heartbeat(now: number, deadBefore: number, expiresAt: number): Promise<number>;
  /** Persistent sessions whose client left and that have not expired yet (the whole cluster's). */
  waiting(): Promise<number>;
}

/** A single node's registry: nothing outlives the process, so no node can die holding anything. */
export class MemorySessionRegistry implements SessionRegistry {
  private readonly byUser = new Map<string, Map<string, string>>();
  private readonly expiries = new Map<string, number>();
  private readonly removing = new Map<string, { done: Promise<void>; resolve: () => void }>();

  async open(h: Holder, maxPerUser: number): Promise<OpenResult> {
    const held = this.byUser.get(h.user) ?? new Map<string, string>();
    if (!held.has(h.clientId) && held.size >= maxPerUser) return 'too many connections';
    held.set(h.clientId, h.token);
    this.byUser.set(h.user, held);
    this.expiries.delete(h.clientId);
    await this.removing.get(h.clientId)?.done;
    return 'opened';
  }

  async close(h: Holder, expiresAt: number): Promise<void> {
    const held = this.byUser.get(h.user);
    if (held?.get(h.clientId) !== h.token) return;
    held.delete(h.clientId);
    if (held.size === 0) this.byUser.delete(h.user);
    if (h.persistent) this.expiries.set(h.clientId, expiresAt);
  }

  async claimExpired(now: number, limit: number): Promise<string[]> {
    const claimed: string[] = [];
    for (const [clientId, at] of this.expiries) {
      if (claimed.length >= limit) break;
      if (at > now) continue;
      this.expiries.delete(clientId);
      let resolve = () => {};
      const done = new Promise<void>((r) => (resolve = r));
      this.removing.set(clientId, { done, resolve });
      claimed.push(clientId);
    }
    return claimed;
  }

  async adopt(clientIds: string[], expiresAt: number): Promise<void> {
    for (const clientId of clientIds) if (!this.expiries.has(clientId)) await this.reschedule(clientId, expiresAt);
  }

  async reschedule(clientId: string, at: number): Promise<void> {
    if (![...this.byUser.values()].some((held) => held.has(clientId))) this.expiries.set(clientId, at);
  }

  async removed(clientId: string): Promise<void> {
    this.removing.get(clientId)?.resolve();
    this.removing.delete(clientId);
  }

  async heartbeat(): Promise<number> {
    return 0;
  }

  async waiting(): Promise<number> {
    return this.expiries.size;
  }
}
