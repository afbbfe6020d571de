import { topics } from '../../protocol/topics.js';

/** What the chat panel shows: a public room, or the direct messages between this user and another. */
export type Conversation = { kind: 'room'; room: string } | { kind: 'dm'; other: string; name: string };

/** The conversation's `room` field in chat events: the room, or `dm:{a}:{b}` with a < b (docs/protocol.md#chat-messages-and-events). */
export function conversationKey(c: Conversation, self: string): string {
  if (c.kind === 'room') return c.room;
  return self < c.other ? `dm:${self}:${c.other}` : `dm:${c.other}:${self}`;
}

/** The other member of a DM key, or undefined when the key is a room or not ours. */
export function dmPeer(key: string, self: string): string | undefined {
  const [prefix, a, b] = key.split(':');
  if (prefix !== 'dm' || a === undefined || b === undefined) return undefined;
  if (a === self) return b;
  return b === self ? a : undefined;
}

export function conversationTopic(c: Conversation, self: string): string {
  return c.kind === 'room' ? topics.room(c.room) : topics.dm(self, c.other);
}

/** History of the conversation (docs/protocol.md#chat-api): the caller's side of a DM is implied by the token. */
export function messagesPath(c: Conversation): string {
  return c.kind === 'room' ? `/api/rooms/${c.room}/messages` : `/api/dm/${encodeURIComponent(c.other)}/messages`;
}

/** What the composer's placeholder and the page say the conversation is. */
export function conversationLabel(c: Conversation): string {
  return c.kind === 'room' ? `#${c.room}` : `@${c.name}`;
}
