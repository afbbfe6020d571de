import type { Member } from './chat-events.js';
import type { ChatEntry } from './chat-log.js';

/**
 * Draws a room's log into the `chat-log` list: one `<li>` per message, keyed so that re-rendering
 * updates elements in place (a pending message becomes its confirmed self, never a second row),
 * and a row is rebuilt only when what it shows changed (so an open edit box survives new messages).
 */

/** Consecutive messages from one author within this window share one header. */
const GROUP_MS = 5 * 60_000;
const NEAR_BOTTOM_PX = 48;

/** Who is looking, which decides the controls a row offers. */
export interface Viewer {
  self: string | undefined;
  moderator: boolean;
  /** Edit, delete and mute exist for rooms (docs/protocol.md#chat-api); a DM offers none of them. */
  inRoom: boolean;
}

/** What the controls of a row or a member ask for. */
export interface ChatActions {
  retry(ref: string): void;
  edit(entry: ChatEntry, text: string): void;
  delete(entry: ChatEntry): void;
  dm(user: string, name: string): void;
  mute(user: string, name: string): void;
}

type Action = 'retry' | 'edit' | 'delete' | 'dm' | 'mute';

export class ChatLogView {
  private readonly rows = new Map<string, { row: HTMLLIElement; drawn: string; entry: ChatEntry; continued: boolean }>();
  private editing: { key: string; input: HTMLTextAreaElement } | undefined;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly scroller: HTMLElement,
    private readonly viewer: () => Viewer,
    private readonly actions: ChatActions,
  ) {
    list.addEventListener('click', (e) => this.onClick(e));
    list.addEventListener('keydown', (e) => this.onEditKey(e));
  }

  clear(): void {
    this.rows.clear();
    this.editing = undefined;
    this.list.replaceChildren();
  }

  render(entries: readonly ChatEntry[], opts: { stickToBottom?: boolean } = {}): void {
    const atBottom = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < NEAR_BOTTOM_PX;
    const heightBefore = this.scroller.scrollHeight;
    const firstBefore = this.list.firstElementChild;
    const viewer = this.viewer();
    const keep = new Set<string>();
    let previous: ChatEntry | undefined;
    let cursor: Element | null = this.list.firstElementChild;
    for (const entry of entries) {
      keep.add(entry.key);
      const row = this.drawRow(entry, previous, viewer);
      if (row !== cursor) this.list.insertBefore(row, cursor);
      else cursor = cursor.nextElementSibling;
      previous = entry;
    }
    for (const [key, { row }] of this.rows) {
      if (keep.has(key)) continue;
      row.remove();
      this.rows.delete(key);
    }
    if (atBottom || opts.stickToBottom) this.scroller.scrollTop = this.scroller.scrollHeight;
    else if (firstBefore && this.list.firstElementChild !== firstBefore) {
      // Older messages went in above: keep what the reader was looking at in place.
      this.scroller.scrollTop += this.scroller.scrollHeight - heightBefore;
    }
  }

  /** Closes the edit box (the edit was saved, or abandoned). */
  stopEditing(): void {
    const key = this.editing?.key;
    this.editing = undefined;
    const entry = key === undefined ? undefined : this.rows.get(key)?.entry;
    if (entry) this.redraw(entry);
  }

  private drawRow(entry: ChatEntry, previous: ChatEntry | undefined, viewer: Viewer): HTMLLIElement {
    const continued = previous !== undefined && previous.user === entry.user && entry.ts - previous.ts < GROUP_MS;
    let known = this.rows.get(entry.key);
    if (!known) this.rows.set(entry.key, (known = { row: document.createElement('li'), drawn: '', entry, continued }));
    Object.assign(known, { entry, continued });
    const drawn = this.signature(entry, continued, viewer);
    if (known.drawn !== drawn) {
      fillRow(known.row, entry, { continued, viewer, edit: this.editBox(entry) });
      known.drawn = drawn;
    }
    return known.row;
  }

  /** Rebuilds one row in place (opening or closing its edit box). */
  private redraw(entry: ChatEntry): void {
    const known = this.rows.get(entry.key);
    if (!known) return;
    const viewer = this.viewer();
    fillRow(known.row, entry, { continued: known.continued, viewer, edit: this.editBox(entry) });
    known.drawn = this.signature(entry, known.continued, viewer);
  }

  /** Everything a row shows: equal signatures need no redraw. */
  private signature(entry: ChatEntry, continued: boolean, viewer: Viewer): string {
    return JSON.stringify([entry, continued, viewer, this.editBox(entry) !== undefined]);
  }

  private editBox(entry: ChatEntry): HTMLTextAreaElement | undefined {
    return this.editing?.key === entry.key && !entry.deleted ? this.editing.input : undefined;
  }

  private onClick(e: MouseEvent): void {
    const button = (e.target as HTMLElement).closest<HTMLElement>('[data-action]');
    const key = button?.closest<HTMLElement>('li.msg')?.dataset.key;
    const entry = key === undefined ? undefined : this.rows.get(key)?.entry;
    if (!button || !entry) return;
    switch (button.dataset.action as Action) {
      case 'retry':
        if (entry.ref) this.actions.retry(entry.ref);
        return;
      case 'edit':
        return this.startEditing(entry);
      case 'delete':
        return this.actions.delete(entry);
      case 'dm':
        return this.actions.dm(entry.user, entry.name);
      case 'mute':
        return this.actions.mute(entry.user, entry.name);
    }
  }

  private startEditing(entry: ChatEntry): void {
    if (this.editing) this.stopEditing();
    const input = el('textarea', 'edit-input');
    input.dataset.testid = 'msg-edit-input';
    input.value = entry.text;
    input.rows = Math.min(6, entry.text.split('\n').length);
    input.maxLength = 2000;
    input.setAttribute('aria-label', 'Edit message (Enter saves, Escape cancels)');
    this.editing = { key: entry.key, input };
    this.redraw(entry);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  private onEditKey(e: KeyboardEvent): void {
    const editing = this.editing;
    if (!editing || e.target !== editing.input || e.isComposing) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      this.stopEditing();
      return;
    }
    const entry = this.rows.get(editing.key)?.entry;
    if (e.key !== 'Enter' || e.shiftKey || !entry) return;
    // Enter saves, Shift+Enter is a new line, as in the composer.
    e.preventDefault();
    this.actions.edit(entry, editing.input.value);
  }
}

interface RowContext {
  continued: boolean;
  viewer: Viewer;
  /** The open edit box, when this row is being edited. */
  edit: HTMLTextAreaElement | undefined;
}

function fillRow(row: HTMLLIElement, entry: ChatEntry, ctx: RowContext): void {
  const own = entry.user === ctx.viewer.self;
  row.className = ['msg', own ? 'own' : '', ctx.continued ? 'cont' : '', entry.deleted ? 'deleted' : ''].filter(Boolean).join(' ');
  row.dataset.key = entry.key;
  row.dataset.status = entry.status;
  if (entry.seq !== undefined) row.dataset.seq = String(entry.seq);
  else delete row.dataset.seq;
  row.dataset.user = entry.user;

  const header = el('div', 'meta');
  const author =
    own || !ctx.viewer.inRoom ? el('span', 'author', entry.name) : actionButton('dm', 'author', entry.name, `Message ${entry.name}`, 'dm-start');
  header.append(author, el('time', 'time', clock(entry.ts)));
  if (!ctx.continued) header.prepend(avatar(entry.user, entry.name));
  const parts: Node[] = [header, ctx.edit ?? body(entry)];
  if (entry.status === 'pending') parts.push(el('div', 'note', 'sending…'));
  if (entry.status === 'failed') {
    const note = el('div', 'note error', `not sent: ${entry.error ?? 'refused'} `);
    note.append(actionButton('retry', 'retry', 'Retry'));
    parts.push(note);
  }
  if (ctx.edit) parts.push(el('div', 'note', 'Enter saves · Escape cancels'));
  const controls = ctx.edit ? [] : rowActions(entry, own, ctx.viewer);
  if (controls.length > 0) {
    const group = el('div', 'actions');
    group.append(...controls);
    parts.push(group);
  }
  row.replaceChildren(...parts);
  row.title = new Date(entry.ts).toLocaleString();
}

function body(entry: ChatEntry): HTMLElement {
  const text = el('div', 'text', entry.deleted ? 'message deleted' : entry.text);
  if (entry.edited && !entry.deleted) text.append(el('span', 'edited', ' (edited)'));
  return text;
}

/** Edit your own message; delete your own (or, as a moderator, anyone's); mute its author (moderators). */
function rowActions(entry: ChatEntry, own: boolean, viewer: Viewer): HTMLElement[] {
  if (!viewer.inRoom || entry.status !== 'confirmed' || entry.deleted) return [];
  const controls: HTMLElement[] = [];
  if (own) controls.push(actionButton('edit', 'row-action', 'Edit', 'Edit your message', 'msg-edit'));
  if (own || viewer.moderator) controls.push(actionButton('delete', 'row-action', 'Delete', 'Delete this message', 'msg-delete'));
  if (!own && viewer.moderator) controls.push(actionButton('mute', 'row-action', 'Mute', `Mute ${entry.name} in this room`, 'mute'));
  return controls;
}

export function renderMembers(list: HTMLElement, count: HTMLElement, members: readonly Member[], viewer: Viewer): void {
  const sorted = [...members].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(
    ...sorted.map((m) => {
      const li = el('li', 'member');
      li.dataset.user = m.user;
      li.dataset.name = m.name;
      const own = m.user === viewer.self;
      const name = own ? el('span', 'member-name', `${m.name} (you)`) : actionButton('dm', 'member-name', m.name, `Message ${m.name}`, 'dm-start');
      li.append(avatar(m.user, m.name), name);
      if (!own && viewer.moderator) li.append(actionButton('mute', 'member-mute', 'Mute', `Mute ${m.name} in this room`, 'mute'));
      return li;
    }),
  );
  count.textContent = `${members.length} online`;
}

/** The member a click in the members list is about, and what for. */
export function memberAction(e: MouseEvent): { action: 'dm' | 'mute'; user: string; name: string } | undefined {
  const button = (e.target as HTMLElement).closest<HTMLElement>('[data-action]');
  const member = button?.closest<HTMLElement>('li.member');
  const action = button?.dataset.action;
  if (!member || (action !== 'dm' && action !== 'mute')) return undefined;
  return { action, user: member.dataset.user ?? '', name: member.dataset.name ?? '' };
}

export function renderTyping(target: HTMLElement, names: readonly string[]): void {
  if (names.length === 0) target.textContent = '';
  else if (names.length === 1) target.textContent = `${names[0]} is typing…`;
  else if (names.length === 2) target.textContent = `${names[0]} and ${names[1]} are typing…`;
  else target.textContent = 'Several people are typing…';
}

function actionButton(action: Action, className: string, text: string, title?: string, testId?: string): HTMLButtonElement {
  const button = el('button', className, text);
  button.type = 'button';
  button.dataset.action = action;
  if (title) button.title = title;
  if (testId) button.dataset.testid = testId;
  return button;
}

function avatar(user: string, name: string): HTMLElement {
  const a = el('span', 'avatar', (name.trim()[0] ?? '?').toUpperCase());
  a.style.setProperty('--hue', String(hue(user)));
  a.setAttribute('aria-hidden', 'true');
  return a;
}

/** A stable colour per user id. */
function hue(user: string): number {
  let h = 0;
  for (const c of user) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

export function clock(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
