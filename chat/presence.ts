import type { Logger } from '../platform/logger.js';
import type { Identity } from '../protocol/identity.js';
import { topics } from '../protocol/topics.js';
import type { Departure, PresenceMember, PresenceStore } from './presence-store.js';

export type PublishFn = (topic: string, payload: string, qos: 0 | 1) => Promise<void>;

export interface PresenceOptions {
  node: string;
  /** How often this node proves it is alive and looks for dead peers. */
  heartbeatMs: number;
}

/**
 * Presence of this node's clients: `online` on `chat/presence/{room}` when a client subscribes to
 * `chat/rooms/{room}`, `offline` when the user's last connection in the room unsubscribes or drops,
 * and (in a cluster) `offline` for the members of a peer node whose heartbeat lapsed.
 */
export class Presence {
  /** client id → rooms it is in; what a disconnect must clear. */
  private readonly clients = new Map<string, Set<string>>();
  /** Per-client queue so a join and a quick leave reach the store in order. */
  private readonly chains = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: PresenceStore,
    private readonly publish: PublishFn,
    private readonly options: PresenceOptions,
    private readonly log: Logger,
  ) {}

  /** Clears what a previous run under the same node id left behind, then starts the heartbeat. */
  async start(): Promise<void> {
    await this.announce(await this.store.clearNode(this.options.node));
    await this.store.heartbeat(this.options.node);
    this.timer = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Graceful stop: this node's members go offline now rather than when the heartbeat lapses. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.chains.values());
    await this.announce(await this.store.clearNode(this.options.node));
  }

  join(client: string, who: Identity, room: string): Promise<void> {
    return this.serially(client, async () => {
      let rooms = this.clients.get(client);
      if (!rooms) this.clients.set(client, (rooms = new Set()));
      rooms.add(room);
      await this.store.add({ room, user: who.sub, name: who.name, node: this.options.node, client });
      await this.send(room, { user: who.sub, name: who.name }, 'online');
    });
  }

  leave(client: string, room: string): Promise<void> {
    return this.serially(client, async () => {
      const rooms = this.clients.get(client);
      if (!rooms?.delete(room)) return;
      if (rooms.size === 0) this.clients.delete(client);
      await this.announce([await this.store.remove(room, this.options.node, client)]);
    });
  }

  disconnect(client: string): Promise<void> {
    return this.serially(client, async () => {
      const rooms = this.clients.get(client);
      this.clients.delete(client);
      for (const room of rooms ?? []) await this.announce([await this.store.remove(room, this.options.node, client)]);
    });
  }

  members(room: string): Promise<PresenceMember[]> {
    return this.store.members(room);
  }

  private async beat(): Promise<void> {
    try {
      await this.store.heartbeat(this.options.node);
      await this.announce(await this.store.reapDeadNodes(this.options.node));
    } catch (err) {
      this.log.warn({ err }, 'presence heartbeat failed');
    }
  }

  private async announce(departures: readonly (Departure | null)[]): Promise<void> {
    for (const d of departures) if (d?.last) await this.send(d.room, d, 'offline');
  }

  private send(room: string, member: PresenceMember, state: 'online' | 'offline'): Promise<void> {
    return this.publish(topics.presence(room), JSON.stringify({ user: member.user, name: member.name, state }), 0);
  }

  private serially(client: string, step: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(client) ?? Promise.resolve())
      .then(step)
      .catch((err: unknown) => this.log.warn({ err, client }, 'presence update failed'));
    this.chains.set(client, next);
    void next.then(() => {
      if (this.chains.get(client) === next) this.chains.delete(client);
    });
    return next;
  }
}
