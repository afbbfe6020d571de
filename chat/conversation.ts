import { ROOM_PATTERN, USER_PATTERN } from '../protocol/names.js';
import { topics } from '../protocol/topics.js';

/**
 * Where a chat message lives: a public room or the direct-message pair of two users.
 * Its `key` is the storage and sequence key (and the `room` field of stamped events): the room name
 * itself, or `dm:{a}:{b}` with a < b. A colon is outside both the room and the user pattern, so the
 * two namespaces never collide.
 */
export type Conversation = { kind: 'room'; key: string; room: string } | { kind: 'dm'; key: string; a: string; b: string };

export function roomConversation(room: string): Conversation | null {
  return ROOM_PATTERN.test(room) ? { kind: 'room', key: room, room } : null;
}

export function dmConversation(x: string, y: string): Conversation | null {
  if (!USER_PATTERN.test(x) || !USER_PATTERN.test(y) || x === y) return null;
  const [a, b] = x < y ? [x, y] : [y, x];
  return { kind: 'dm', key: `dm:${a}:${b}`, a, b };
}

/** The conversation a storage key names (keys come from our own tables, so they are trusted). */
export function conversationOfKey(key: string): Conversation | null {
  if (!key.startsWith('dm:')) return roomConversation(key);
  const [, a, b] = key.split(':');
  return a !== undefined && b !== undefined ? dmConversation(a, b) : null;
}

export function conversationTopic(c: Conversation): string {
  return c.kind === 'room' ? topics.room(c.room) : topics.dm(c.a, c.b);
}

/** RabbitMQ `chat.events` routing key: `room.{room}.{type}` or `dm.{a}.{b}.{type}` (docs/protocol.md#chat-events). */
export function eventRoutingKey(c: Conversation, type: string): string {
  return c.kind === 'room' ? `room.${c.room}.${type}` : `dm.${c.a}.${c.b}.${type}`;
}

export function isMember(c: Conversation, user: string): boolean {
  return c.kind === 'room' || c.a === user || c.b === user;
}

/** A client publish topic the chat extension handles. */
export type ChatTopic = { kind: 'message'; conversation: Conversation } | { kind: 'typing'; room: string };

/**
 * Parses `chat/rooms/{room}`, `chat/dm/{a}/{b}` (a < b, as docs/protocol.md#topics names them) and
 * `chat/typing/{room}`; anything else is null.
 */
export function parseChatTopic(topic: string): ChatTopic | null {
  const parts = topic.split('/');
  if (parts[0] !== 'chat') return null;
  if (parts.length === 3 && parts[1] === 'rooms') {
    const conversation = roomConversation(parts[2]);
    return conversation && { kind: 'message', conversation };
  }
  if (parts.length === 4 && parts[1] === 'dm' && parts[2] < parts[3]) {
    const conversation = dmConversation(parts[2], parts[3]);
    return conversation && { kind: 'message', conversation };
  }
  if (parts.length === 3 && parts[1] === 'typing' && ROOM_PATTERN.test(parts[2])) {
    return { kind: 'typing', room: parts[2] };
  }
  return null;
}

/** The room of a subscription filter that means "I am in this room" (presence), else null. */
export function presenceRoomOfFilter(filter: string): string | null {
  const parts = filter.split('/');
  return parts.length === 3 && parts[0] === 'chat' && parts[1] === 'rooms' && ROOM_PATTERN.test(parts[2]) ? parts[2] : null;
}
