import type { Resolution } from '../../protocol/names.js';
import { apiJson } from './api.js';
import { roomsSchema, sessionOptionsSchema } from './chat-events.js';
import { ChatRoom } from './chat-room.js';
import { ChartView, RESOLUTION_LABELS } from './chart-view.js';
import { MqttConnection, brokerUrl, type ConnectionState, type Credentials } from './connection.js';
import { conversationLabel, type Conversation } from './conversation.js';
import { DmInbox } from './dm-inbox.js';
import { PriceView } from './price-view.js';
import { RoomPicker, type Pick } from './room-picker.js';
import { guestSignIn, savedSession, saveSession, sessionFromToken, type Session } from './session.js';
import { claimTabId } from './tab-id.js';
import { UdfClient } from './udf.js';

/** The page: composes the one MQTT connection, the chart with its quote, and the chat room. */

/** The resolution switch offers 1s to 1D; weeks and months stay with the TradingView datafeed. */
const RESOLUTION_BUTTONS: Resolution[] = ['1S', '1', '5', '15', '30', '60', '240', '1D'];
const DEFAULT_RESOLUTION: Resolution = '1S';
const DEFAULT_SYMBOL = 'EURUSD';
const DEFAULT_ROOM = 'lobby';
const PREFS = { symbol: 'ticktalk.symbol', resolution: 'ticktalk.resolution', room: 'ticktalk.room' };

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el as T;
}

const ui = {
  symbol: byId<HTMLSelectElement>('symbol'),
  resolutions: byId<HTMLElement>('resolutions'),
  chart: byId<HTMLElement>('chart'),
  status: byId<HTMLElement>('status'),
  statusText: byId<HTMLElement>('status-text'),
  me: byId<HTMLElement>('me'),
  meName: byId<HTMLElement>('me-name'),
  signout: byId<HTMLButtonElement>('signout'),
  chatTitle: byId<HTMLElement>('chat-title'),
  signin: byId<HTMLFormElement>('signin'),
  signinGuest: byId<HTMLElement>('signin-guest'),
  signinTokenBox: byId<HTMLDetailsElement>('signin-token-box'),
  signinName: byId<HTMLInputElement>('signin-name'),
  signinSubmit: byId<HTMLButtonElement>('signin-submit'),
  signinToken: byId<HTMLInputElement>('signin-token'),
  tokenSubmit: byId<HTMLButtonElement>('token-submit'),
  signinError: byId<HTMLElement>('signin-error'),
  composer: byId<HTMLFormElement>('composer'),
  input: byId<HTMLTextAreaElement>('chat-input'),
  toast: byId<HTMLElement>('toast'),
};

let toastTimer: ReturnType<typeof setTimeout> | undefined;
function notify(message: string): void {
  ui.toast.textContent = message;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (ui.toast.hidden = true), 5_000);
}

const STATE_TEXT: Record<ConnectionState, string> = {
  connecting: 'connecting',
  online: 'live',
  offline: 'reconnecting',
  refused: 'not authorized',
};

let session: Session | undefined;
let everConnected = false;
let tabId: Promise<string> | undefined;

const connection = new MqttConnection(brokerUrl(location), {
  state: (state, detail) => {
    ui.status.dataset.state = state;
    // The server's own reason (MQTT 5 Reason String), when it gave one: "reconnecting (session taken over)".
    ui.statusText.textContent = detail ? `${STATE_TEXT[state]} (${detail})` : STATE_TEXT[state];
    if (state === 'refused') void onRefused(detail);
  },
  connected: () => {
    chat.onReconnected();
    // The first connect is the page load (the chart loads its own history); later ones may have missed bars.
    if (everConnected) chart.resync();
    everConnected = true;
  },
  denied: (topic) => notify(`not allowed to subscribe to ${topic}`),
});

const udf = new UdfClient({ baseUrl: '/udf' });
const chart = new ChartView(ui.chart, { udf, subscriber: connection, onError: notify });
const price = new PriceView(
  { last: byId('last-price'), bid: byId('bid'), ask: byId('ask'), spread: byId('spread') },
  connection,
  (symbol, text) => (document.title = `${text} ${symbol} · ticktalk`),
);
const chat = new ChatRoom(
  connection,
  {
    log: byId('chat-log'),
    scroller: byId('chat-scroll'),
    members: byId('members'),
    memberCount: byId('member-count'),
    typing: byId('typing'),
    loadOlder: byId('load-older'),
    empty: byId('chat-empty'),
  },
  { notify, startDm: (user, name) => openDm(user, name) },
);
const inbox = new DmInbox(
  connection,
  (event) => chat.receive(event),
  () => picker.showDms(inbox.list()),
);
const picker = new RoomPicker(
  {
    picker: byId('room-picker'),
    select: byId('room'),
    toggle: byId('room-add'),
    form: byId('room-new'),
    search: byId('room-search'),
    suggestions: byId('room-suggestions'),
    unread: byId('dm-unread'),
  },
  {
    fetchRooms: (query) => apiJson(`/api/rooms?${query}`, roomsSchema, { token: session?.token }),
    picked: (pick: Pick) => (pick.kind === 'room' ? joinRoom(pick.room) : openDm(pick.user)),
    notify,
  },
);

// ---- market ----

let resolution: Resolution = (localStorage.getItem(PREFS.resolution) as Resolution | null) ?? DEFAULT_RESOLUTION;
const precisions = new Map<string, number>();

async function precisionOf(symbol: string): Promise<number> {
  const known = precisions.get(symbol);
  if (known !== undefined) return known;
  const info = await udf.symbol(symbol).catch(() => undefined);
  const precision = info ? Math.max(0, Math.round(Math.log10(info.pricescale))) : 5;
  precisions.set(symbol, precision);
  return precision;
}

async function showMarket(): Promise<void> {
  const symbol = ui.symbol.value;
  if (!symbol) return;
  localStorage.setItem(PREFS.symbol, symbol);
  localStorage.setItem(PREFS.resolution, resolution);
  for (const button of ui.resolutions.querySelectorAll('button'))
    button.setAttribute('aria-pressed', String(button.dataset.resolution === resolution));
  const precision = await precisionOf(symbol);
  if (ui.symbol.value !== symbol) return;
  price.show(symbol, precision);
  await chart.show({ symbol, resolution, precision });
}

async function loadSymbols(): Promise<void> {
  const symbols = await udf.search('', { limit: 100 });
  ui.symbol.replaceChildren(
    ...symbols.map((s) => {
      const option = new Option(s.symbol, s.symbol);
      option.title = s.description;
      return option;
    }),
  );
  const saved = localStorage.getItem(PREFS.symbol);
  const preferred = [saved, DEFAULT_SYMBOL].find((s) => s && symbols.some((x) => x.symbol === s));
  if (preferred) ui.symbol.value = preferred;
}

for (const value of RESOLUTION_BUTTONS) {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = RESOLUTION_LABELS[value];
  button.dataset.resolution = value;
  button.addEventListener('click', () => {
    resolution = value;
    void showMarket();
  });
  ui.resolutions.append(button);
}
if (!RESOLUTION_BUTTONS.includes(resolution)) resolution = DEFAULT_RESOLUTION;
ui.symbol.addEventListener('change', () => void showMarket());

// ---- identity ----

async function credentials(s: Session): Promise<Credentials> {
  tabId ??= claimTabId();
  return { clientId: `web-${s.user.sub}-${await tabId}`, username: s.user.sub, token: s.token };
}

async function signIn(next: Session): Promise<void> {
  session = next;
  saveSession(next);
  showSignedIn(next);
  await connection.open(await credentials(next));
  await enterChat(next);
}

/** The chat of a signed-in page: its DMs, the room list, and the room it was in last. */
async function enterChat(s: Session): Promise<void> {
  chat.setSession(s);
  inbox.setSession(s);
  await picker.load();
  joinRoom(localStorage.getItem(PREFS.room) ?? DEFAULT_ROOM);
}

async function signOut(message?: string): Promise<void> {
  session = undefined;
  saveSession(undefined);
  chat.setSession(undefined);
  inbox.setSession(undefined);
  showSignedOut(message);
  await connection.open();
}

async function onRefused(detail: string | undefined): Promise<void> {
  if (session) await signOut(`Your session is no longer valid${detail ? ` (${detail})` : ''}. Sign in again.`);
  else notify(`The server refused an anonymous connection (${detail ?? 'not authorized'}): sign in to see live prices.`);
}

function showSignedIn(s: Session): void {
  ui.signin.hidden = true;
  ui.composer.hidden = false;
  ui.me.hidden = false;
  ui.meName.textContent = s.user.name;
  ui.chatTitle.hidden = true;
  picker.setEnabled(true);
  ui.signinError.textContent = '';
}

function showSignedOut(message?: string): void {
  ui.signin.hidden = false;
  ui.composer.hidden = true;
  ui.me.hidden = true;
  ui.chatTitle.hidden = false;
  picker.setEnabled(false);
  ui.signinError.textContent = message ?? '';
}

ui.signin.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ui.signinName.value.trim();
  if (!name) return;
  ui.signinSubmit.disabled = true;
  guestSignIn(name)
    .then(signIn)
    .catch((err: Error) => (ui.signinError.textContent = `Could not sign in: ${err.message}`))
    .finally(() => (ui.signinSubmit.disabled = false));
});

ui.signinToken.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  e.preventDefault();
  ui.tokenSubmit.click();
});

ui.tokenSubmit.addEventListener('click', () => {
  try {
    void signIn(sessionFromToken(ui.signinToken.value));
    ui.signinToken.value = '';
  } catch (err) {
    ui.signinError.textContent = (err as Error).message;
  }
});

ui.signout.addEventListener('click', () => void signOut());

/** Guest sign-in is offered only when the server has it on (AUTH_GUEST); otherwise a token is the way in. */
async function showSignInOptions(): Promise<void> {
  const guest = await apiJson('/api/session/options', sessionOptionsSchema)
    .then((o) => o.guest)
    .catch(() => true);
  ui.signinGuest.hidden = !guest;
  // A hidden required field would block the form (and complain in the console).
  ui.signinName.required = guest;
  ui.signinTokenBox.open = !guest;
}

// ---- conversations and composer ----

function joinRoom(room: string): void {
  localStorage.setItem(PREFS.room, room);
  picker.showRoom(room);
  show({ kind: 'room', room });
}

function openDm(user: string, name?: string): void {
  if (!session || user === session.user.sub) return;
  const known = name ?? inbox.get(user)?.name ?? user;
  inbox.opened(user, known);
  picker.showDm(user);
  show({ kind: 'dm', other: user, name: known });
}

function show(conversation: Conversation): void {
  ui.input.placeholder = `Message ${conversationLabel(conversation)}`;
  void chat.join(conversation);
}

function sendComposer(): void {
  chat.send(ui.input.value);
  ui.input.value = '';
  autosize();
}

function autosize(): void {
  ui.input.style.height = 'auto';
  ui.input.style.height = `${ui.input.scrollHeight + 2}px`;
}

ui.input.addEventListener('keydown', (e) => {
  // Enter sends; Shift+Enter is a new line; Enter while composing (IME) is not a send.
  if (e.key !== 'Enter' || e.shiftKey || e.isComposing) return;
  e.preventDefault();
  sendComposer();
});
ui.input.addEventListener('input', () => {
  autosize();
  if (ui.input.value.trim()) chat.typing();
});
ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  sendComposer();
});

// ---- start ----

async function start(): Promise<void> {
  session = savedSession();
  tabId = claimTabId();
  const signInOptions = showSignInOptions();
  if (session) {
    showSignedIn(session);
    await connection.open(await credentials(session));
  } else {
    showSignedOut();
    await connection.open();
  }
  const market = loadSymbols()
    .then(showMarket)
    .catch((err: Error) => notify(`symbols: ${err.message}`));
  if (session) await enterChat(session);
  await Promise.all([market, signInOptions]);
}

void start();
