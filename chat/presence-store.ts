/** One connection of a user, subscribed to one room, on one broker node. */
export interface PresenceEntry {
  room: string;
  user: string;
  name: string;
  node: string;
  client: string;
}

/** A connection that left a room; `last` when the user has no other connection in it. */
export interface Departure {
  room: string;
  user: string;
  name: string;
  last: boolean;
}

export interface PresenceMember {
  user: string;
  name: string;
}

/**
 * Who is in which room: in memory on a single node, in Redis across a cluster, where each node
 * also proves it is alive so the members of a dead node can be taken offline by the survivors.
 */
export interface PresenceStore {
  add(entry: PresenceEntry): Promise<void>;
  remove(room: string, node: string, client: string): Promise<Departure | null>;
  /** Distinct users online in the room, by user id. */
  members(room: string): Promise<PresenceMember[]>;
  /** Removes every entry of a node (graceful stop, or a restart under the same id). */
  clearNode(node: string): Promise<Departure[]>;
  /** Marks this node alive for a while. */
  heartbeat(node: string): Promise<void>;
  /** Clears the nodes whose heartbeat lapsed (each by exactly one survivor). */
  reapDeadNodes(self: string): Promise<Departure[]>;
}

/** Shared by both engines: a departure is `last` unless another entry of the same user remains. */
export function departure(room: string, left: PresenceMember, remaining: readonly PresenceMember[]): Departure {
  return { room, user: left.user, name: left.name, last: !remaining.some((m) => m.user === left.user) };
}

export function distinctMembers(entries: Iterable<PresenceMember>): PresenceMember[] {
  const byUser = new Map<string, PresenceMember>();
  for (const e of entries) if (!byUser.has(e.user)) byUser.set(e.user, { user: e.user, name: e.name });
  return [...byUser.values()].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
}

/** A member as one node's client connection. */
type NodeMember = PresenceMember & { node: string; client: string };

export class MemoryPresenceStore implements PresenceStore {
  /** room → `${node}|${client}` → member */
  private readonly rooms = new Map<string, Map<string, NodeMember>>();

  async add(e: PresenceEntry): Promise<void> {
    let room = this.rooms.get(e.room);
    if (!room) this.rooms.set(e.room, (room = new Map<string, NodeMember>()));
    room.set(`${e.node}|${e.client}`, { user: e.user, name: e.name, node: e.node, client: e.client });
  }

  async remove(roomName: string, node: string, client: string): Promise<Departure | null> {
    const room = this.rooms.get(roomName);
    const left = room?.get(`${node}|${client}`);
    if (!room || !left) return null;
    room.delete(`${node}|${client}`);
    if (room.size === 0) this.rooms.delete(roomName);
    return departure(roomName, left, [...room.values()]);
  }

  async members(room: string): Promise<PresenceMember[]> {
    return distinctMembers(this.rooms.get(room)?.values() ?? []);
  }

  async clearNode(node: string): Promise<Departure[]> {
    const out: Departure[] = [];
    for (const [roomName, room] of [...this.rooms]) {
      for (const e of [...room.values()]) {
        if (e.node !== node) continue;
        const d = await this.remove(roomName, node, e.client);
        if (d) out.push(d);
      }
    }
    return out;
  }

  async heartbeat(): Promise<void> {}

  /** A single in-memory node has no peers that could die. */
  async reapDeadNodes(): Promise<Departure[]> {
    return [];
  }
}
