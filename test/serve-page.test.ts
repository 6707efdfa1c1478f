/**
 * The search page in headless Chromium: type a query, see results with their similarity.
 * Skips (with the reason) when /usr/bin/chromium is absent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder } from '../src/models/index.js';
import { HnswIndex, createSearchServer, embedInto, listen, modelRef } from '../src/search/index.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `headless test skipped: ${CHROMIUM} is absent`;
if (skip) console.log(`# ${skip}`);

const TEXTS = ['software developer', 'data scientist', 'nurse', 'truck driver', 'chef', 'teacher', '<b>bold</b> markup'];
let server: Server | undefined;
let url = '';

before(async () => {
  if (skip) return;
  await initBackend('auto', { quiet: true });
  const encoder = builtinEncoder('tiny', 42);
  const index = HnswIndex.create(encoder.dim, await modelRef('builtin:tiny', encoder));
  await embedInto(index, encoder, TEXTS.map((text, i) => ({ id: `o${i}`, text })), { progress: false });
  server = createSearchServer({ index, encoder });
  url = (await listen(server, 0)).url;
});

after(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** Debian's Chromium, headless, kept off the network. */
async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

test('typing a query in the page shows results with similarities, best first', { skip, timeout: 60_000 }, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(url);
    await page.waitForFunction(() => /7 items/.test(document.getElementById('about')?.textContent ?? ''));
    await page.fill('#q', 'data scientist');
    await page.selectOption('#k', '5');
    await page.press('#q', 'Enter');
    await page.waitForSelector('#results li.result');
    const rows = await page.$$eval('#results li.result', (lis) =>
      lis.map((li) => ({ text: li.querySelector('.text')?.textContent ?? '', score: Number(li.querySelector('.score')?.textContent) })),
    );
    assert.equal(rows.length, 5);
    assert.equal(rows[0].text, 'data scientist');
    assert.ok(Math.abs(rows[0].score - 1) < 1e-3, String(rows[0].score));
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].score >= rows[i].score);
    assert.match(await page.textContent('#status') ?? '', /5 results in/);
    // Corpus text is shown as text, never parsed as markup.
    await page.fill('#q', '<b>bold</b> markup');
    await page.click('button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#results li.result .text')?.textContent === '<b>bold</b> markup');
    assert.equal(await page.$$eval('#results b', (b) => b.length), 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('/?q=...&k=... fills the box and searches on load; a search from the box goes into the address', { skip, timeout: 60_000 }, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}?q=${encodeURIComponent('nurse')}&k=5`);
    await page.waitForSelector('#results li.result');
    assert.equal(await page.inputValue('#q'), 'nurse');
    assert.equal(await page.inputValue('#k'), '5');
    assert.equal(await page.$$eval('#results li.result', (lis) => lis.length), 5);
    assert.equal(await page.textContent('#results li.result .text'), 'nurse');
    await page.fill('#q', 'chef');
    await page.press('#q', 'Enter');
    await page.waitForFunction(() => document.querySelector('#results li.result .text')?.textContent === 'chef');
    const address = new URL(page.url());
    assert.equal(address.searchParams.get('q'), 'chef');
    assert.equal(address.searchParams.get('k'), '5');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
