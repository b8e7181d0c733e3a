// t/e2e/rest-ratelimit.test.mjs: black-box tests of the rate limits
// (docs/api.md §1.6, DESIGN "Resolved details": per route and per client
// IP, 429 with Retry-After, no side effects, and holding across every
// worker). Each test takes fresh client addresses (X-Forwarded-For
// through nginx's realip), so no test waits for a window to pass.

import { describe, test } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import {
	req, clientIp, uname, register, login, registerAndLogin, sharedUser,
	assertError, sleep, uploadAvatar, makePng,
	LIMIT_AUTH, LIMIT_REFRESH, LIMIT_DEFAULT,
} from './lib/api.mjs';

const pw = 'rate-limit-pw';
const someone = sharedUser();

function assert429(r, lim) {
	assert.equal(r.status, 429, `expected 429, got ${r.status}: ${r.text}`);
	const ra = r.headers.get('retry-after');
	assert.match(ra ?? '', /^\d+$/, `Retry-After ${ra}`);
	assert.ok(Number(ra) >= 1 && Number(ra) <= lim.window,
	    `Retry-After ${ra} outside 1..${lim.window}`);
	assert.equal(r.json?.statusCode, 429, r.text);
}

const statuses = (rs) => rs.map((r) => r.status);
const count = (rs, s) => rs.filter((r) => r.status === s).length;

describe('rate limits, one request after another', { concurrency: 8 },
    () => {
	test(`register: request ${LIMIT_AUTH.n + 1} from one IP is 429 and ` +
	    'creates no user', async () => {
		const ip = clientIp();
		for (let i = 0; i < LIMIT_AUTH.n; i++) {
			const r = await req('POST', '/auth/register', { ip,
			    body: { username: uname('rl'), password: pw } });
			assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
		}
		const name = uname('rl6');
		const r = await req('POST', '/auth/register',
		    { ip, body: { username: name, password: pw } });
		assert429(r, LIMIT_AUTH);
		const l = await req('POST', '/auth/login',
		    { body: { username: name, password: pw } });
		assertError(l, 401, 'Invalid credentials');
		// The name is still free, and another IP is still served.
		const other = await req('POST', '/auth/register',
		    { body: { username: name, password: pw } });
		assert.equal(other.status, 200, other.text);
	});

	test(`login: request ${LIMIT_AUTH.n + 1} from one IP is 429`,
	    async () => {
		const u = await register();
		const ip = clientIp();
		for (let i = 0; i < LIMIT_AUTH.n; i++)
			await login(u.username, u.password, ip);
		const r = await req('POST', '/auth/login',
		    { ip, body: { username: u.username, password: u.password } });
		assert429(r, LIMIT_AUTH);
		await login(u.username, u.password, clientIp());
	});

	test('login: failed attempts count, so guessing is cut off',
	    async () => {
		const u = await register();
		const ip = clientIp();
		for (let i = 0; i < LIMIT_AUTH.n; i++) {
			const r = await req('POST', '/auth/login', { ip,
			    body: { username: u.username, password: `guess${i}` } });
			assertError(r, 401);
		}
		const r = await req('POST', '/auth/login',
		    { ip, body: { username: u.username, password: u.password } });
		assert429(r, LIMIT_AUTH);
	});

	test(`refresh: request ${LIMIT_REFRESH.n + 1} from one IP is 429 and ` +
	    'consumes no token', async () => {
		const u = await registerAndLogin();
		const ip = clientIp();
		let tok = u.refresh_token;
		for (let i = 0; i < LIMIT_REFRESH.n; i++) {
			const r = await req('POST', '/auth/refresh',
			    { ip, body: { refreshToken: tok } });
			assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
			tok = r.json.refresh_token;
		}
		const r = await req('POST', '/auth/refresh',
		    { ip, body: { refreshToken: tok } });
		assert429(r, LIMIT_REFRESH);
		const again = await req('POST', '/auth/refresh',
		    { body: { refreshToken: tok } });
		assert.equal(again.status, 200,
		    `the token refused with 429 was burnt: ${again.text}`);
	});

	test(`GET /users/me: request ${LIMIT_DEFAULT.n + 1} from one IP is 429`,
	    async () => {
		const u = await registerAndLogin();
		const ip = clientIp();
		const t0 = Date.now();
		for (let i = 0; i < LIMIT_DEFAULT.n; i++) {
			const r = await req('GET', '/users/me',
			    { ip, token: u.access_token });
			assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
		}
		const last = await req('GET', '/users/me',
		    { ip, token: u.access_token });
		assert429(last, LIMIT_DEFAULT);
		// The window opened at this address's first request, a moment
		// ago (NestJS's throttler), not at some tick of the clock.
		const spent = Math.ceil((Date.now() - t0) / 1000);
		const ra = Number(last.headers.get('retry-after'));
		assert.ok(ra >= LIMIT_DEFAULT.window - spent - 1,
		    `Retry-After ${ra} after ${spent} s of a ` +
		    `${LIMIT_DEFAULT.window} s window`);
		const r = await req('GET', '/users/me',
		    { token: u.access_token });
		assert.equal(r.status, 200);
	});

	for (const [method, path, body] of [
		['POST', '/auth/logout', { refreshToken: 'f'.repeat(80) }],
		['DELETE', '/users/me/avatar', undefined],
	]) {
		test(`${method} ${path}: the default limit applies`, async () => {
			const u = await someone();
			const ip = clientIp();
			for (let i = 0; i < LIMIT_DEFAULT.n; i++) {
				const r = await req(method, path,
				    { ip, body, token: u.access_token });
				assert.equal(r.status, 200,
				    `request ${i + 1}: ${r.text}`);
			}
			assert429(await req(method, path,
			    { ip, body, token: u.access_token }), LIMIT_DEFAULT);
		});
	}

	test('a logout refused with 429 revokes nothing', async () => {
		const u = await registerAndLogin();
		const ip = clientIp();
		for (let i = 0; i < LIMIT_DEFAULT.n; i++)
			await req('POST', '/auth/logout',
			    { ip, body: { refreshToken: 'e'.repeat(80) } });
		assert429(await req('POST', '/auth/logout',
		    { ip, body: { refreshToken: u.refresh_token } }),
		    LIMIT_DEFAULT);
		const r = await req('POST', '/auth/refresh',
		    { body: { refreshToken: u.refresh_token } });
		assert.equal(r.status, 200, `the token was revoked: ${r.text}`);
	});

	test('an avatar delete refused with 429 removes nothing', async () => {
		const u = await registerAndLogin();
		const bytes = makePng();
		const up = await uploadAvatar(u.access_token, bytes, 'a.png',
		    'image/png');
		assert.equal(up.status, 200, up.text);
		const ip = clientIp();
		for (let i = 0; i < LIMIT_DEFAULT.n; i++)
			await req('DELETE', '/users/me/avatar', { ip });
		assert429(await req('DELETE', '/users/me/avatar',
		    { ip, token: u.access_token }), LIMIT_DEFAULT);
		const me = await req('GET', '/users/me',
		    { token: u.access_token });
		assert.equal(me.json.avatarUrl, up.json.avatarUrl);
		const g = await req('GET', up.json.avatarUrl);
		assert.equal(g.status, 200);
		assert.ok(g.bytes.equals(bytes));
	});

	test('PATCH refused with 429 changes nothing', async () => {
		const u = await registerAndLogin({ displayName: 'Before' });
		const ip = clientIp();
		let last;
		for (let i = 0; i <= LIMIT_DEFAULT.n; i++) {
			last = await req('PATCH', '/users/me', { ip,
			    token: u.access_token,
			    body: { displayName: `n${i}` } });
			if (i < LIMIT_DEFAULT.n)
				assert.equal(last.status, 200, last.text);
		}
		assert429(last, LIMIT_DEFAULT);
		const me = await req('GET', '/users/me',
		    { token: u.access_token });
		assert.equal(me.json.displayName, `n${LIMIT_DEFAULT.n - 1}`);
	});

	test('an IPv6 client is limited by its address, however spelt',
	    async () => {
		const h = () => Math.floor(Math.random() * 0xffff).toString(16);
		const tail = `${h()}:${h()}:${h()}`;
		const short = `2001:db8::${tail}`;
		const long = `2001:0db8:0000:0000:0000:${tail}`;
		for (let i = 0; i < LIMIT_DEFAULT.n; i++) {
			const r = await req('GET', '/users/me',
			    { ip: i % 2 ? short : long });
			assert.equal(r.status, 401, `request ${i + 1}: ${r.text}`);
		}
		assert429(await req('GET', '/users/me', { ip: short }),
		    LIMIT_DEFAULT);
		const other = await req('GET', '/users/me',
		    { ip: `2001:db8::1:${tail}` });
		assert.equal(other.status, 401);
	});

	test('limits are per route: a spent login limit leaves register open',
	    async () => {
		const ip = clientIp();
		for (let i = 0; i <= LIMIT_AUTH.n; i++)
			await req('POST', '/auth/login', { ip,
			    body: { username: 'nobody_x', password: pw } });
		assert429(await req('POST', '/auth/login', { ip,
		    body: { username: 'nobody_x', password: pw } }),
		    LIMIT_AUTH);
		const r = await req('POST', '/auth/register',
		    { ip, body: { username: uname('pr'), password: pw } });
		assert.equal(r.status, 200, r.text);
	});
});

// Requests fired at once from one IP are spread by nginx over all the
// workers: the limit must still let through exactly N.
describe('rate limits, requests at once across workers', { concurrency: 2 },
    () => {
	test(`register: of ${LIMIT_AUTH.n + 3} at once exactly ` +
	    `${LIMIT_AUTH.n} succeed, and only those users exist`, async () => {
		const ip = clientIp();
		const names = Array.from({ length: LIMIT_AUTH.n + 3 },
		    () => uname('cr'));
		const rs = await Promise.all(names.map((username) =>
		    req('POST', '/auth/register',
		    { ip, body: { username, password: pw } })));
		assert.equal(count(rs, 200), LIMIT_AUTH.n, `${statuses(rs)}`);
		assert.equal(count(rs, 429), 3, `${statuses(rs)}`);
		const logins = await Promise.all(names.map((username) =>
		    req('POST', '/auth/login',
		    { body: { username, password: pw } })));
		for (let i = 0; i < names.length; i++)
			assert.equal(logins[i].status,
			    rs[i].status === 200 ? 200 : 401,
			    `${names[i]}: register ${rs[i].status}, login ` +
			    `${logins[i].status}`);
	});

	test(`login: of ${LIMIT_AUTH.n + 4} at once exactly ${LIMIT_AUTH.n} ` +
	    'are answered', async () => {
		const u = await register();
		const ip = clientIp();
		const rs = await Promise.all(Array.from(
		    { length: LIMIT_AUTH.n + 4 }, (_, i) =>
		    req('POST', '/auth/login', { ip, body: {
		    username: u.username, password: `wrong${i}` } })));
		assert.equal(count(rs, 401), LIMIT_AUTH.n, `${statuses(rs)}`);
		assert.equal(count(rs, 429), 4, `${statuses(rs)}`);
		for (const r of rs)
			if (r.status === 429)
				assert429(r, LIMIT_AUTH);
	});

	test(`refresh: of ${LIMIT_REFRESH.n + 4} at once exactly ` +
	    `${LIMIT_REFRESH.n} are answered`, async () => {
		const ip = clientIp();
		const rs = await Promise.all(Array.from(
		    { length: LIMIT_REFRESH.n + 4 }, (_, i) =>
		    req('POST', '/auth/refresh', { ip, body: {
		    refreshToken: i.toString(16).padStart(80, 'a') } })));
		assert.equal(count(rs, 401), LIMIT_REFRESH.n, `${statuses(rs)}`);
		assert.equal(count(rs, 429), 4, `${statuses(rs)}`);
	});

	test(`GET /users/me: of ${LIMIT_DEFAULT.n + 5} at once exactly ` +
	    `${LIMIT_DEFAULT.n} succeed`, async () => {
		const u = await registerAndLogin();
		const ip = clientIp();
		const rs = await Promise.all(Array.from(
		    { length: LIMIT_DEFAULT.n + 5 }, () =>
		    req('GET', '/users/me', { ip, token: u.access_token })));
		assert.equal(count(rs, 200), LIMIT_DEFAULT.n, `${statuses(rs)}`);
		assert.equal(count(rs, 429), 5, `${statuses(rs)}`);
		// Another address is unaffected.
		assert.equal((await req('GET', '/users/me',
		    { token: u.access_token })).status, 200);
	});

	test('two IPs at once each get their own full allowance', async () => {
		const u = await registerAndLogin();
		const ips = [clientIp(), clientIp()];
		const rs = await Promise.all(ips.flatMap((ip) => Array.from(
		    { length: LIMIT_DEFAULT.n + 2 }, () =>
		    req('GET', '/users/me', { ip, token: u.access_token }))));
		const per = ips.map((_, k) => rs.slice(k * (LIMIT_DEFAULT.n + 2),
		    (k + 1) * (LIMIT_DEFAULT.n + 2)));
		for (const p of per) {
			assert.equal(count(p, 200), LIMIT_DEFAULT.n,
			    `${statuses(p)}`);
			assert.equal(count(p, 429), 2, `${statuses(p)}`);
		}
	});
});

// NestJS's throttler counts a window from an address's first request. A
// limiter whose windows are aligned to the clock lets 2N through in a
// moment around each boundary. Slow (waits for a boundary, up to one
// window), so opt-in: E2E_SLOW=1.
describe('rate limits across a clock-aligned boundary', () => {
	test(`GET /users/me: ${LIMIT_DEFAULT.n + 1} requests within 3 s across ` +
	    'a multiple of the window are limited', {
		skip: !process.env.E2E_SLOW && 'set E2E_SLOW=1 to run',
	}, async () => {
		const lim = LIMIT_DEFAULT;
		const u = await registerAndLogin();
		const ip = clientIp();
		const left = lim.window - (Date.now() / 1000) % lim.window;
		if (left < 1.5)
			await sleep(left * 1000 + 250);
		const left2 = lim.window - (Date.now() / 1000) % lim.window;
		await sleep(Math.max(0, left2 - 1.5) * 1000);
		const t0 = Date.now();
		for (let i = 0; i < lim.n; i++) {
			const r = await req('GET', '/users/me',
			    { ip, token: u.access_token });
			assert.equal(r.status, 200, `request ${i + 1}`);
		}
		const boundary = Math.ceil(t0 / 1000 / lim.window) *
		    lim.window * 1000;
		await sleep(Math.max(0, boundary - Date.now()) + 500);
		assert.ok(Date.now() - t0 < lim.window * 1000);
		assert429(await req('GET', '/users/me',
		    { ip, token: u.access_token }), lim);
	});
});
