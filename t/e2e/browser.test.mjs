// t/e2e/browser.test.mjs: the web client (nginx/public) in a real
// browser.  Headless Chromium from Debian, driven by playwright-core:
// two users in two browser contexts register, find each other by
// username, chat both ways, see typing and read marks, upload an
// avatar, lose and regain the connection, reload and find their
// history, log out.  Screenshots of the main views go to
// $CHAT_VAR/report/screenshots/.  Each context has its own
// X-Forwarded-For address, so the register/login rate limits (per IP,
// nginx trusts the header from 127.0.0.1) stay out of the way.

import { describe, test, before, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { pngRgb } from './lib/png.mjs';

const BASE = (process.env.CHAT_URL || 'http://127.0.0.1:3000')
    .replace(/\/+$/, '');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.CHAT_VAR ?
    path.join(process.env.CHAT_VAR, 'report', 'screenshots') :
    '/tmp/chat-report/screenshots';
const WAIT = 10000;		// the longest any one step may wait
const TTL = Number(process.env.ACCESS_TOKEN_TTL || 900);

function clientIp() {
	const b = crypto.randomBytes(3);
	return `10.${b[0]}.${b[1]}.${1 + (b[2] % 254)}`;
}

function uname(prefix) {
	return `${prefix}_${crypto.randomBytes(6).toString('hex')}`;
}

// --- a small real PNG: a 64x64 gradient with a disc -----------------

function makePng(size = 64) {
	return pngRgb(size, size, (x, y) => {
		const dx = x - size / 2, dy = y - size / 2.4;
		const disc = dx * dx + dy * dy < (size / 4.5) ** 2;
		const body = dy > size / 5 && dx * dx +
		    (dy - size / 1.6) ** 2 < (size / 2.6) ** 2;
		const on = disc || body;
		return [on ? 255 : 40 + (x * 3) % 200,
		    on ? 240 : 90 + (y * 2) % 150, on ? 220 : 200];
	});
}

// --- helpers over a page ---------------------------------------------

const tid = (page, id) => page.getByTestId(id);

async function shot(page, name) {
	fs.mkdirSync(SHOTS, { recursive: true });
	await page.screenshot({ path: path.join(SHOTS, `${name}.png`),
	    animations: 'disabled' });
}

// The open conversation's message bubble that reads exactly text.
function bubble(page, text) {
	return tid(page, 'message-list').getByTestId('message')
	    .filter({ has: page.locator('.msg-text', { hasText: text }) });
}

async function send(page, text) {
	const box = tid(page, 'composer-input');
	await box.fill(text);
	await box.press('Enter');
	await bubble(page, text).last().waitFor({ timeout: WAIT });
}

async function poll(fn, what, ms = WAIT) {
	const end = Date.now() + ms;
	let last;
	for (;;) {
		last = await fn();
		if (last)
			return last;
		if (Date.now() > end)
			assert.fail(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

// --- the story -------------------------------------------------------

describe('web client in Chromium', { timeout: 90000 }, () => {
	let browser;
	const errors = [];
	const a = { username: uname('wa'), displayName: 'Alice Web',
	    password: `pw-${crypto.randomBytes(4).toString('hex')}` };
	const b = { username: uname('wb'), displayName: 'Bob Browser',
	    password: `pw-${crypto.randomBytes(4).toString('hex')}` };
	let convId;
	const first = `Hello Bob, it is ${new Date().toISOString()}`;
	const xss = '<img src=x onerror="window.__pwned=1"> & <b>bold</b>';
	const early = [];
	let broken = null;

	// A step of the story; after a failed one the rest are skipped
	// (they would only time out one after another).
	function step(name, fn) {
		test(name, async (t) => {
			if (broken) {
				t.skip(`after the failure of: ${broken}`);
				return;
			}
			try {
				await fn(t);
			} catch (e) {
				broken = name;
				throw e;
			}
		});
	}

	async function newUser(u) {
		u.ctx = await browser.newContext({
			viewport: { width: 1100, height: 720 },
			extraHTTPHeaders: { 'X-Forwarded-For': clientIp() },
			locale: 'en-GB',
			timezoneId: 'UTC',
		});
		u.page = await u.ctx.newPage();
		u.page.setDefaultTimeout(WAIT);
		u.page.on('pageerror', (e) =>
		    errors.push(`${u.username}: ${e.message}`));
		u.page.on('console', (m) => {
			if (m.type() === 'error')
				u.console = (u.console || []).concat(m.text());
		});
	}

	before(async () => {
		assert.ok(fs.existsSync(CHROMIUM),
		    `${CHROMIUM} is missing (apt-get install chromium)`);
		browser = await chromium.launch({
			executablePath: CHROMIUM,
			args: ['--no-sandbox', '--disable-gpu', '--disable-quic',
			    '--no-first-run', '--disable-background-networking',
			    '--disable-component-update', '--disable-sync'],
			timeout: 30000,
		});
		await newUser(a);
		await newUser(b);
	});

	after(async () => {
		for (const u of [a, b])
			if (u.console && u.console.length)
				console.log(`# ${u.username} console errors:\n# ` +
				    u.console.slice(0, 10).join('\n# '));
		if (browser)
			await browser.close();
	});

	step('the sign-in page renders', async () => {
		const res = await a.page.goto(BASE + '/');
		assert.equal(res.status(), 200);
		await tid(a.page, 'auth-screen').waitFor({ state: 'visible' });
		assert.equal(await a.page.title(), 'Chat');
		await shot(a.page, '01-login');
	});

	step('both users register and land in the app', async () => {
		for (const u of [a, b]) {
			if (u === b)
				await b.page.goto(BASE + '/');
			const p = u.page;
			await tid(p, 'tab-register').click();
			const f = tid(p, 'auth-form');
			await f.getByLabel('Username').fill(u.username);
			await f.getByLabel(/Display name/).fill(u.displayName);
			await f.getByLabel('Password').fill(u.password);
			await tid(p, 'auth-submit').click();
			await tid(p, 'app-screen').waitFor({ state: 'visible' });
			assert.equal(await tid(p, 'me-name').textContent(),
			    u.displayName);
			await poll(async () => await tid(p,
			    'connection-status').getAttribute('data-state') ===
			    'online', `${u.username} connected`);
		}
		await tid(b.page, 'conversation-empty').waitFor(
		    { state: 'visible' });
	});

	step('a wrong username is refused in the new-chat box', async () => {
		await tid(a.page, 'new-chat-input').fill('no_such_user_' +
		    crypto.randomBytes(3).toString('hex'));
		await tid(a.page, 'new-chat-submit').click();
		await poll(async () => (await tid(a.page,
		    'new-chat-error').textContent()).length > 0,
		    'an error for an unknown user');
		await tid(a.page, 'new-chat-input').fill('');
	});

	step('A starts a conversation with B by username', async () => {
		await tid(a.page, 'new-chat-input').fill(b.username);
		await tid(a.page, 'new-chat-input').press('Enter');
		await tid(a.page, 'chat-view').waitFor({ state: 'visible' });
		assert.equal(await tid(a.page, 'chat-title').textContent(),
		    b.displayName);
		const m = /^#\/c\/(\d+)$/.exec(new URL(a.page.url()).hash);
		assert.ok(m, `hash names the conversation: ${a.page.url()}`);
		convId = Number(m[1]);
		await poll(async () => await tid(a.page, 'chat-status')
		    .textContent() === 'Online', 'B shown online');
	});

	step('A writes; B gets an unread badge, opens it, A sees it read',
	    async () => {
		await send(a.page, first);
		const mine = bubble(a.page, first);
		assert.equal(await mine.getAttribute('data-own'), 'true');
		await poll(async () => ['sent', 'read'].includes(
		    await mine.getAttribute('data-status')),
		    'the sent mark');

		const item = tid(b.page, 'conversation-item')
		    .filter({ hasText: a.displayName });
		await item.waitFor({ state: 'visible' });
		assert.equal(await item.getAttribute('data-conversation-id'),
		    String(convId));
		await poll(async () => (await item.getByTestId('unread-badge')
		    .textContent()) === '1' && await item.getByTestId(
		    'unread-badge').isVisible(), 'unread badge 1');
		assert.ok(await item.getByTestId('online-dot').isVisible(),
		    'A has an online dot');
		assert.equal(await item.getByTestId('conversation-preview')
		    .textContent(), first);
		await shot(b.page, '02-conversation-list');

		await item.click();
		await bubble(b.page, first).waitFor();
		assert.equal(await bubble(b.page, first).getAttribute('data-own'),
		    'false');
		await poll(async () => !await item.getByTestId('unread-badge')
		    .isVisible(), 'badge gone once read');
		await poll(async () => await mine.getAttribute('data-status') ===
		    'read', 'the read mark at A');
	});

	step('typing shows at the other side, and stops', async () => {
		const box = tid(b.page, 'composer-input');
		await box.click();
		await box.pressSequentially('I am typ', { delay: 20 });
		await tid(a.page, 'typing-indicator').waitFor(
		    { state: 'visible' });
		assert.match(await tid(a.page, 'typing-indicator').textContent(),
		    /Bob Browser is typing/);
		assert.equal(await tid(a.page, 'chat-status').textContent(),
		    'typing…');
		await box.fill('');
		await tid(a.page, 'typing-indicator').waitFor(
		    { state: 'hidden' });
	});

	step('B replies (markup stays text), A reads, B sees it read',
	    async () => {
		await send(b.page, xss);
		const theirs = bubble(a.page, xss);
		await theirs.waitFor();
		assert.equal(await theirs.locator('.msg-text').textContent(),
		    xss);
		assert.equal(await theirs.locator('img, b').count(), 0);
		assert.equal(await a.page.evaluate(() => window.__pwned), undefined);
		await poll(async () => await bubble(b.page, xss)
		    .getAttribute('data-status') === 'read', 'read mark at B');
		await shot(a.page, '03-chat');
	});

	step('a longer history: A sends a burst, B keeps up', async () => {
		for (let i = 1; i <= 34; i++) {
			const t = `burst ${String(i).padStart(2, '0')}`;
			early.push(t);
			const box = tid(a.page, 'composer-input');
			await box.fill(t);
			await box.press('Enter');
		}
		await bubble(b.page, 'burst 34').waitFor();
		await poll(async () => await bubble(a.page, 'burst 34')
		    .getAttribute('data-status') === 'read', 'burst read');
		const n = await tid(b.page, 'message-list')
		    .getByTestId('message').count();
		assert.equal(n, 36);
	});

	step('A uploads an avatar and renames; B sees both', async () => {
		const p = a.page;
		await tid(p, 'profile-button').click();
		await tid(p, 'profile-dialog').waitFor({ state: 'visible' });
		await tid(p, 'avatar-input').setInputFiles({ name: 'me.png',
		    mimeType: 'image/png', buffer: makePng() });
		const img = tid(p, 'profile-avatar').locator('img');
		await poll(async () => {
			const e = await tid(p, 'profile-error').textContent();
			assert.equal(e, '', `upload refused: ${e}`);
			return await img.count() === 1;
		}, 'the uploaded photo in the profile');
		assert.match(await img.getAttribute('src'),
		    /^\/uploads\/avatars\/[0-9a-f]{32}\.png$/);
		await poll(() => img.evaluate((i) => i.complete &&
		    i.naturalWidth === 64), 'the avatar image loads');
		await tid(p, 'displayname-input').fill('Alice Renamed');
		await tid(p, 'displayname-save').click();
		await poll(async () => await tid(p, 'me-name').textContent() ===
		    'Alice Renamed', 'the new name in the header');
		await shot(p, '04-profile');
		await tid(p, 'profile-close').click();
		await tid(p, 'profile-dialog').waitFor({ state: 'hidden' });
		assert.ok(await tid(p, 'profile-button').locator('img')
		    .isVisible());
	});

	step('B reloads: session kept, conversation and history back, older pages on scroll',
	    async () => {
		const p = b.page;
		await p.reload();
		await tid(p, 'app-screen').waitFor({ state: 'visible' });
		assert.ok(await tid(p, 'auth-screen').isHidden());
		// The hash reopens the conversation.
		await tid(p, 'chat-view').waitFor({ state: 'visible' });
		await bubble(p, 'burst 34').waitFor();
		assert.equal(await tid(p, 'chat-title').textContent(),
		    'Alice Renamed');
		const item = tid(p, 'conversation-item')
		    .filter({ hasText: 'Alice Renamed' });
		await poll(() => item.locator('img').evaluate((i) =>
		    i.complete && i.naturalWidth === 64).catch(() => false),
		    'A\'s photo in B\'s list');
		// One page of 30 first, the rest when scrolled to the top.
		const list = tid(p, 'message-list');
		const n0 = await list.getByTestId('message').count();
		assert.ok(n0 < 36, `first page only (${n0})`);
		for (let i = 0; i < 5 && await bubble(p, first).count() === 0;
		    i++) {
			await list.evaluate((e) => { e.scrollTop = 0; });
			await p.waitForTimeout(400);
		}
		await bubble(p, first).waitFor();
		assert.equal(await list.getByTestId('message').count(), 36);
		assert.equal(await bubble(p, xss).getAttribute('data-status'),
		    'read');
		await poll(async () => /beginning/.test(await tid(p,
		    'history-top').textContent()), 'the start of history');
		await shot(p, '05-chat-history');
	});

	step('A removes the avatar: initials again', async () => {
		const p = a.page;
		await tid(p, 'profile-button').click();
		await tid(p, 'avatar-remove').click();
		await poll(async () => await tid(p, 'profile-avatar')
		    .getByTestId('avatar').getAttribute('data-kind') ===
		    'initials', 'initials in the profile');
		assert.equal(await tid(p, 'profile-avatar').textContent(), 'AR');
		await tid(p, 'profile-close').click();
	});

	step('B drops off the network, misses a message, queues one, catches up',
	    async () => {
		const late = 'sent while you were offline';
		const queued = 'written while offline, sent on return';
		await b.ctx.setOffline(true);
		await poll(async () => await tid(b.page, 'connection-status')
		    .getAttribute('data-state') !== 'online',
		    'B notices the drop');
		await poll(async () => await tid(a.page, 'chat-status')
		    .textContent() !== 'Online', 'A sees B go offline');
		await send(a.page, late);
		await send(b.page, queued);
		assert.equal(await bubble(b.page, queued)
		    .getAttribute('data-status'), 'pending');
		await b.ctx.setOffline(false);
		await poll(async () => await tid(b.page, 'connection-status')
		    .getAttribute('data-state') === 'online', 'B reconnects',
		    20000);
		await bubble(b.page, late).waitFor();
		await poll(async () => await bubble(a.page, late)
		    .getAttribute('data-status') === 'read',
		    'A sees the catch-up read');
		await bubble(a.page, queued).waitFor();
		await poll(async () => ['sent', 'read'].includes(await bubble(
		    b.page, queued).getAttribute('data-status')),
		    'the queued message confirmed');
		await a.page.waitForTimeout(300);
		assert.equal(await bubble(a.page, queued).count(), 1);
		assert.equal(await bubble(b.page, queued).count(), 1);
	});

	step('A reloads in a phone-sized window: history is there', async () => {
		const p = a.page;
		await p.setViewportSize({ width: 390, height: 780 });
		await p.reload();
		await tid(p, 'chat-view').waitFor({ state: 'visible' });
		await bubble(p, 'written while offline, sent on return').waitFor();
		assert.ok(await tid(p, 'back-button').isVisible());
		await shot(p, '06-mobile-chat');
		await tid(p, 'back-button').click();
		await tid(p, 'conversation-list').waitFor({ state: 'visible' });
		assert.ok(await tid(p, 'chat-view').isHidden());
		await shot(p, '07-mobile-list');
	});

	step('A\'s token is refreshed after a 401, and before it expires',
	    async () => {
		const p = a.page;
		const refreshes = [];
		p.on('request', (r) => {
			if (new URL(r.url()).pathname === '/auth/refresh')
				refreshes.push(r);
		});
		// A fake clock from here on (the page is loaded: the
		// Socket.IO engine keeps its real timers).
		await a.ctx.clock.install();

		// One answer 401, as the server gives for an expired token
		// (injected: the server's clock cannot be moved): the client
		// refreshes once and repeats the request.
		let hits = 0;
		await p.route('**/users/me', (route) => hits++ === 0 ?
		    route.fulfill({ status: 401, contentType: 'application/json',
			body: '{"statusCode":401,"message":"Unauthorized"}' }) :
		    route.continue());
		await tid(p, 'profile-button').click();
		await tid(p, 'displayname-input').fill('Alice Again');
		await tid(p, 'displayname-save').click();
		await poll(async () => await tid(p, 'me-name').textContent() ===
		    'Alice Again', 'the name saved after the 401');
		assert.equal(hits, 2);
		assert.equal(refreshes.length, 1);
		assert.equal((await refreshes[0].response()).status(), 200);
		assert.equal(await tid(p, 'profile-error').textContent(), '');
		await p.unroute('**/users/me');
		await tid(p, 'profile-close').click();

		// Jump to 4 s before the new token's exp: the refresh is due
		// by then, on the page's own timer, with the socket still up.
		await p.evaluate(() => {
			window.__drops = 0;
			const d = document.querySelector('#conn-dot');
			new MutationObserver(() => {
				if (d.dataset.state !== 'online')
					window.__drops++;
			}).observe(d, { attributes: true });
		});
		await p.clock.fastForward((TTL - 4) * 1000);
		await poll(() => refreshes.length === 2, 'a refresh before exp');
		assert.equal((await refreshes[1].response()).status(), 200);
		assert.equal(await p.evaluate(() => window.__drops), 0,
		    'refreshed on its timer, not by a reconnect');
		// The engine's ping deadline has passed on the page's clock
		// too: the next emit may reconnect (with another refresh).
		await tid(p, 'conversation-item').first().click();
		await send(p, 'still here after the refresh');
		await poll(async () => ['sent', 'read'].includes(await bubble(p,
		    'still here after the refresh').getAttribute('data-status')),
		    'the message confirmed');
		await p.waitForTimeout(300);
		const n = refreshes.length;
		assert.ok(n <= 3, `${n} refreshes`);
		// The browser's clock now runs ahead of the server's: no
		// refresh storm from a token that looks old.
		await send(p, 'and once more');
		await poll(async () => ['sent', 'read'].includes(await bubble(p,
		    'and once more').getAttribute('data-status')),
		    'the second message confirmed');
		assert.equal(refreshes.length, n);
	});

	step('B reloads on the list: the preview shows the last message',
	    async () => {
		const p = b.page;
		await p.goto(BASE + '/#/');
		await p.reload();
		const item = tid(p, 'conversation-item')
		    .filter({ hasText: 'Alice Again' });
		await poll(async () => await item.getByTestId(
		    'conversation-preview').textContent() ===
		    'and once more', 'the last message preview');
		assert.ok(await tid(p, 'chat-view').isHidden());
	});

	step('B logs out; a reload stays signed out', async () => {
		const p = b.page;
		await tid(p, 'profile-button').click();
		await tid(p, 'logout-button').click();
		await tid(p, 'auth-screen').waitFor({ state: 'visible' });
		assert.equal(await p.evaluate(() =>
		    localStorage.getItem('chat.refreshToken')), null);
		await p.reload();
		await tid(p, 'auth-screen').waitFor({ state: 'visible' });
		assert.ok(await tid(p, 'app-screen').isHidden());
	});

	test('no script errors in either page', () => {
		assert.deepEqual(errors, []);
	});
});
