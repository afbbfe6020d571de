import * as z from 'zod/mini';
import { topics } from '../../protocol/topics.js';
import { chatEventSchema, type ChatEvent } from './chat-events.js';
import type { MqttConnection } from './connection.js';
import { dmPeer } from './conversation.js';
import { parsePayload } from './payload.js';
import type { Session } from './session.js';

/**
 * The signed-in user's direct messages, every pair at once: two wildcard subscriptions
 * (`chat/dm/{me}/+`, `chat/dm/+/{me}`, QoS 1, kept in the persistent session) carry them all. An
 * event of the conversation on screen is handed to it; a message from a peer elsewhere counts as
 * unread. The peers are kept per user in localStorage, so the list survives a reload.
 */

const peerSchema = z.object({ user: z.string(), name: z.string(), unread: z.number(), lastSeq: z.number() });
export type DmPeer = z.infer<typeof peerSchema>;
const MAX_PEERS = 100;

export class DmInbox {
  /** Least recently active first. */
  private peers = new Map<string, DmPeer>();
  private self: string | undefined;
  private stop: (() => void) | undefined;

  constructor(
    private readonly connection: MqttConnection,
    /** Shows the event when its conversation is on screen; false when it is not. */
    private readonly deliver: (event: ChatEvent) => boolean,
    private readonly changed: () => void,
    private readonly storage: Storage = localStorage,
  ) {}

  setSession(session: Session | undefined): void {
    this.stop?.();
    this.stop = undefined;
    this.self = session?.user.sub;
    this.peers = this.self ? this.load(this.self) : new Map<string, DmPeer>();
    if (session) {
      const stops = topics.dmInbox(session.user.sub).map((filter) => this.connection.subscribe(filter, (p) => this.onPayload(p), 1));
      this.stop = () => stops.forEach((stop) => stop());
    }
    this.changed();
  }

  /** Most recently active first. */
  list(): DmPeer[] {
    return [...this.peers.values()].reverse();
  }

  get(user: string): DmPeer | undefined {
    return this.peers.get(user);
  }

  /** A conversation with `user` is on screen: listed, and nothing in it is unread. */
  opened(user: string, name: string): void {
    const known = this.peers.get(user);
    this.touch({ user, name, unread: 0, lastSeq: known?.lastSeq ?? 0 });
  }

  private onPayload(payload: Uint8Array): void {
    const event = parsePayload(chatEventSchema, payload);
    const peer = event && this.self ? dmPeer(event.room, this.self) : undefined;
    if (!event || !peer) return;
    const shown = this.deliver(event);
    if (event.type === 'message') this.touch(this.afterMessage(peer, event, shown));
  }

  /** The peer's entry once `message` of their conversation has arrived (`shown`: it is on screen). */
  private afterMessage(peer: string, message: Extract<ChatEvent, { type: 'message' }>, shown: boolean): DmPeer {
    const known = this.peers.get(peer);
    const lastSeq = known?.lastSeq ?? 0;
    // A message delivered again (QoS 1 after a reconnect) is not news.
    const news = !shown && message.user === peer && message.seq > lastSeq ? 1 : 0;
    return {
      user: peer,
      name: message.user === peer ? message.name : (known?.name ?? peer),
      unread: shown ? 0 : (known?.unread ?? 0) + news,
      lastSeq: Math.max(lastSeq, message.seq),
    };
  }

  private touch(peer: DmPeer): void {
    this.peers.delete(peer.user);
    this.peers.set(peer.user, peer);
    for (const user of this.peers.keys()) {
      if (this.peers.size <= MAX_PEERS) break;
      this.peers.delete(user);
    }
    if (this.self) this.storage.setItem(storageKey(this.self), JSON.stringify([...this.peers.values()]));
    this.changed();
  }

  private load(self: string): Map<string, DmPeer> {
    const parsed = z.array(peerSchema).safeParse(safeJson(this.storage.getItem(storageKey(self))));
    return new Map((parsed.success ? parsed.data : []).map((p) => [p.user, p]));
  }
}

function storageKey(self: string): string {
  return `ticktalk.dms.${self}`;
}

function safeJson(text: string | null): unknown {
  try {
    return text === null ? [] : JSON.parse(text);
  } catch {
    return [];
  }
}
