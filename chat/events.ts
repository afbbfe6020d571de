/**
 * Chat events as they appear on MQTT, in history and on RabbitMQ `chat.events` (docs/protocol.md#chat-messages-and-events).
 * `room` is the conversation key (see conversation.ts).
 */
export interface MessageEvent {
  type: 'message';
  id: string;
  room: string;
  seq: number;
  user: string;
  name: string;
  text: string;
  ts: number;
  ref?: string;
  /** Present in history once the message was edited. */
  edited_ts?: number;
  /** Present in history once the message was deleted (its text is then empty). */
  deleted?: true;
  deleted_by?: string;
}

export interface EditEvent {
  type: 'edit';
  room: string;
  seq: number;
  text: string;
  edited_ts: number;
}

export interface DeleteEvent {
  type: 'delete';
  room: string;
  seq: number;
  by: string;
}

export interface MuteEvent {
  type: 'mute';
  room: string;
  user: string;
  /** Unix milliseconds. */
  until: number;
  by: string;
}

export type ChatEvent = MessageEvent | EditEvent | DeleteEvent | MuteEvent;

export function encodeEvent(event: ChatEvent): Buffer {
  return Buffer.from(JSON.stringify(event));
}
