import type { Member } from './chat-events.js';
import type { ChatEntry } from './chat-log.js';

/**
 * Draws a room's log into the `chat-log` list: one `<li>` per message, keyed so that re-rendering
 * updates elements in place (a pending message becomes its confirmed self, never a second row).
 */

/** Consecutive messages from one author within this window share one header. */
const GROUP_MS = 5 * 60_000;
const NEAR_BOTTOM_PX = 48;

export class ChatLogView {
  private readonly rows = new Map<string, HTMLLIElement>();

  constructor(
    private readonly list: HTMLOListElement,
    private readonly scroller: HTMLElement,
    private readonly self: () => string | undefined,
  ) {}

  clear(): void {
    this.rows.clear();
    this.list.replaceChildren();
  }

  render(entries: readonly ChatEntry[], opts: { stickToBottom?: boolean } = {}): void {
    const atBottom = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < NEAR_BOTTOM_PX;
    const heightBefore = this.scroller.scrollHeight;
    const firstBefore = this.list.firstElementChild;
    const keep = new Set<string>();
    let previous: ChatEntry | undefined;
    let cursor: Element | null = this.list.firstElementChild;
    for (const entry of entries) {
      keep.add(entry.key);
      let row = this.rows.get(entry.key);
      if (!row) {
        row = document.createElement('li');
        this.rows.set(entry.key, row);
      }
      fillRow(row, entry, previous, entry.user === this.self());
      if (row !== cursor) this.list.insertBefore(row, cursor);
      else cursor = cursor.nextElementSibling;
      previous = entry;
    }
    for (const [key, row] of this.rows) {
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
}

function fillRow(row: HTMLLIElement, entry: ChatEntry, previous: ChatEntry | undefined, own: boolean): void {
  const continued = previous !== undefined && previous.user === entry.user && entry.ts - previous.ts < GROUP_MS;
  row.className = ['msg', own ? 'own' : '', continued ? 'cont' : '', entry.deleted ? 'deleted' : ''].filter(Boolean).join(' ');
  row.dataset.status = entry.status;
  if (entry.seq !== undefined) row.dataset.seq = String(entry.seq);
  else delete row.dataset.seq;
  row.dataset.user = entry.user;

  const header = el('div', 'meta');
  header.append(el('span', 'author', entry.name), el('time', 'time', clock(entry.ts)));
  if (!continued) header.prepend(avatar(entry.user, entry.name));
  const body = el('div', 'text', entry.deleted ? 'message deleted' : entry.text);
  if (entry.edited && !entry.deleted) body.append(el('span', 'edited', ' (edited)'));
  const parts: Node[] = [header, body];
  if (entry.status === 'pending') parts.push(el('div', 'note', 'sending…'));
  if (entry.status === 'failed') {
    const note = el('div', 'note error', `not sent: ${entry.error ?? 'refused'} `);
    const retry = el('button', 'retry', 'Retry');
    retry.type = 'button';
    retry.dataset.retry = entry.ref ?? '';
    note.append(retry);
    parts.push(note);
  }
  row.replaceChildren(...parts);
  row.title = new Date(entry.ts).toLocaleString();
}

export function renderMembers(list: HTMLElement, count: HTMLElement, members: readonly Member[]): void {
  const sorted = [...members].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(
    ...sorted.map((m) => {
      const li = el('li', 'member');
      li.dataset.user = m.user;
      li.append(avatar(m.user, m.name), el('span', 'member-name', m.name));
      return li;
    }),
  );
  count.textContent = `${members.length} online`;
}

export function renderTyping(target: HTMLElement, names: readonly string[]): void {
  if (names.length === 0) target.textContent = '';
  else if (names.length === 1) target.textContent = `${names[0]} is typing…`;
  else if (names.length === 2) target.textContent = `${names[0]} and ${names[1]} are typing…`;
  else target.textContent = 'Several people are typing…';
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

function clock(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
