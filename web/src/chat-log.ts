import type { ChatEvent, ChatMessage } from './chat-events.js';

/**
 * One room's message log, ordered by the server's `seq`, with this user's messages that are not
 * yet confirmed at the end. Pure state: no DOM, no network. The controller feeds it history pages
 * and live events; it tells the controller when a live message reveals a gap so the missing range
 * is fetched by `seq`, and it never holds a message twice however often it is delivered.
 */

export type EntryStatus = 'pending' | 'confirmed' | 'failed';

export interface ChatEntry {
  /** Stable for the life of the entry (a pending message keeps its key once confirmed). */
  key: string;
  seq?: number;
  /** Our own message's client id, while the server has not confirmed it. */
  ref?: string;
  user: string;
  name: string;
  text: string;
  ts: number;
  status: EntryStatus;
  error?: string;
  edited: boolean;
  deleted: boolean;
}

export class ChatLog {
  private readonly bySeq = new Map<number, ChatEntry>();
  /** This user's messages sent but not seen back from the server, by `ref`. */
  private readonly pending = new Map<string, ChatEntry>();
  /** Every seq in (oldest - 1, contiguous] is held. */
  private contiguous = 0;
  private oldest = Infinity;
  /** Whether the server has messages older than the oldest held. */
  hasOlder = false;

  constructor(readonly self: string) {}

  /** Entries in display order. */
  entries(): ChatEntry[] {
    const confirmed = [...this.bySeq.values()].sort((a, b) => a.seq! - b.seq!);
    return [...confirmed, ...this.pending.values()];
  }

  /** The seq up to which the log has no holes: fetch `after=` this to catch up. */
  lastSeq(): number {
    return this.contiguous;
  }

  /** The oldest seq held: fetch `before=` this to page back. */
  oldestSeq(): number | undefined {
    return Number.isFinite(this.oldest) ? this.oldest : undefined;
  }

  /** The newest page of history, loaded on join. */
  loadLatest(page: { messages: ChatMessage[]; has_more: boolean }): void {
    this.hasOlder = page.has_more;
    const first = page.messages[0];
    if (first && this.contiguous === 0) this.contiguous = first.seq - 1;
    for (const m of page.messages) this.put(m);
  }

  /** A page from `before=oldestSeq()`. */
  loadOlder(page: { messages: ChatMessage[]; has_more: boolean }): void {
    this.hasOlder = page.has_more;
    for (const m of page.messages) this.put(m);
  }

  /** A page from `after=lastSeq()`. */
  loadNewer(page: { messages: ChatMessage[] }): void {
    for (const m of page.messages) this.put(m);
  }

  /** A live event from `chat/rooms/{room}`. Returns true when messages before it are missing. */
  receive(event: ChatEvent): boolean {
    switch (event.type) {
      case 'message':
        this.put(event);
        return event.seq > this.contiguous;
      case 'edit': {
        const entry = this.bySeq.get(event.seq);
        if (entry) Object.assign(entry, { text: event.text, edited: true });
        return false;
      }
      case 'delete': {
        const entry = this.bySeq.get(event.seq);
        if (entry) Object.assign(entry, { text: '', deleted: true });
        return false;
      }
      case 'mute':
        return false;
    }
  }

  /** Shows a message of ours at once; the server's copy (same `ref`) confirms it later. */
  addPending(ref: string, text: string, name: string, ts: number): void {
    this.pending.set(ref, { key: `ref:${ref}`, ref, user: this.self, name, text, ts, status: 'pending', edited: false, deleted: false });
  }

  /** A failed message sent again (same `ref`, so the server stores it at most once); its text, or undefined. */
  retry(ref: string): string | undefined {
    const entry = this.pending.get(ref);
    if (!entry || entry.status !== 'failed') return undefined;
    entry.status = 'pending';
    delete entry.error;
    return entry.text;
  }

  /** The broker refused our message (`users/{sub}/errors`) or the publish failed. */
  fail(ref: string, message: string): void {
    const entry = this.pending.get(ref);
    if (entry) Object.assign(entry, { status: 'failed', error: message });
  }

  private put(m: ChatMessage): void {
    const own = m.user === this.self && m.ref ? this.pending.get(m.ref) : undefined;
    const existing = this.bySeq.get(m.seq) ?? own;
    if (own) this.pending.delete(m.ref!);
    const entry: ChatEntry = {
      key: existing?.key ?? `seq:${m.seq}`,
      seq: m.seq,
      user: m.user,
      name: m.name,
      text: m.deleted ? '' : m.text,
      ts: m.ts,
      status: 'confirmed',
      edited: m.edited_ts != null,
      deleted: m.deleted === true,
    };
    this.bySeq.set(m.seq, entry);
    this.oldest = Math.min(this.oldest, m.seq);
    while (this.bySeq.has(this.contiguous + 1)) this.contiguous++;
  }
}
