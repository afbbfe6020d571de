import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../test/testing/app.js';

/**
 * The page end to end: the real server (every role, built-in feed simulator, guest sign-in) and
 * Debian's Chromium driven by playwright-core. Two browser contexts are two people.
 */

const CHROMIUM = '/usr/bin/chromium';
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const shots = join(root, 'test-results', 'web');

/** A page and what it did: every MQTT WebSocket it opened, and any uncaught error. */
interface Watched {
  page: Page;
  sockets: { opened: number; open: number; maxOpen: number };
  errors: string[];
}

async function openPage(context: BrowserContext, url: string): Promise<Watched> {
  const page = await context.newPage();
  const watched: Watched = { page, sockets: { opened: 0, open: 0, maxOpen: 0 }, errors: [] };
  page.on('pageerror', (err) => watched.errors.push(err.message));
  page.on('websocket', (ws) => {
    const s = watched.sockets;
    s.opened++;
    s.open++;
    s.maxOpen = Math.max(s.maxOpen, s.open);
    ws.on('close', () => s.open--);
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

/** Polls until the assertion holds (the page is live: everything arrives a moment later). */
function eventually<T>(read: () => Promise<T> | T, what: string) {
  return expect.poll(read, { timeout: 15_000, interval: 100, message: what });
}

const browserMissing = !existsSync(CHROMIUM);
if (browserMissing) console.warn(`web/page.browser.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

describe.skipIf(browserMissing)('web page in Chromium', () => {
  let app: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    // The page under test is the current source, bundled as `npm run build` does.
    execFileSync(process.execPath, [join(root, 'web', 'build.mjs')], { stdio: 'pipe' });
    mkdirSync(shots, { recursive: true });
    [app, browser] = await Promise.all([
      startTestApp({ FEED_SIM: 'on', FEED_SIM_RATE: '20', AUTH_GUEST: 'on', SYMBOLS: 'EURUSD,BTCUSD' }, ['broker', 'bridge', 'ohlcv', 'web']),
      chromium.launch({
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
      }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('draws live candles, moves the price and lets two people chat over one WebSocket each', async () => {
    const alice = await openPage(await browser.newContext({ viewport: { width: 1360, height: 820 } }), app.httpUrl);
    const bob = await openPage(await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }), app.httpUrl);

    // Market data flows before anyone signs in.
    await eventually(() => alice.page.getByTestId('symbol').inputValue(), 'default symbol').toBe('EURUSD');
    await eventually(() => alice.page.getByTestId('last-price').textContent(), 'EURUSD price').toMatch(/^\d+\.\d{5}$/);
    const firstPrice = await alice.page.getByTestId('last-price').textContent();
    await eventually(() => alice.page.getByTestId('last-price').textContent(), 'the price moves').not.toBe(firstPrice);
    await eventually(() => candlePixels(alice.page), 'candles are drawn').toBeGreaterThan(50);

    // Another symbol and resolution: history and live bars for it.
    await alice.page.getByTestId('symbol').selectOption('BTCUSD');
    await alice.page.getByRole('button', { name: '1m', exact: true }).click();
    await eventually(() => alice.page.getByTestId('last-price').textContent(), 'BTCUSD price').toMatch(/^\d+\.\d{2}$/);
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
    await waitForLog(alice.page, (t) => t.join('|') === 'hello bob|hi alice', 'Alice sees both messages once, in order');
    // Alice's own message is confirmed by the server's copy, not shown twice.
    await eventually(() => alice.page.locator('[data-testid="chat-log"] > li[data-status="confirmed"]').count(), 'both confirmed').toBe(2);

    await alice.page.screenshot({ path: join(shots, 'desktop-chat.png') });
    await bob.page.screenshot({ path: join(shots, 'phone-chat.png'), fullPage: true });

    // Bob's connection drops; Alice talks meanwhile. Bob's page reconnects, resumes its session
    // and fetches the gap by seq: every message once, in order.
    const bobSub = await bob.page.evaluate(() => JSON.parse(atob(localStorage.getItem('ticktalk.session')!.split('.')[1]!)).sub as string);
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
      expect(who.sockets.maxOpen, 'never more than one WebSocket at a time').toBe(1);
      expect(who.sockets.open, 'exactly one WebSocket open').toBe(1);
      expect(who.errors).toEqual([]);
    }
    expect(alice.sockets.opened, 'anonymous, then signed in').toBeGreaterThanOrEqual(2);
    expect(bob.sockets.opened, 'anonymous, signed in, reconnected').toBeGreaterThanOrEqual(3);
  }, 120_000);
});
