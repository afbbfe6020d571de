import { topics } from '../../protocol/topics.js';
import { apiJson } from './api.js';
import {
  chatErrorSchema,
  chatEventSchema,
  historySchema,
  presenceEventSchema,
  presenceListSchema,
  typingSchema,
  type ChatEvent,
  type Member,
} from './chat-events.js';
import { ChatLog } from './chat-log.js';
import { ChatLogView, renderMembers, renderTyping } from './chat-view.js';
import { randomId, type MqttConnection } from './connection.js';
import { parsePayload } from './payload.js';
import type { Session } from './session.js';

/**
 * One joined room at a time: history on join, live messages (QoS 1), typing and presence, sending
 * with confirmation by `ref`, and catching up by `seq` after every reconnect or detected gap, so
 * the log never misses or repeats a message.
 */

const HISTORY_PAGE = 100;
const CATCH_UP_PAGE = 200;
/** A bound on one catch-up (200 × 50 = 10 000 messages); the next reconnect or gap continues it. */
const CATCH_UP_MAX_PAGES = 50;
const TYPING_SEND_EVERY_MS = 2_500;
const TYPING_SHOWN_MS = 4_000;

export interface ChatElements {
  log: HTMLOListElement;
  scroller: HTMLElement;
  members: HTMLElement;
  memberCount: HTMLElement;
  typing: HTMLElement;
  loadOlder: HTMLButtonElement;
}

interface Joined {
  room: string;
  log: ChatLog;
  members: Map<string, Member>;
  typists: Map<string, { name: string; until: number }>;
  /** Live events that arrived before the first history page. */
  early: ChatEvent[] | undefined;
  leave: () => void;
}

export class ChatRoom {
  private joined: Joined | undefined;
  private session: Session | undefined;
  private readonly view: ChatLogView;
  private catchingUp: Promise<void> | undefined;
  private catchUpAgain = false;
  private lastTypingSent = 0;
  private typingTimer: ReturnType<typeof setInterval> | undefined;
  private stopErrors: (() => void) | undefined;

  constructor(
    private readonly connection: MqttConnection,
    private readonly el: ChatElements,
    private readonly notify: (message: string) => void,
  ) {
    this.view = new ChatLogView(el.log, el.scroller, () => this.session?.user.sub);
    el.loadOlder.addEventListener('click', () => void this.loadOlder());
    el.log.addEventListener('click', (e) => {
      const ref = (e.target as HTMLElement).closest<HTMLElement>('[data-retry]')?.dataset.retry;
      if (ref) this.retry(ref);
    });
  }

  get room(): string | undefined {
    return this.joined?.room;
  }

  /** Signed in (or out, with undefined): errors for our publishes arrive on `users/{sub}/errors`. */
  setSession(session: Session | undefined): void {
    this.leave();
    this.stopErrors?.();
    this.stopErrors = undefined;
    this.session = session;
    if (!session) return;
    this.stopErrors = this.connection.subscribe(topics.userErrors(session.user.sub), (payload) => {
      const error = parsePayload(chatErrorSchema, payload);
      if (!error) return;
      if (error.ref && this.joined) {
        this.joined.log.fail(error.ref, error.message);
        this.render();
      } else {
        this.notify(error.message);
      }
    });
  }

  async join(room: string): Promise<void> {
    const session = this.session;
    if (!session || this.joined?.room === room) return;
    this.leave();
    const joined: Joined = {
      room,
      log: new ChatLog(session.user.sub),
      members: new Map(),
      typists: new Map(),
      early: [],
      leave: () => {},
    };
    this.joined = joined;
    const stops = [
      this.connection.subscribe(topics.room(room), (payload) => this.onEvent(joined, payload), 1),
      this.connection.subscribe(topics.typing(room), (payload) => this.onTyping(joined, payload)),
      this.connection.subscribe(topics.presence(room), (payload) => this.onPresence(joined, payload)),
    ];
    this.typingTimer = setInterval(() => this.expireTypists(joined), 1_000);
    joined.leave = () => stops.forEach((stop) => stop());
    this.view.clear();
    renderTyping(this.el.typing, []);

    try {
      const [page, presence] = await Promise.all([
        this.api(`/api/rooms/${room}/messages?limit=${HISTORY_PAGE}`, historySchema),
        this.api(`/api/rooms/${room}/presence`, presenceListSchema),
      ]);
      if (this.joined !== joined) return;
      joined.log.loadLatest(page);
      for (const m of presence.members) joined.members.set(m.user, m);
      renderMembers(this.el.members, this.el.memberCount, [...joined.members.values()]);
    } catch (err) {
      if (this.joined === joined) this.notify(`chat history: ${(err as Error).message}`);
    }
    if (this.joined !== joined) return;
    const early = joined.early ?? [];
    joined.early = undefined;
    let gap = false;
    for (const event of early) gap = joined.log.receive(event) || gap;
    this.render({ stickToBottom: true });
    if (gap) void this.catchUp();
  }

  /** Called on every CONNACK: whatever was published while the socket was down is fetched by seq. */
  onReconnected(): void {
    if (this.joined && !this.joined.early) void this.catchUp();
  }

  send(text: string): void {
    const joined = this.joined;
    const session = this.session;
    const trimmed = text.trim();
    if (!joined || !session || trimmed === '') return;
    const ref = `c-${randomId()}`;
    joined.log.addPending(ref, trimmed, session.user.name, Date.now());
    this.render({ stickToBottom: true });
    this.publish(joined, trimmed, ref);
  }

  private retry(ref: string): void {
    const joined = this.joined;
    const text = joined?.log.retry(ref);
    if (!joined || text === undefined) return;
    this.render();
    this.publish(joined, text, ref);
  }

  private publish(joined: Joined, text: string, ref: string): void {
    this.connection.publish(topics.room(joined.room), { text, ref }, 1).catch((err: Error) => {
      joined.log.fail(ref, err.message);
      if (this.joined === joined) this.render();
    });
  }

  /** The user is typing: tell the room, at most every few seconds. */
  typing(): void {
    const joined = this.joined;
    if (!joined || Date.now() - this.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    this.lastTypingSent = Date.now();
    this.connection.publish(topics.typing(joined.room), {}, 0).catch(() => {});
  }

  private leave(): void {
    this.joined?.leave();
    this.joined = undefined;
    clearInterval(this.typingTimer);
    this.view.clear();
    renderMembers(this.el.members, this.el.memberCount, []);
    this.el.memberCount.textContent = '';
    renderTyping(this.el.typing, []);
    this.el.loadOlder.hidden = true;
  }

  private onEvent(joined: Joined, payload: Uint8Array): void {
    const event = parsePayload(chatEventSchema, payload);
    if (!event || this.joined !== joined) return;
    if (joined.early) {
      joined.early.push(event);
      return;
    }
    if (event.type === 'message') joined.typists.delete(event.user);
    const gap = joined.log.receive(event);
    this.render();
    this.renderTypists(joined);
    if (gap) void this.catchUp();
  }

  private onTyping(joined: Joined, payload: Uint8Array): void {
    const who = parsePayload(typingSchema, payload);
    if (!who || who.user === this.session?.user.sub || this.joined !== joined) return;
    joined.typists.set(who.user, { name: who.name, until: Date.now() + TYPING_SHOWN_MS });
    this.renderTypists(joined);
  }

  private onPresence(joined: Joined, payload: Uint8Array): void {
    const change = parsePayload(presenceEventSchema, payload);
    if (!change || this.joined !== joined) return;
    if (change.state === 'online') joined.members.set(change.user, { user: change.user, name: change.name });
    else joined.members.delete(change.user);
    renderMembers(this.el.members, this.el.memberCount, [...joined.members.values()]);
  }

  private expireTypists(joined: Joined): void {
    const now = Date.now();
    let changed = false;
    for (const [user, t] of joined.typists) {
      if (t.until > now) continue;
      joined.typists.delete(user);
      changed = true;
    }
    if (changed) this.renderTypists(joined);
  }

  private renderTypists(joined: Joined): void {
    renderTyping(this.el.typing, [...joined.typists.values()].map((t) => t.name));
  }

  /** Pages forward from the last contiguous seq until the server has nothing newer. */
  private catchUp(): Promise<void> {
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return this.catchingUp;
    }
    this.catchingUp = (async () => {
      do {
        this.catchUpAgain = false;
        const joined = this.joined;
        if (!joined) break;
        try {
          for (let page = 0; page < CATCH_UP_MAX_PAGES; page++) {
            const after = joined.log.lastSeq();
            const result = await this.api(`/api/rooms/${joined.room}/messages?after=${after}&limit=${CATCH_UP_PAGE}`, historySchema);
            if (this.joined !== joined) break;
            joined.log.loadNewer(result);
            this.render();
            if (!result.has_more) break;
          }
        } catch (err) {
          this.notify(`chat: could not fetch missed messages: ${(err as Error).message}`);
        }
      } while (this.catchUpAgain);
    })().finally(() => {
      this.catchingUp = undefined;
    });
    return this.catchingUp;
  }

  private async loadOlder(): Promise<void> {
    const joined = this.joined;
    const before = joined?.log.oldestSeq();
    if (!joined || before === undefined) return;
    this.el.loadOlder.disabled = true;
    try {
      const page = await this.api(`/api/rooms/${joined.room}/messages?before=${before}&limit=${HISTORY_PAGE}`, historySchema);
      if (this.joined !== joined) return;
      joined.log.loadOlder(page);
      this.render();
    } catch (err) {
      this.notify(`chat history: ${(err as Error).message}`);
    } finally {
      this.el.loadOlder.disabled = false;
    }
  }

  private render(opts: { stickToBottom?: boolean } = {}): void {
    const joined = this.joined;
    if (!joined) return;
    this.view.render(joined.log.entries(), opts);
    this.el.loadOlder.hidden = !joined.log.hasOlder;
  }

  private api<T>(path: string, schema: Parameters<typeof apiJson<T>>[1]): Promise<T> {
    return apiJson(path, schema, { token: this.session?.token });
  }
}
