import { ROOM_PATTERN } from '../../protocol/names.js';
import type { RoomsPage } from './chat-events.js';
import type { DmPeer } from './dm-inbox.js';

/**
 * The conversation switcher. The `room` select lists a page of rooms by name ("More rooms…"
 * appends the next page) and the DM conversations with their unread counts; the room search asks
 * the server by prefix as you type and offers the matches, and Enter joins (or opens) the room
 * typed. However many rooms exist, one page is fetched and drawn at a time, as one fragment.
 */

const PAGE = 50;
const SEARCH_LIMIT = 20;
const SEARCH_DELAY_MS = 200;
/** Values no room name can take (docs/protocol.md#conventions: rooms match [a-z0-9][a-z0-9_-]{0,63}). */
const MORE = ':more';
const DM = '@';

export type Pick = { kind: 'room'; room: string } | { kind: 'dm'; user: string };

export interface RoomPickerElements {
  /** What holds the select. */
  picker: HTMLElement;
  select: HTMLSelectElement;
  /** The "+" button that opens the search. */
  toggle: HTMLButtonElement;
  form: HTMLFormElement;
  search: HTMLInputElement;
  suggestions: HTMLDataListElement;
  /** The unread direct messages mark; opens the first of them. */
  unread: HTMLButtonElement;
}

export interface RoomPickerEvents {
  /** `GET /api/rooms?{query}` */
  fetchRooms(query: string): Promise<RoomsPage>;
  picked(pick: Pick): void;
  notify(message: string): void;
}

export class RoomPicker {
  private readonly rooms = document.createElement('optgroup');
  private readonly dms = document.createElement('optgroup');
  private readonly more = new Option('More rooms…', MORE);
  private readonly listed = new Set<string>();
  private next: string | undefined;
  /** The value of the conversation on screen (the select shows it again after "More rooms…"). */
  private value = '';
  private searchTimer: ReturnType<typeof setTimeout> | undefined;
  private searches = 0;

  constructor(
    private readonly el: RoomPickerElements,
    private readonly events: RoomPickerEvents,
  ) {
    this.rooms.label = 'Rooms';
    this.dms.label = 'Direct messages';
    el.select.replaceChildren(this.rooms);
    el.select.addEventListener('change', () => void this.changed());
    el.toggle.addEventListener('click', () => {
      el.form.hidden = !el.form.hidden;
      if (!el.form.hidden) el.search.focus();
    });
    el.search.addEventListener('input', () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => void this.search(), SEARCH_DELAY_MS);
    });
    el.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.joinTyped();
    });
    el.unread.addEventListener('click', () => {
      const user = el.unread.dataset.user;
      if (user) this.pick(`${DM}${user}`);
    });
  }

  /** Signed out there is nothing to pick. */
  setEnabled(enabled: boolean): void {
    this.el.picker.hidden = !enabled;
    this.el.select.disabled = !enabled;
    this.el.toggle.hidden = !enabled;
    if (!enabled) {
      this.el.form.hidden = true;
      this.el.unread.hidden = true;
    }
  }

  /** The first page of rooms, replacing whatever was listed. */
  async load(): Promise<void> {
    this.listed.clear();
    this.next = undefined;
    this.rooms.replaceChildren();
    try {
      await this.loadPage();
    } catch (err) {
      this.events.notify(`rooms: ${(err as Error).message}`);
    }
  }

  /** Shows `room` as the conversation on screen, listing it first when no page held it. */
  showRoom(room: string): void {
    if (!this.listed.has(room)) {
      this.listed.add(room);
      this.rooms.prepend(new Option(room, room));
    }
    this.show(room);
  }

  /** Shows the DM with `user` as on screen (list it with showDms first). */
  showDm(user: string): void {
    this.show(`${DM}${user}`);
  }

  /** Redraws the DM conversations (a bounded list) and the unread mark. */
  showDms(peers: readonly DmPeer[]): void {
    this.dms.replaceChildren(...peers.map((p) => new Option(p.unread > 0 ? `@${p.name} · ${p.unread} new` : `@${p.name}`, `${DM}${p.user}`)));
    if (peers.length === 0) this.dms.remove();
    else if (!this.dms.isConnected) this.el.select.append(this.dms);
    this.el.select.value = this.value;
    const unread = peers.filter((p) => p.unread > 0);
    const total = unread.reduce((sum, p) => sum + p.unread, 0);
    this.el.unread.hidden = total === 0;
    this.el.unread.textContent = `✉ ${total}`;
    this.el.unread.title = `Unread direct messages from ${unread.map((p) => p.name).join(', ')}`;
    this.el.unread.setAttribute('aria-label', this.el.unread.title);
    if (unread[0]) this.el.unread.dataset.user = unread[0].user;
    else delete this.el.unread.dataset.user;
  }

  private show(value: string): void {
    this.value = value;
    this.el.select.value = value;
  }

  private async loadPage(): Promise<void> {
    const page = await this.events.fetchRooms(`limit=${PAGE}${this.next ? `&after=${this.next}` : ''}`);
    const fragment = document.createDocumentFragment();
    for (const { room } of page.rooms) {
      if (this.listed.has(room)) continue;
      this.listed.add(room);
      fragment.append(new Option(room, room));
    }
    this.more.remove();
    this.rooms.append(fragment);
    this.next = page.has_more ? page.next : undefined;
    if (this.next) this.rooms.append(this.more);
  }

  private async changed(): Promise<void> {
    const value = this.el.select.value;
    if (value !== MORE) return this.pick(value);
    this.el.select.value = this.value;
    try {
      await this.loadPage();
    } catch (err) {
      this.events.notify(`rooms: ${(err as Error).message}`);
    }
  }

  private pick(value: string): void {
    this.show(value);
    this.events.picked(value.startsWith(DM) ? { kind: 'dm', user: value.slice(DM.length) } : { kind: 'room', room: value });
  }

  /** Rooms starting with what was typed, offered under the search box. */
  private async search(): Promise<void> {
    const prefix = this.el.search.value.trim().toLowerCase();
    const asked = ++this.searches;
    if (!/^[a-z0-9_-]{1,64}$/.test(prefix)) {
      this.el.suggestions.replaceChildren();
      return;
    }
    try {
      const page = await this.events.fetchRooms(`q=${prefix}&limit=${SEARCH_LIMIT}`);
      if (asked === this.searches) this.el.suggestions.replaceChildren(...page.rooms.map((r) => new Option(r.room)));
    } catch (err) {
      this.events.notify(`room search: ${(err as Error).message}`);
    }
  }

  private joinTyped(): void {
    const room = this.el.search.value.trim().toLowerCase();
    if (!ROOM_PATTERN.test(room)) {
      this.events.notify('Room names are lower-case letters, digits, "-" and "_" (up to 64).');
      return;
    }
    this.el.search.value = '';
    this.el.suggestions.replaceChildren();
    this.el.form.hidden = true;
    this.showRoom(room);
    this.pick(room);
  }
}
