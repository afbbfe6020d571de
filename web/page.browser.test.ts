import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../test/testing/app.js';
import { startTopology, type Topology } from '../test/testing/topology.js';

/**
 * The page end to end: the real server (every role, built-in feed simulator, guest sign-in) and
 * Debian's Chromium driven by playwright-core. Two browser contexts are two people.
 */

const CHROMIUM = '/usr/bin/chromium';
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const shots = join(root, 'test-results', 'web');

/** A page and what it did: every MQTT WebSocket it opened, and any uncaught error or console error. */
interface Watched {
  page: Page;
  sockets: { opened: number; open: number; maxOpen: number };
  /** The protocol level of every MQTT CONNECT the page sent (5: MQTT 5). */
  connectLevels: number[];
  errors: string[];
}

/** The protocol level of an MQTT CONNECT frame (after the fixed header and the "MQTT" name), or none. */
function connectLevel(frame: string | Buffer): number | undefined {
  const bytes = typeof frame === 'string' ? Buffer.from(frame, 'latin1') : frame;
  if (bytes[0] !== 0x10) return undefined;
  let at = 1;
  while (((bytes[at] ?? 0) & 0x80) !== 0) at++;
  return bytes[at + 1 + 6];
}

async function openPage(context: BrowserContext, url: string): Promise<Watched> {
  const page = await context.newPage();
  const watched: Watched = { page, sockets: { opened: 0, open: 0, maxOpen: 0 }, connectLevels: [], errors: [] };
  page.on('pageerror', (err) => watched.errors.push(err.message));
  page.on('console', (message) => {
    if (message.type() === 'error') watched.errors.push(`console: ${message.text()}`);
  });
  page.on('websocket', (ws) => {
    const s = watched.sockets;
    s.opened++;
    s.open++;
    s.maxOpen = Math.max(s.maxOpen, s.open);
    ws.on('close', () => s.open--);
    ws.on('framesent', ({ payload }) => {
      const level = connectLevel(payload);
      if (level !== undefined) watched.connectLevels.push(level);
    });
  });
  await page.goto(url);
  return watched;
}

/** Pixels on the chart's canvases in the candle colours: proof that candles were drawn. */
function candlePixels(page: Page): Promise<number> {
  return page.getByTestId('chart').evaluate((chart) => {
    let count = 0;
    for (const canvas of chart.querySelectorAll('canvas')) {
      const ctx = canvas.getContext('2d');
      if (!ctx || canvas.width === 0 || canvas.height === 0) continue;
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
        if ((r === 0x26 && g === 0xa6 && b === 0x9a) || (r === 0xef && g === 0x53 && b === 0x50)) count++;
      }
    }
    return count;
  });
}

async function signIn(page: Page, name: string): Promise<void> {
  await page.getByTestId('signin-name').fill(name);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('chat-input').waitFor({ state: 'visible' });
}

/** Signs in with a pasted token (how users of an identity provider, and moderators, sign in). */
async function signInWithToken(page: Page, token: string): Promise<void> {
  const box = page.locator('#signin-token-box');
  if ((await box.getAttribute('open')) === null) await box.locator('summary').click();
  await page.getByTestId('signin-token').fill(token);
  await page.getByTestId('token-submit').click();
  await page.getByTestId('chat-input').waitFor({ state: 'visible' });
}

/** Joins (creating) a room through the room search, as a person would. */
async function goToRoom(page: Page, room: string): Promise<void> {
  await page.locator('#room-add').click();
  await page.getByTestId('room-search').fill(room);
  await page.getByTestId('room-search').press('Enter');
  await eventually(() => page.getByTestId('room').inputValue(), `in #${room}`).toBe(room);
  await eventually(() => page.getByTestId('chat-empty').textContent(), `#${room} loaded`).not.toBe('Loading messages…');
}

/** The row of the message with this text (its `.text`, without the "(edited)" mark). */
function row(page: Page, text: string) {
  return page.getByTestId('chat-log').locator('li.msg', { has: page.locator('.text', { hasText: new RegExp(`^${text}( \\(edited\\))?$`) }) });
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-input').press('Enter');
}

/** The chat log as (author-visible) texts, one per child element. */
function logTexts(page: Page): Promise<string[]> {
  return page.getByTestId('chat-log').evaluate((log) => [...log.children].map((li) => li.querySelector('.text')?.textContent ?? ''));
}

async function waitForLog(page: Page, predicate: (texts: string[]) => boolean, what: string): Promise<void> {
  await eventually(() => logTexts(page), what).toSatisfy(predicate);
}

/** The log and the typing line read together, at the first moment the log holds `text`. */
async function whenLogHas(page: Page, text: string): Promise<{ texts: string[]; typing: string }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const state = await page.evaluate(() => ({
      texts: [...document.querySelectorAll('#chat-log > li .text')].map((e) => e.textContent ?? ''),
      typing: document.getElementById('typing')?.textContent ?? '',
    }));
    if (state.texts.includes(text) || Date.now() > deadline) return state;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls until the assertion holds (the page is live: everything arrives a moment later). */
function eventually<T>(read: () => Promise<T> | T, what: string) {
  return expect.poll(read, { timeout: 15_000, interval: 100, message: what });
}

const DESKTOP = { viewport: { width: 1360, height: 820 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const browserMissing = !existsSync(CHROMIUM);
if (browserMissing) console.warn(`web/page.browser.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

let browser: Browser;

/** One Chromium for the file: each person gets a context of their own. */
beforeAll(async () => {
  if (browserMissing) return;
  // The page under test is the current source, bundled as `npm run build` does.
  execFileSync(process.execPath, [join(root, 'web', 'build.mjs')], { stdio: 'pipe' });
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // playwright gives every launch a fresh, temporary user-data-dir.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 180_000);
afterAll(() => browser?.close());

// Each test's people leave with it (a page left open keeps drawing live candles).
afterEach(async () => {
  await Promise.all(browser?.contexts().map((c) => c.close()) ?? []);
});

describe.skipIf(browserMissing)('web page in Chromium', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ FEED_SIM: 'on', FEED_SIM_RATE: '20', AUTH_GUEST: 'on', SYMBOLS: 'EURUSD,BTCUSD' }, [
      'broker',
      'bridge',
      'ohlcv',
      'web',
    ]);
  }, 180_000);

  /** Someone on a page of their own, signed in (as a guest by name, or with a token) and in `room`. */
  async function person(room: string, as: string | { token: string }, device: BrowserContextOptions = DESKTOP): Promise<Watched> {
    const watched = await openPage(await browser.newContext(device), app.httpUrl);
    if (typeof as === 'string') await signIn(watched.page, as);
    else await signInWithToken(watched.page, as.token);
    await goToRoom(watched.page, room);
    return watched;
  }

  afterAll(() => app?.stop());

  it('draws live candles, moves the price and lets two people chat over one WebSocket each', async () => {
    const alice = await openPage(await browser.newContext(DESKTOP), app.httpUrl);
    const bob = await openPage(await browser.newContext(PHONE), app.httpUrl);

    // Signed out, the chat says how to take part rather than that the room is empty.
    await eventually(() => alice.page.getByTestId('chat-empty').textContent(), 'signed-out hint').toBe(
      'Sign in to read the chat and join the conversation.',
    );
    expect(await alice.page.getByTestId('chat-empty').isVisible()).toBe(true);
    expect(await alice.page.getByTestId('signin-name').isVisible(), 'guest sign-in is on here').toBe(true);

    // Market data flows before anyone signs in.
    await eventually(() => alice.page.getByTestId('symbol').inputValue(), 'default symbol').toBe('EURUSD');
    await eventually(() => alice.page.getByTestId('last-price').textContent(), 'EURUSD price').toMatch(/^\d+\.\d{5}$/);
    await eventually(() => alice.page.locator('#spread').textContent(), 'the EURUSD spread in pips').toMatch(/^\d+\.\d pips$/);
    const firstPrice = await alice.page.getByTestId('last-price').textContent();
    await eventually(() => alice.page.getByTestId('last-price').textContent(), 'the price moves').not.toBe(firstPrice);
    await eventually(() => candlePixels(alice.page), 'candles are drawn').toBeGreaterThan(50);

    // Another symbol and resolution: history and live bars for it.
    await alice.page.getByTestId('symbol').selectOption('BTCUSD');
    await alice.page.getByRole('button', { name: '1m', exact: true }).click();
    await eventually(() => alice.page.getByTestId('last-price').textContent(), 'BTCUSD price').toMatch(/^\d+\.\d{2}$/);
    await eventually(() => alice.page.locator('#spread').textContent(), 'the BTCUSD spread in its quote currency').toMatch(/^\d+\.\d{2} USD$/);
    await eventually(() => candlePixels(alice.page), 'BTCUSD 1m candles are drawn').toBeGreaterThan(10);
    await alice.page.getByRole('button', { name: '1s', exact: true }).click();

    await signIn(alice.page, 'Alice');
    await signIn(bob.page, 'Bob');
    await eventually(() => alice.page.getByTestId('room').inputValue(), 'default room').toBe('lobby');
    await eventually(() => alice.page.locator('#members').textContent(), 'Alice sees Bob online').toContain('Bob');

    await say(alice.page, 'hello bob');
    await waitForLog(bob.page, (t) => t.includes('hello bob'), 'Bob sees Alice');
    await bob.page.getByTestId('chat-input').pressSequentially('hi al');
    await eventually(() => alice.page.locator('#typing').textContent(), 'Alice sees Bob typing').toBe('Bob is typing…');
    await bob.page.getByTestId('chat-input').pressSequentially('ice');
    await bob.page.getByTestId('chat-input').press('Enter');
    // The moment Bob's message is there, he is no longer shown typing (not only 4 s later).
    expect((await whenLogHas(alice.page, 'hi alice')).typing, 'typing cleared with the message').toBe('');
    await waitForLog(alice.page, (t) => t.join('|') === 'hello bob|hi alice', 'Alice sees both messages once, in order');
    // Alice's own message is confirmed by the server's copy, not shown twice.
    await eventually(() => alice.page.locator('[data-testid="chat-log"] > li[data-status="confirmed"]').count(), 'both confirmed').toBe(2);

    await eventually(() => row(bob.page, 'hi alice').getByTestId('msg-edit').count(), 'Bob may edit his confirmed message').toBe(1);
    await alice.page.screenshot({ path: join(shots, 'desktop-chat.png') });
    await bob.page.screenshot({ path: join(shots, 'phone-chat.png'), fullPage: true });

    // Bob's connection drops; Alice talks meanwhile. Bob's page reconnects, resumes its session
    // and fetches the gap by seq: every message once, in order.
    const bobSub = await bob.page.evaluate(() => JSON.parse(atob(localStorage.getItem('ticktalk.session')!.split('.')[1])).sub as string);
    // The broker keys sessions by user and client id (`{sub}:{client id}`).
    const bobClient = app.node.clients().find((c) => c.id.startsWith(`${bobSub}:web-${bobSub}-`));
    expect(bobClient, 'Bob is connected with a stable per-tab client id').toBeDefined();
    bobClient!.close();
    for (const text of ['while', 'you', 'were', 'away']) await say(alice.page, text);
    const expected = 'hello bob|hi alice|while|you|were|away';
    await waitForLog(alice.page, (t) => t.join('|') === expected, 'Alice has all her messages');
    await waitForLog(bob.page, (t) => t.join('|') === expected, 'Bob catches up without gaps or repeats');
    await eventually(() => bob.page.locator('#status').getAttribute('data-state'), 'Bob is back online').toBe('online');

    for (const who of [alice, bob]) {
      expect(new Set(who.connectLevels), 'the page speaks MQTT 5').toEqual(new Set([5]));
      expect(who.sockets.maxOpen, 'never more than one WebSocket at a time').toBe(1);
      expect(who.sockets.open, 'exactly one WebSocket open').toBe(1);
      expect(who.errors).toEqual([]);
    }
    expect(alice.sockets.opened, 'anonymous, then signed in').toBeGreaterThanOrEqual(2);
    expect(bob.sockets.opened, 'anonymous, signed in, reconnected').toBeGreaterThanOrEqual(3);
  }, 180_000);

  it('edits (Enter saves, Escape cancels) and deletes your own messages, live for everyone in the room', async () => {
    const [carol, dave] = await Promise.all([person('edits', 'Carol'), person('edits', 'Dave')]);
    expect(await carol.page.getByTestId('chat-empty').textContent()).toBe('No messages yet. Say hello!');

    await say(carol.page, 'helo wrld');
    await say(carol.page, 'oops, wrong room');
    await waitForLog(dave.page, (t) => t.join('|') === 'helo wrld|oops, wrong room', 'Dave sees what Carol said');

    const typo = row(carol.page, 'helo wrld');
    await typo.hover();
    await typo.getByTestId('msg-edit').click();
    const input = carol.page.getByTestId('msg-edit-input');
    expect(await input.inputValue(), 'the edit box starts with the message').toBe('helo wrld');
    await input.press('Escape');
    expect(await carol.page.getByTestId('msg-edit-input').count(), 'Escape closes the box').toBe(0);
    await waitForLog(carol.page, (t) => t[0] === 'helo wrld', 'Escape changes nothing');

    await typo.hover();
    await typo.getByTestId('msg-edit').click();
    await input.fill('hello world');
    await input.press('Enter');
    await waitForLog(dave.page, (t) => t[0] === 'hello world (edited)', 'Dave sees the edit live');
    await waitForLog(carol.page, (t) => t[0] === 'hello world (edited)', 'Carol sees her edit');

    const oops = row(carol.page, 'oops, wrong room');
    await oops.hover();
    await oops.getByTestId('msg-delete').click();
    await waitForLog(dave.page, (t) => t.join('|') === 'hello world (edited)|message deleted', 'Dave sees the delete live');
    await waitForLog(carol.page, (t) => t[1] === 'message deleted', 'Carol sees the tombstone');

    // Only your own messages offer edit and delete; only moderators get mute.
    for (const control of ['msg-edit', 'msg-delete', 'mute']) {
      expect(await dave.page.getByTestId('chat-log').getByTestId(control).count(), `Dave has no ${control} on Carol's messages`).toBe(0);
    }
    expect(await dave.page.locator('#members').getByTestId('mute').count(), 'no mute for a trader').toBe(0);
    await carol.page.screenshot({ path: join(shots, 'desktop-edited.png') });
    for (const who of [carol, dave]) expect(who.errors).toEqual([]);
  }, 180_000);

  it('starts a DM from the members list or a message author; the other side gets an unread mark, then sees it live', async () => {
    const [erin, finn] = await Promise.all([person('dms', 'Erin'), person('dms', 'Finn', PHONE)]);
    await say(finn.page, 'anyone here?');
    await waitForLog(erin.page, (t) => t.includes('anyone here?'), 'Erin sees Finn');

    const startFromMembers = erin.page.locator('#members').getByTestId('dm-start').filter({ hasText: 'Finn' });
    await eventually(() => startFromMembers.count(), 'Finn is listed with a DM control').toBe(1);
    expect(await startFromMembers.textContent()).toBe('Finn');
    await startFromMembers.click();
    await eventually(() => erin.page.getByTestId('chat-empty').textContent(), 'the DM opens').toMatch(/start of your conversation with Finn/);
    expect(await erin.page.getByTestId('room').locator('option:checked').textContent()).toBe('@Finn');
    await say(erin.page, 'psst, Finn');

    // Finn is still in #dms: the DM waits with an unread mark.
    await eventually(() => finn.page.getByTestId('dm-unread').isVisible(), 'Finn gets an unread mark').toBe(true);
    expect(await finn.page.getByTestId('dm-unread').textContent()).toBe('✉ 1');
    expect(await finn.page.getByTestId('room').locator('option', { hasText: '@Erin' }).textContent()).toBe('@Erin · 1 new');
    await waitForLog(finn.page, (t) => !t.includes('psst, Finn'), 'the DM stays out of the room');
    await finn.page.screenshot({ path: join(shots, 'phone-dm-unread.png') });
    await finn.page.getByTestId('dm-unread').click();
    await waitForLog(finn.page, (t) => t.join('|') === 'psst, Finn', 'Finn reads the DM');
    await eventually(() => finn.page.getByTestId('dm-unread').isVisible(), 'nothing unread any more').toBe(false);

    await say(erin.page, 'live now');
    await waitForLog(finn.page, (t) => t.join('|') === 'psst, Finn|live now', 'Finn sees the next DM live');
    await say(finn.page, 'hi Erin');
    await waitForLog(erin.page, (t) => t.join('|') === 'psst, Finn|live now|hi Erin', 'Erin sees the answer live');

    // From a message's author: Finn goes back to the room and opens the DM from Erin's name there.
    await finn.page.getByTestId('room').selectOption('dms');
    await waitForLog(finn.page, (t) => t.includes('anyone here?'), 'Finn is back in #dms');
    await say(erin.page, 'back in the room soon');
    await eventually(() => finn.page.getByTestId('dm-unread').textContent(), 'the DM message counts as unread').toBe('✉ 1');
    await erin.page.getByTestId('room').selectOption('dms');
    await waitForLog(erin.page, (t) => t.includes('anyone here?'), 'Erin is back in #dms');
    await say(erin.page, 'and here');
    await waitForLog(finn.page, (t) => t.includes('and here'), 'Erin speaks in #dms');
    await finn.page.getByTestId('chat-log').getByTestId('dm-start').filter({ hasText: 'Erin' }).first().click();
    await waitForLog(finn.page, (t) => t.join('|') === 'psst, Finn|live now|hi Erin|back in the room soon', 'the same DM, all of it');
    await erin.page.screenshot({ path: join(shots, 'desktop-dm.png') });
    await finn.page.screenshot({ path: join(shots, 'phone-dm.png') });
    for (const who of [erin, finn]) expect(who.errors).toEqual([]);
  }, 180_000);

  it('offers mute to moderators only, and a muted person is told why their message was refused', async () => {
    const moderator = { token: await app.token('mia', ['trader', 'moderator'], 'Mia') };
    const [mia, gus] = await Promise.all([person('modded', moderator), person('modded', 'Gus')]);
    await say(gus.page, 'buy my course');
    await waitForLog(mia.page, (t) => t.includes('buy my course'), 'Mia sees Gus');

    const muteGus = mia.page.locator('#members li', { hasText: 'Gus' }).getByTestId('mute');
    await eventually(() => muteGus.count(), 'Mia may mute Gus').toBe(1);
    expect(await mia.page.locator('#members li', { hasText: 'Mia' }).getByTestId('mute').count(), 'nobody mutes themselves').toBe(0);
    expect(await gus.page.getByTestId('mute').count(), 'Gus is no moderator').toBe(0);
    const spam = row(mia.page, 'buy my course');
    await spam.hover();
    expect(await spam.getByTestId('msg-delete').count(), 'a moderator may delete anyone’s message').toBe(1);
    expect(await spam.getByTestId('msg-edit').count(), 'but edit only her own').toBe(0);

    await muteGus.click();
    await eventually(() => mia.page.locator('#toast').textContent(), 'Mia is told').toMatch(/^Gus is muted in #modded until/);
    await eventually(() => gus.page.locator('#toast').textContent(), 'Gus is told').toMatch(/^You are muted in #modded until/);
    await say(gus.page, 'and again');
    await eventually(() => row(gus.page, 'and again').getAttribute('data-status'), 'refused').toBe('failed');
    expect(await row(gus.page, 'and again').locator('.note').textContent()).toMatch(/muted/);
    await mia.page.screenshot({ path: join(shots, 'desktop-moderator.png') });
    for (const who of [mia, gus]) expect(who.errors).toEqual([]);
  }, 180_000);

  it("signs out with the server's reason when the token runs out (MQTT 5 Reason String)", async () => {
    const jan = await openPage(await browser.newContext(DESKTOP), app.httpUrl);
    // Valid when pasted; the broker closes the connection at its exp and refuses the reconnect.
    const box = jan.page.locator('#signin-token-box');
    if ((await box.getAttribute('open')) === null) await box.locator('summary').click();
    await jan.page.getByTestId('signin-token').fill(await app.ctx.auth.issue({ sub: 'jan', name: 'Jan' }, 6));
    await jan.page.getByTestId('token-submit').click();
    await expect
      .poll(() => jan.page.locator('#signin-error').textContent(), { timeout: 20_000, interval: 100, message: 'signed out, told why' })
      .toBe('Your session is no longer valid (token expired). Sign in again.');
    expect(await jan.page.getByTestId('chat-input').isVisible(), 'the composer is gone').toBe(false);
    expect(jan.connectLevels.length).toBeGreaterThanOrEqual(3);
    expect(jan.errors).toEqual([]);
  }, 60_000);

  it('hides the guest form when guest sign-in is off, and offers the token sign-in instead', async () => {
    const closed = await startTestApp({ AUTH_GUEST: 'off', SYMBOLS: 'EURUSD' }, ['broker', 'ohlcv', 'web']);
    try {
      const ivan = await openPage(await browser.newContext(DESKTOP), closed.httpUrl);
      await eventually(() => ivan.page.locator('#signin-token-box').getAttribute('open'), 'the page asked the server').not.toBeNull();
      expect(await ivan.page.getByTestId('signin-guest').isVisible(), 'no guest form').toBe(false);
      expect(await ivan.page.getByTestId('signin-name').isVisible()).toBe(false);
      expect(await ivan.page.getByTestId('signin-token').isVisible(), 'the token field is open').toBe(true);
      expect(await ivan.page.getByTestId('chat-empty').textContent()).toBe('Sign in to read the chat and join the conversation.');
      await ivan.page.screenshot({ path: join(shots, 'desktop-guest-off.png') });
      await signInWithToken(ivan.page, await closed.token('ivan', ['trader'], 'Ivan'));
      await eventually(() => ivan.page.getByTestId('chat-empty').textContent(), 'signed in, in the lobby').toBe('No messages yet. Say hello!');
      expect(ivan.errors).toEqual([]);
    } finally {
      await closed.stop();
    }
  }, 180_000);

  it('keeps 20,000 rooms out of the page: one page listed, more on demand, the rest found by search', async () => {
    const db = await app.ctx.database();
    await db.query("INSERT INTO chat_rooms (room) SELECT 'bulk-' || lpad(g::text, 5, '0') FROM generate_series(1, 20000) g ON CONFLICT DO NOTHING");
    const hana = await openPage(await browser.newContext(DESKTOP), app.httpUrl);
    await signIn(hana.page, 'Hana');
    const roomOptions = () =>
      hana.page
        .getByTestId('room')
        .locator('optgroup[label="Rooms"] > option')
        .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const bulk = (options: string[]) => options.filter((o) => o.startsWith('bulk-'));
    // The first page (bulk-00001…bulk-00050 by name), the room the page is in, and "More rooms…".
    await eventually(async () => bulk(await roomOptions()), 'one page of rooms').toEqual(
      Array.from({ length: 50 }, (_, i) => `bulk-${String(i + 1).padStart(5, '0')}`),
    );
    const first = await roomOptions();
    expect(first.at(-1)).toBe(':more');
    expect(first).toContain('lobby');

    await hana.page.getByTestId('room').selectOption(':more');
    await eventually(async () => bulk(await roomOptions()).length, 'the next page is appended').toBe(100);
    expect(await hana.page.getByTestId('room').inputValue(), 'still in the room it was in').toBe('lobby');
    const second = await roomOptions();
    expect(bulk(second).at(-1)).toBe('bulk-00100');
    expect(second.at(-1)).toBe(':more');
    expect(new Set(second).size, 'no room listed twice').toBe(second.length);

    await hana.page.locator('#room-add').click();
    await hana.page.getByTestId('room-search').pressSequentially('BULK-1999');
    await eventually(
      () => hana.page.locator('#room-suggestions option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)),
      'rooms found by prefix',
    ).toEqual(Array.from({ length: 10 }, (_, i) => `bulk-1999${i}`));
    await hana.page.getByTestId('room-search').fill('bulk-12345');
    await hana.page.getByTestId('room-search').press('Enter');
    await eventually(() => hana.page.getByTestId('room').inputValue(), 'joined by name').toBe('bulk-12345');
    await eventually(() => hana.page.getByTestId('chat-empty').textContent(), 'an empty room').toBe('No messages yet. Say hello!');
    expect(hana.errors).toEqual([]);
  }, 180_000);
});

/**
 * Production's shape: two broker nodes over Redis and one PostgreSQL, the feed (simulator) and the
 * aggregator on node 0 only, each person's page served by, and connected to, a different node.
 */
describe.skipIf(browserMissing)('web page on a two-node cluster', () => {
  let cluster: Topology;

  beforeAll(async () => {
    cluster = await startTopology('cluster', { AUTH_GUEST: 'on', SYMBOLS: 'EURUSD,BTCUSD' }, ['broker', 'web'], {
      perNode: (index) =>
        index === 0 ? { env: { FEED_SIM: 'on', FEED_SIM_RATE: '20', FEED_SIM_HISTORY_DAYS: '1' }, roles: ['broker', 'bridge', 'ohlcv', 'web'] } : {},
    });
  }, 180_000);
  afterAll(() => cluster?.stop());

  /** The broker node that holds this page's MQTT connection (the page's client id is `web-{sub}-…`). */
  async function nodeOf(watched: Watched): Promise<number> {
    const sub = await watched.page.evaluate(() => JSON.parse(atob(localStorage.getItem('ticktalk.session')!.split('.')[1])).sub as string);
    return cluster.nodes.findIndex((n) => n.node.clients().some((c) => c.id.startsWith(`${sub}:web-${sub}-`)));
  }

  it('two people on different nodes sign in, see live prices and chat both ways', async () => {
    const [alice, bob] = await Promise.all(
      [0, 1].map(async (index) => openPage(await browser.newContext(index === 0 ? DESKTOP : PHONE), cluster.at(index).httpUrl)),
    );
    await Promise.all([signIn(alice.page, 'Alice'), signIn(bob.page, 'Bob')]);
    await eventually(() => Promise.all([nodeOf(alice), nodeOf(bob)]), 'each page holds its connection on its own node').toEqual([0, 1]);

    // Ticks come from node 0's feed: node 1 gets them through Redis.
    for (const who of [alice, bob]) {
      await eventually(() => who.page.getByTestId('last-price').textContent(), 'EURUSD price').toMatch(/^\d+\.\d{5}$/);
      const price = await who.page.getByTestId('last-price').textContent();
      await eventually(() => who.page.getByTestId('last-price').textContent(), 'the price moves').not.toBe(price);
    }

    await eventually(() => alice.page.locator('#members').textContent(), 'Alice sees Bob online').toContain('Bob');
    await eventually(() => bob.page.locator('#members').textContent(), 'Bob sees Alice online').toContain('Alice');
    await say(alice.page, 'hello from node 0');
    await waitForLog(bob.page, (t) => t.includes('hello from node 0'), 'Bob sees Alice');
    await say(bob.page, 'hello from node 1');
    const both = 'hello from node 0|hello from node 1';
    await waitForLog(alice.page, (t) => t.join('|') === both, 'Alice sees both messages once, in order');
    await waitForLog(bob.page, (t) => t.join('|') === both, 'Bob sees both messages once, in order');
    await eventually(() => bob.page.locator('[data-testid="chat-log"] > li[data-status="confirmed"]').count(), 'both confirmed').toBe(2);
    await bob.page.screenshot({ path: join(shots, 'phone-cluster-chat.png'), fullPage: true });
    for (const who of [alice, bob]) {
      expect(who.sockets.open, 'exactly one WebSocket open').toBe(1);
      expect(who.errors).toEqual([]);
    }
  }, 180_000);
});
