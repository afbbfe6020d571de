import type { DeleteEvent, EditEvent, MessageEvent, MuteEvent } from './events.js';

/** A message ready to store: stamped except for `seq`, which the store assigns. */
export interface NewMessage {
  room: string;
  id: string;
  user: string;
  name: string;
  text: string;
  ts: number;
  ref?: string;
}

export type AppendOutcome =
  /** `encoded`: the message event as sent to subscribers, when the store already has it. */
  | { status: 'stored'; message: MessageEvent; encoded?: Buffer }
  /** Same ref from the same user in the same conversation: the original, already delivered. */
  | { status: 'duplicate'; message: MessageEvent }
  | { status: 'muted'; until: number };

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit: number;
}

export interface HistoryPage {
  messages: MessageEvent[];
  has_more: boolean;
}

/** A page of the public room list, by name: `after` a name, names starting with `prefix`. */
export interface RoomsQuery {
  limit: number;
  after?: string;
  prefix?: string;
}

export interface RoomsPage {
  rooms: { room: string; last_seq: number }[];
  has_more: boolean;
}

export interface OutboxRow {
  id: number;
  routingKey: string;
  body: string;
}

/**
 * Throws a ChatError when the actor may not change the message. `authorMutedUntil`: the author's
 * mute in that conversation (Unix ms, possibly past), null when never muted there.
 */
export type ModerationCheck = (message: MessageEvent, authorMutedUntil: number | null) => void;

/**
 * Chat persistence. Every event it stores (message, edit, delete, mute) is also queued in the
 * outbox in the same transaction when the outbox is on, so the RabbitMQ mirror can never miss one.
 */
export interface ChatStore {
  /**
   * Stores a batch in one transaction, assigning each conversation's next gap-free `seq`s.
   * Outcomes are in input order.
   */
  append(batch: readonly NewMessage[]): Promise<AppendOutcome[]>;
  history(room: string, query: HistoryQuery): Promise<HistoryPage>;
  /** Public rooms (not DMs) with their last seq, ascending by name. */
  rooms(query: RoomsQuery): Promise<RoomsPage>;
  edit(room: string, seq: number, check: ModerationCheck, text: string, editedTs: number): Promise<EditEvent>;
  delete(room: string, seq: number, check: ModerationCheck, by: string, ts: number): Promise<DeleteEvent>;
  mute(room: string, user: string, until: number, by: string): Promise<MuteEvent>;
  /**
   * Relays the oldest outbox rows: `send` must resolve only once they are safely handed on
   * (publisher confirms); then they are deleted (at least once: a crash between the confirm and the
   * delete sends them again). One `holder` at a time across the cluster, by a lease that lapses if
   * it stops relaying; returns how many rows were relayed (0 when none, or when another holds it).
   */
  relayOutbox(holder: string, limit: number, send: (rows: readonly OutboxRow[]) => Promise<void>): Promise<number>;
  /** Gives the relay lease up (graceful stop), so another node takes over at once. */
  releaseOutbox(holder: string): Promise<void>;
  /** Called after a commit that queued outbox rows in this process (wakes the relay early). */
  onOutboxQueued(listener: () => void): () => void;
}
