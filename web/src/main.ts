import { ROOM_PATTERN, type Resolution } from '../../protocol/names.js';
import { apiJson } from './api.js';
import { roomsSchema } from './chat-events.js';
import { ChatRoom } from './chat-room.js';
import { ChartView, RESOLUTION_LABELS } from './chart-view.js';
import { MqttConnection, brokerUrl, type ConnectionState, type Credentials } from './connection.js';
import { PriceView } from './price-view.js';
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
  room: byId<HTMLSelectElement>('room'),
  roomAdd: byId<HTMLButtonElement>('room-add'),
  roomNew: byId<HTMLFormElement>('room-new'),
  roomNewName: byId<HTMLInputElement>('room-new-name'),
  me: byId<HTMLElement>('me'),
  meName: byId<HTMLElement>('me-name'),
  signout: byId<HTMLButtonElement>('signout'),
  signin: byId<HTMLFormElement>('signin'),
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
    ui.statusText.textContent = STATE_TEXT[state];
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
  },
  notify,
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
  for (const button of ui.resolutions.querySelectorAll('button')) button.setAttribute('aria-pressed', String(button.dataset.resolution === resolution));
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
  chat.setSession(next);
  await loadRooms();
  await chat.join(ui.room.value);
}

async function signOut(message?: string): Promise<void> {
  session = undefined;
  saveSession(undefined);
  chat.setSession(undefined);
  showSignedOut(message);
  await connection.open();
}

async function onRefused(detail: string | undefined): Promise<void> {
  if (session) await signOut('Your session is no longer valid. Sign in again.');
  else notify(`The server refused an anonymous connection (${detail ?? 'not authorized'}): sign in to see live prices.`);
}

function showSignedIn(s: Session): void {
  ui.signin.hidden = true;
  ui.composer.hidden = false;
  ui.me.hidden = false;
  ui.meName.textContent = s.user.name;
  ui.room.disabled = false;
  ui.roomAdd.disabled = false;
  ui.signinError.textContent = '';
}

function showSignedOut(message?: string): void {
  ui.signin.hidden = false;
  ui.composer.hidden = true;
  ui.me.hidden = true;
  ui.room.disabled = true;
  ui.roomAdd.disabled = true;
  ui.roomNew.hidden = true;
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

ui.tokenSubmit.addEventListener('click', () => {
  try {
    void signIn(sessionFromToken(ui.signinToken.value));
    ui.signinToken.value = '';
  } catch (err) {
    ui.signinError.textContent = (err as Error).message;
  }
});

ui.signout.addEventListener('click', () => void signOut());

// ---- rooms and composer ----

function addRoomOption(room: string): void {
  if (![...ui.room.options].some((o) => o.value === room)) ui.room.append(new Option(room, room));
}

async function loadRooms(): Promise<void> {
  const wanted = localStorage.getItem(PREFS.room) ?? DEFAULT_ROOM;
  try {
    const { rooms } = await apiJson('/api/rooms', roomsSchema, { token: session?.token });
    ui.room.replaceChildren();
    for (const r of rooms) addRoomOption(r.room);
  } catch (err) {
    notify(`rooms: ${(err as Error).message}`);
  }
  addRoomOption(DEFAULT_ROOM);
  addRoomOption(wanted);
  ui.room.value = wanted;
  ui.input.placeholder = `Message #${wanted}`;
}

function joinRoom(room: string): void {
  localStorage.setItem(PREFS.room, room);
  ui.input.placeholder = `Message #${room}`;
  void chat.join(room);
}

ui.room.addEventListener('change', () => joinRoom(ui.room.value));

ui.roomAdd.addEventListener('click', () => {
  ui.roomNew.hidden = !ui.roomNew.hidden;
  if (!ui.roomNew.hidden) ui.roomNewName.focus();
});

ui.roomNew.addEventListener('submit', (e) => {
  e.preventDefault();
  const room = ui.roomNewName.value.trim().toLowerCase();
  if (!ROOM_PATTERN.test(room)) {
    notify('Room names are lower-case letters, digits, "-" and "_" (up to 64).');
    return;
  }
  addRoomOption(room);
  ui.room.value = room;
  ui.roomNewName.value = '';
  ui.roomNew.hidden = true;
  joinRoom(room);
});

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
  if (session) {
    showSignedIn(session);
    await connection.open(await credentials(session));
    chat.setSession(session);
  } else {
    showSignedOut();
    await connection.open();
  }
  const market = loadSymbols()
    .then(showMarket)
    .catch((err: Error) => notify(`symbols: ${err.message}`));
  if (session) {
    await loadRooms();
    await chat.join(ui.room.value);
  }
  await market;
}

void start();
