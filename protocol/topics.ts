import type { Resolution } from './names.js';

/** Topic names of docs/protocol.md#topics. Build topics here; never by string concatenation elsewhere. */
export const topics = {
  tick: (symbol: string) => `ticks/${symbol}`,
  candle: (symbol: string, resolution: Resolution) => `candles/${symbol}/${resolution}`,
  room: (room: string) => `chat/rooms/${room}`,
  dm: (a: string, b: string) => (a < b ? `chat/dm/${a}/${b}` : `chat/dm/${b}/${a}`),
  /** The two filters that match every DM pair of `user` (and only theirs). */
  dmInbox: (user: string) => [`chat/dm/${user}/+`, `chat/dm/+/${user}`] as const,
  typing: (room: string) => `chat/typing/${room}`,
  presence: (room: string) => `chat/presence/${room}`,
  userErrors: (sub: string) => `users/${sub}/errors`,
} as const;

/** Topic families, the label of per-family metrics. */
export const TOPIC_FAMILIES = ['ticks', 'candles', 'chat', 'users', 'sys', 'other'] as const;
export type TopicFamily = (typeof TOPIC_FAMILIES)[number];

export function topicFamily(topic: string): TopicFamily {
  const slash = topic.indexOf('/');
  const head = slash === -1 ? topic : topic.slice(0, slash);
  switch (head) {
    case 'ticks':
    case 'candles':
    case 'chat':
    case 'users':
      return head;
    case '$SYS':
      return 'sys';
    default:
      return 'other';
  }
}
