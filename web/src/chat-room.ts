import { topics } from '../../protocol/topics.js';
import { apiJson, type ApiRequest } from './api.js';
import {
  chatErrorSchema,
  chatEventSchema,
  deleteSchema,
  editSchema,
  historySchema,
  muteSchema,
  presenceEventSchema,
  presenceListSchema,
  typingSchema,
  type ChatEvent,
  type Member,
} from './chat-events.js';
import { ChatLog, type ChatEntry } from './chat-log.js';
import { ChatLogView, clock, memberAction, renderMembers, renderTyping, type Viewer } from './chat-view.js';
import { randomId, type MqttConnection } from './connection.js';
import { conversationKey, conversationTopic, messagesPath, type Conversation } from './conversation.js';
import { parsePayload } from './payload.js';
import type { Session } from './session.js';

/**
 * One conversation at a time, a room or a DM: history on join, live messages (QoS 1), typing and
 * presence (rooms), sending with confirmation by `ref`, catching up by `seq` after every reconnect
 * or detected gap (so the log never misses or repeats a message), and the edit, delete and mute
 * controls. A room subscribes its own topics; a DM's events come from the DmInbox via receive().
 */

const HISTORY_PAGE = 100;
const CATCH_UP_PAGE = 200;
/** A bound on one catch-up (200 × 50 = 10 000 messages); the next reconnect or gap continues it. */
const CATCH_UP_MAX_PAGES = 50;
const TYPING_SEND_EVERY_MS = 2_500;
const TYPING_SHOWN_MS = 4_000;
/**
 * A typing event sent just before a message may be delivered just after it (typing is QoS 0 and
 * skips storage; the broker may throttle it): from someone who has just spoken it is stale.
 */
const TYPING_STALE_AFTER_MESSAGE_MS = 1_500;
/** How long the members list's mute control silences someone. */
export const MUTE_MINUTES = 10;

export interface ChatElements {
  log: HTMLOListElement;
  scroller: HTMLElement;
  members: HTMLElement;
  memberCount: HTMLElement;
  typing: HTMLElement;
  loadOlder: HTMLButtonElement;
  /** Shown while the log is empty: loading, nothing said yet, or sign in. */
  empty: HTMLElement;
}

/** What the room asks of the page around it. */
export interface ChatRoomEvents {
  notify(message: string): void;
  /** A person's name was picked to talk to directly. */
  startDm(user: string, name: string): void;
}

interface Joined {
  conversation: Conversation;
  /** The conversation's `room` in chat events. */
  key: string;
  log: ChatLog;
  members: Map<string, Member>;
  typists: Map<string, { name: string; until: number }>;
  /** When each member's last message arrived (typing from just before it is stale). */
  spoke: Map<string, number>;
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
    private readonly events: ChatRoomEvents,
  ) {
    this.view = new ChatLogView(el.log, el.scroller, () => this.viewer(), {
      retry: (ref) => this.retry(ref),
      edit: (entry, text) => void this.edit(entry, text),
      delete: (entry) => void this.delete(entry),
      dm: (user, name) => events.startDm(user, name),
      mute: (user, name) => void this.mute(user, name),
    });
    el.loadOlder.addEventListener('click', () => void this.loadOlder());
    el.members.addEventListener('click', (e) => {
      const picked = memberAction(e);
      if (picked?.action === 'dm') events.startDm(picked.user, picked.name);
      else if (picked?.action === 'mute') void this.mute(picked.user, picked.name);
    });
    this.showEmpty('Sign in to read the chat and join the conversation.');
  }

  get conversation(): Conversation | undefined {
    return this.joined?.conversation;
  }

  /** Signed in (or out, with undefined): errors for our publishes arrive on `users/{sub}/errors`. */
  setSession(session: Session | undefined): void {
    this.leave();
    this.stopErrors?.();
    this.stopErrors = undefined;
    this.session = session;
    if (!session) {
      this.showEmpty('Sign in to read the chat and join the conversation.');
      return;
    }
    this.showEmpty('Pick a room to join.');
    this.stopErrors = this.connection.subscribe(topics.userErrors(session.user.sub), (payload) => {
      const error = parsePayload(chatErrorSchema, payload);
      if (!error) return;
      if (error.ref && this.joined) {
        this.joined.log.fail(error.ref, error.message);
        this.render();
      } else {
        this.events.notify(error.message);
      }
    });
  }

  async join(conversation: Conversation): Promise<void> {
    const session = this.session;
    if (!session) return;
    const key = conversationKey(conversation, session.user.sub);
    if (this.joined?.key === key) return;
    this.leave();
    const joined: Joined = {
      conversation,
      key,
      log: new ChatLog(session.user.sub),
      members: new Map(),
      typists: new Map(),
      spoke: new Map(),
      early: [],
      leave: () => {},
    };
    this.joined = joined;
    if (conversation.kind === 'room') {
      const { room } = conversation;
      const stops = [
        this.connection.subscribe(topics.room(room), (payload) => this.onEvent(joined, payload), 1),
        this.connection.subscribe(topics.typing(room), (payload) => this.onTyping(joined, payload)),
        this.connection.subscribe(topics.presence(room), (payload) => this.onPresence(joined, payload)),
      ];
      joined.leave = () => stops.forEach((stop) => stop());
      this.typingTimer = setInterval(() => this.expireTypists(joined), 1_000);
    }
    this.view.clear();
    renderTyping(this.el.typing, []);
    this.showEmpty('Loading messages…');
    // History is read once the live subscription is in place: a message stored in between would
    // otherwise be in neither until the next one revealed the gap.
    if (conversation.kind === 'room') await this.connection.subscribed(topics.room(conversation.room));
    if (this.joined !== joined) return;
    await this.loadFirstPage(joined);
  }

  /** A DM event from the inbox: taken (true) when its conversation is the one on screen. */
  receive(event: ChatEvent): boolean {
    const joined = this.joined;
    if (!joined || joined.key !== event.room) return false;
    this.take(joined, event);
    return true;
  }

  private async loadFirstPage(joined: Joined): Promise<void> {
    const { conversation } = joined;
    try {
      const [page, presence] = await Promise.all([
        this.api(`${messagesPath(conversation)}?limit=${HISTORY_PAGE}`, historySchema),
        conversation.kind === 'room' ? this.api(`/api/rooms/${conversation.room}/presence`, presenceListSchema) : undefined,
      ]);
      if (this.joined !== joined) return;
      joined.log.loadLatest(page);
      for (const m of presence?.members ?? []) joined.members.set(m.user, m);
      this.renderMembers(joined);
    } catch (err) {
      if (this.joined === joined) this.events.notify(`chat history: ${(err as Error).message}`);
    }
    if (this.joined !== joined) return;
    this.showEmpty(
      conversation.kind === 'room'
        ? 'No messages yet. Say hello!'
        : `This is the start of your conversation with ${conversation.name}. Only the two of you see it.`,
    );
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
    const topic = conversationTopic(joined.conversation, joined.log.self);
    this.connection.publish(topic, { text, ref }, 1).catch((err: Error) => {
      joined.log.fail(ref, err.message);
      if (this.joined === joined) this.render();
    });
  }

  /** The user is typing: tell the room, at most every few seconds (DMs have no typing topic). */
  typing(): void {
    const joined = this.joined;
    if (joined?.conversation.kind !== 'room' || Date.now() - this.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    this.lastTypingSent = Date.now();
    this.connection.publish(topics.typing(joined.conversation.room), {}, 0).catch(() => {});
  }

  /** PATCH with the new text; the room (this page included) then gets the `edit` event. */
  private async edit(entry: ChatEntry, text: string): Promise<void> {
    const joined = this.joined;
    const trimmed = text.trim();
    if (!joined || joined.conversation.kind !== 'room' || entry.seq === undefined) return;
    if (trimmed === '' || trimmed === entry.text) {
      this.view.stopEditing();
      return;
    }
    const path = `/api/rooms/${joined.conversation.room}/messages/${entry.seq}`;
    const done = await this.act('edit: ', path, editSchema, { method: 'PATCH', body: { text: trimmed } });
    if (!done || this.joined !== joined) return;
    this.view.stopEditing();
    joined.log.receive(done);
    this.render();
  }

  private async delete(entry: ChatEntry): Promise<void> {
    const joined = this.joined;
    if (!joined || joined.conversation.kind !== 'room' || entry.seq === undefined) return;
    const path = `/api/rooms/${joined.conversation.room}/messages/${entry.seq}`;
    const done = await this.act('delete: ', path, deleteSchema, { method: 'DELETE' });
    if (!done || this.joined !== joined) return;
    joined.log.receive(done);
    this.render();
  }

  /** Moderators: silences `user` in this room for MUTE_MINUTES. */
  private async mute(user: string, name: string): Promise<void> {
    const joined = this.joined;
    if (!joined || joined.conversation.kind !== 'room') return;
    const until = Date.now() + MUTE_MINUTES * 60_000;
    const path = `/api/rooms/${joined.conversation.room}/mutes`;
    const done = await this.act('mute: ', path, muteSchema, { method: 'POST', body: { user, until } });
    if (done) this.events.notify(`${name} is muted in #${done.room} until ${clock(done.until)}.`);
  }

  /** One moderation call; a refusal is shown with the server's reason. */
  private async act<T>(what: string, path: string, schema: Parameters<typeof apiJson<T>>[1], req: ApiRequest): Promise<T | undefined> {
    try {
      return await apiJson(path, schema, { ...req, token: this.session?.token });
    } catch (err) {
      this.events.notify(`${what}${(err as Error).message}`);
      return undefined;
    }
  }

  private leave(): void {
    this.joined?.leave();
    this.joined = undefined;
    clearInterval(this.typingTimer);
    this.view.clear();
    renderMembers(this.el.members, this.el.memberCount, [], this.viewer());
    this.el.memberCount.textContent = '';
    renderTyping(this.el.typing, []);
    this.el.loadOlder.hidden = true;
  }

  private onEvent(joined: Joined, payload: Uint8Array): void {
    const event = parsePayload(chatEventSchema, payload);
    if (event && this.joined === joined) this.take(joined, event);
  }

  private take(joined: Joined, event: ChatEvent): void {
    if (event.type === 'message') {
      // Whoever just spoke has stopped typing, whether or not history has loaded yet.
      joined.spoke.set(event.user, Date.now());
      if (joined.typists.delete(event.user)) this.renderTypists(joined);
    }
    if (event.type === 'mute' && event.user === this.session?.user.sub) {
      this.events.notify(`You are muted in #${event.room} until ${clock(event.until)}.`);
    }
    if (joined.early) {
      joined.early.push(event);
      return;
    }
    const gap = joined.log.receive(event);
    this.render();
    if (gap) void this.catchUp();
  }

  private onTyping(joined: Joined, payload: Uint8Array): void {
    const who = parsePayload(typingSchema, payload);
    if (!who || who.user === this.session?.user.sub || this.joined !== joined) return;
    if (Date.now() - (joined.spoke.get(who.user) ?? 0) < TYPING_STALE_AFTER_MESSAGE_MS) return;
    joined.typists.set(who.user, { name: who.name, until: Date.now() + TYPING_SHOWN_MS });
    this.renderTypists(joined);
  }

  private onPresence(joined: Joined, payload: Uint8Array): void {
    const change = parsePayload(presenceEventSchema, payload);
    if (!change || this.joined !== joined) return;
    if (change.state === 'online') joined.members.set(change.user, { user: change.user, name: change.name });
    else joined.members.delete(change.user);
    this.renderMembers(joined);
  }

  private renderMembers(joined: Joined): void {
    renderMembers(this.el.members, this.el.memberCount, [...joined.members.values()], this.viewer());
    if (joined.conversation.kind === 'dm') this.el.memberCount.textContent = 'direct message';
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
    renderTyping(
      this.el.typing,
      [...joined.typists.values()].map((t) => t.name),
    );
  }

  private viewer(): Viewer {
    const roles = this.session?.user.roles ?? [];
    return { self: this.session?.user.sub, moderator: roles.includes('moderator'), inRoom: this.joined?.conversation.kind !== 'dm' };
  }

  private showEmpty(text: string): void {
    this.el.empty.textContent = text;
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
            const result = await this.api(`${messagesPath(joined.conversation)}?after=${after}&limit=${CATCH_UP_PAGE}`, historySchema);
            if (this.joined !== joined) break;
            joined.log.loadNewer(result);
            this.render();
            if (!result.has_more) break;
          }
        } catch (err) {
          this.events.notify(`chat: could not fetch missed messages: ${(err as Error).message}`);
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
      const page = await this.api(`${messagesPath(joined.conversation)}?before=${before}&limit=${HISTORY_PAGE}`, historySchema);
      if (this.joined !== joined) return;
      joined.log.loadOlder(page);
      this.render();
    } catch (err) {
      this.events.notify(`chat history: ${(err as Error).message}`);
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
