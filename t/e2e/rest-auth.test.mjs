// t/e2e/rest-auth.test.mjs: black-box tests of /auth/register, /auth/login,
// /auth/refresh and /auth/logout over HTTP through nginx (docs/api.md
// §1.4, §1.5, §2.1-2.4, §2.10 and DESIGN "Resolved details").

import { describe, test } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import {
	req, uname, register, login, registerAndLogin,
	assertError, assertValidation, decodeJwt, verifyHs256, now,
	JWT_SECRET, ACCESS_TOKEN_TTL, REFRESH_RE,
} from './lib/api.mjs';

const reg = (body, opts = {}) =>
    req('POST', '/auth/register', { body, ...opts });
const pw = 'secret-pw-1';

describe('POST /auth/register', { concurrency: 8 }, () => {
	test('answers 200 {id, username}', async () => {
		const username = uname();
		const r = await reg({ username, password: pw });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(Object.keys(r.json).sort(), ['id', 'username']);
		assert.ok(Number.isInteger(r.json.id) && r.json.id > 0);
		assert.equal(r.json.username, username);
	});

	test('ids are distinct per user', async () => {
		const a = await register();
		const b = await register();
		assert.notEqual(a.id, b.id);
	});

	test('usernames of 3 and 30 characters are accepted', async () => {
		const u30 = (uname('t') + 'x'.repeat(30)).slice(0, 30);
		const r30 = await reg({ username: u30, password: pw });
		assert.equal(r30.status, 200, r30.text);
		assert.equal(r30.json.username, u30);
		// 3-character names are few: an earlier run may hold one.
		const abc = 'abcdefghijklmnopqrstuvwxyz0123456789_';
		let last;
		for (let i = 0; i < 8; i++) {
			let u3 = '';
			for (let k = 0; k < 3; k++)
				u3 += abc[Math.floor(Math.random() * abc.length)];
			last = await reg({ username: u3, password: pw });
			if (last.status !== 409)
				break;
		}
		assert.equal(last.status, 200, last.text);
	});

	test('letters, digits and underscores are all allowed', async () => {
		const username = `Ab_9${uname('').slice(1)}`;
		const r = await reg({ username, password: pw });
		assert.equal(r.status, 200, r.text);
	});

	for (const [what, username] of [
		['2 characters', 'ab'],
		['31 characters', 'a'.repeat(31)],
		['a hyphen', 'user-name'],
		['unicode letters', 'żółw_user'],
		['a space', 'user name'],
		['a dot', 'user.name'],
		['an empty string', ''],
		['a NUL byte', 'user\u0000name'],
		['a trailing newline', 'username\n'],
		['10000 characters', 'x'.repeat(10000)],
	]) {
		test(`a username with ${what} is refused with 400`, async () => {
			assertValidation(await reg({ username, password: pw }));
		});
	}

	test('a refused username creates no user', async () => {
		const username = 'ab';
		await reg({ username, password: pw });
		const r = await req('POST', '/auth/login',
		    { body: { username, password: pw } });
		assert.notEqual(r.status, 200);
	});

	test('a duplicate username is 409', async () => {
		const u = await register();
		const r = await reg({ username: u.username, password: pw });
		assertError(r, 409);
	});

	test('a duplicate differing only in case is 409', async () => {
		const u = await register({ username: uname('cAsE') });
		for (const name of [u.username.toUpperCase(),
		    u.username.toLowerCase()]) {
			const r = await reg({ username: name, password: pw });
			assertError(r, 409);
		}
	});

	test('a duplicate does not change the first user\'s password',
	    async () => {
		const u = await register();
		await reg({ username: u.username, password: 'other-pw-2' });
		await login(u.username, u.password);
		const r = await req('POST', '/auth/login', { body:
		    { username: u.username, password: 'other-pw-2' } });
		assertError(r, 401);
	});

	test('concurrent registrations of one name in any case: exactly one wins',
	    async () => {
		const username = uname('race');
		const names = [username, username.toUpperCase(),
		    username.toLowerCase(), username.replace(/^r/, 'R')];
		const rs = await Promise.all(names.map((n) =>
		    reg({ username: n, password: pw })));
		const st = rs.map((r) => r.status).sort();
		assert.deepEqual(st, [200, 409, 409, 409], rs.map((r) =>
		    r.text).join('\n'));
	});

	for (const [what, body] of [
		['a numeric username', { username: 12345, password: pw }],
		['an array username', { username: ['abc'], password: pw }],
		['a null username', { username: null, password: pw }],
		['a numeric password', { username: 'x', password: 12345678 }],
		['an object password', { username: 'x', password: { a: 1 } }],
		['a numeric displayName',
		    { username: 'x', password: pw, displayName: 5 }],
		['a boolean displayName',
		    { username: 'x', password: pw, displayName: true }],
		['a missing username', { password: pw }],
		['a missing password', { username: 'x' }],
		['an empty object', {}],
	]) {
		test(`${what} is refused with 400`, async () => {
			const b = { ...body };
			if (b.username === 'x')
				b.username = uname();
			assertValidation(await reg(b));
			if (typeof b.username === 'string') {
				const r = await req('POST', '/auth/login',
				    { body: { username: b.username,
				    password: pw } });
				assert.notEqual(r.status, 200);
			}
		});
	}

	test('an unknown field is refused with 400 naming it', async () => {
		const username = uname();
		const r = await reg({ username, password: pw, isAdmin: true });
		assertValidation(r);
		assert.ok(r.json.message.some((m) => m.includes('isAdmin')),
		    JSON.stringify(r.json.message));
		const l = await req('POST', '/auth/login',
		    { body: { username, password: pw } });
		assertError(l, 401);
	});

	test('avatarUrl and id cannot be set at registration', async () => {
		assertValidation(await reg({ username: uname(), password: pw,
		    avatarUrl: '/uploads/avatars/x.png' }));
		assertValidation(await reg({ username: uname(), password: pw,
		    id: 1 }));
	});

	test('a JSON array body is refused with 400', async () => {
		const r = await reg([{ username: uname(), password: pw }]);
		assertError(r, 400);
	});

	test('a JSON string body is refused with 400', async () => {
		const r = await req('POST', '/auth/register', { raw: true,
		    body: '"hello"',
		    headers: { 'Content-Type': 'application/json' } });
		assertError(r, 400);
	});

	for (const [what, text] of [
		['truncated JSON', '{"username": "abc", "password": '],
		['a trailing comma', '{"username":"abcdef","password":"abcdef",}'],
		['single quotes', "{'username':'abcdef','password':'abcdef'}"],
		['garbage', 'not json at all'],
		['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22,
		    0x3a, 0x31, 0x7d])],
	]) {
		test(`malformed JSON (${what}) is 400`, async () => {
			const r = await req('POST', '/auth/register', {
				raw: true, body: text,
				headers: { 'Content-Type': 'application/json' },
			});
			assertError(r, 400);
		});
	}

	test('a missing body is 400', async () => {
		assertError(await req('POST', '/auth/register'), 400);
		assertError(await req('POST', '/auth/register', {
			raw: true, body: '',
			headers: { 'Content-Type': 'application/json' },
		}), 400);
	});

	test('a 5-character password is 400, 6 is accepted', async () => {
		assertValidation(await reg({ username: uname(),
		    password: '12345' }));
		const u = await register({ password: '123456' });
		await login(u.username, '123456');
	});

	test('a 72-byte password works, 73 bytes is 400', async () => {
		const p72 = 'p'.repeat(72);
		const u = await register({ password: p72 });
		await login(u.username, p72);
		assertValidation(await reg({ username: uname(),
		    password: 'p'.repeat(73) }));
	});

	test('the password limit counts bytes: 36 × "ż" ok, 37 × "ż" 400',
	    async () => {
		const u = await register({ password: 'ż'.repeat(36) });
		await login(u.username, 'ż'.repeat(36));
		assertValidation(await reg({ username: uname(),
		    password: 'ż'.repeat(37) }));
	});

	test('a 73-byte password never logs in as its 72-byte prefix',
	    async () => {
		const p72 = 'k'.repeat(72);
		const u = await register({ password: p72 });
		const r = await req('POST', '/auth/login', { body:
		    { username: u.username, password: p72 + 'X' } });
		assert.ok(r.status === 401 || r.status === 400,
		    `${r.status} ${r.text}`);
	});

	test('displayName of 50 characters ok, 51 is 400', async () => {
		const u = await registerAndLogin({ displayName: 'd'.repeat(50) });
		const me = await req('GET', '/users/me',
		    { token: u.access_token });
		assert.equal(me.json.displayName, 'd'.repeat(50));
		assertValidation(await reg({ username: uname(), password: pw,
		    displayName: 'd'.repeat(51) }));
	});

	test('displayName counts code points: 50 × "ż" ok, 51 × "ż" 400',
	    async () => {
		const u = await registerAndLogin({ displayName: 'ż'.repeat(50) });
		const me = await req('GET', '/users/me',
		    { token: u.access_token });
		assert.equal(me.json.displayName, 'ż'.repeat(50));
		assertValidation(await reg({ username: uname(), password: pw,
		    displayName: 'ż'.repeat(51) }));
	});

	test('displayName of 50 emoji (4-byte UTF-8) is accepted', async () => {
		const name = '😀'.repeat(50);
		const u = await registerAndLogin({ displayName: name });
		const me = await req('GET', '/users/me',
		    { token: u.access_token });
		assert.equal(me.json.displayName, name);
	});

	test('displayName keeps quotes, backslashes and HTML as text',
	    async () => {
		const name = '"O\'Neil" \\ <b>&amp;</b>\t';
		const u = await registerAndLogin({ displayName: name });
		const me = await req('GET', '/users/me',
		    { token: u.access_token });
		assert.equal(me.json.displayName, name);
	});

	test('without displayName the profile has displayName null',
	    async () => {
		const u = await registerAndLogin();
		const me = await req('GET', '/users/me',
		    { token: u.access_token });
		assert.equal(me.json.displayName, null);
	});
});

describe('POST /auth/login', { concurrency: 8 }, () => {
	test('answers 200 {access_token, refresh_token}', async () => {
		const u = await register();
		const r = await req('POST', '/auth/login', { body:
		    { username: u.username, password: u.password } });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(Object.keys(r.json).sort(),
		    ['access_token', 'refresh_token']);
		assert.match(r.json.refresh_token, REFRESH_RE);
	});

	test('the access token is an HS256 JWT {sub, username, iat, exp}',
	    async () => {
		const u = await registerAndLogin();
		const t0 = now();
		const { header, payload } = decodeJwt(u.access_token);
		assert.equal(header.alg, 'HS256');
		assert.equal(payload.sub, u.id);
		assert.equal(payload.username, u.username);
		assert.ok(Number.isInteger(payload.iat));
		assert.ok(Number.isInteger(payload.exp));
		assert.equal(payload.exp - payload.iat, ACCESS_TOKEN_TTL);
		assert.ok(Math.abs(payload.iat - t0) < 120,
		    `iat ${payload.iat} far from now ${t0}`);
		if (JWT_SECRET)
			assert.ok(verifyHs256(u.access_token),
			    'signature does not verify with JWT_SECRET');
	});

	test('every login gives a new refresh token', async () => {
		const u = await register();
		const a = await login(u.username, u.password);
		const b = await login(u.username, u.password);
		assert.notEqual(a.refresh_token, b.refresh_token);
		assert.match(b.refresh_token, REFRESH_RE);
	});

	test('wrong password and unknown user give the same 401', async () => {
		const u = await register();
		const wrong = await req('POST', '/auth/login', { body:
		    { username: u.username, password: 'not-the-password' } });
		const unknown = await req('POST', '/auth/login', { body:
		    { username: uname('nobody'), password: 'whatever-pw' } });
		assertError(wrong, 401, 'Invalid credentials');
		assertError(unknown, 401, 'Invalid credentials');
		assert.deepEqual(wrong.json, unknown.json);
	});

	test('a wrong-case password is refused', async () => {
		const u = await register({ password: 'CaseSensitive1' });
		const r = await req('POST', '/auth/login', { body:
		    { username: u.username, password: 'casesensitive1' } });
		assertError(r, 401, 'Invalid credentials');
	});

	test('an empty password is refused', async () => {
		const u = await register();
		const r = await req('POST', '/auth/login', { body:
		    { username: u.username, password: '' } });
		assert.ok(r.status === 401 || r.status === 400, r.text);
	});

	for (const [what, body] of [
		['a missing body', undefined],
		['an empty object', {}],
		['a numeric username', { username: 1, password: 'abcdefg' }],
		['an array password', { username: 'abc', password: ['x'] }],
		['an unknown field',
		    { username: 'abc', password: 'abcdefg', extra: 1 }],
	]) {
		test(`${what} is refused with 400`, async () => {
			const r = await req('POST', '/auth/login', { body });
			assertError(r, 400);
		});
	}

	test('malformed JSON is 400', async () => {
		const r = await req('POST', '/auth/login', { raw: true,
		    body: '{"username":', headers:
		    { 'Content-Type': 'application/json' } });
		assertError(r, 400);
	});
});

describe('POST /auth/refresh', { concurrency: 8 }, () => {
	const refresh = (refreshToken, ip) => req('POST', '/auth/refresh',
	    { body: { refreshToken }, ip });

	test('rotates: a new pair, and the old token is then 401', async () => {
		const u = await registerAndLogin();
		const r = await refresh(u.refresh_token);
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(Object.keys(r.json).sort(),
		    ['access_token', 'refresh_token']);
		assert.match(r.json.refresh_token, REFRESH_RE);
		assert.notEqual(r.json.refresh_token, u.refresh_token);
		const { payload } = decodeJwt(r.json.access_token);
		assert.equal(payload.sub, u.id);
		assert.equal(payload.username, u.username);
		assert.equal(payload.exp - payload.iat, ACCESS_TOKEN_TTL);
		const me = await req('GET', '/users/me',
		    { token: r.json.access_token });
		assert.equal(me.status, 200);
		assert.equal(me.json.id, u.id);
		assertError(await refresh(u.refresh_token), 401);
	});

	test('a chain of rotations keeps working', async () => {
		const u = await registerAndLogin();
		let tok = u.refresh_token;
		for (let i = 0; i < 4; i++) {
			const r = await refresh(tok);
			assert.equal(r.status, 200, `step ${i}: ${r.text}`);
			tok = r.json.refresh_token;
		}
	});

	test('reuse of a rotated token revokes the new one too', async () => {
		const u = await registerAndLogin();
		const r1 = await refresh(u.refresh_token);
		assert.equal(r1.status, 200);
		assertError(await refresh(u.refresh_token), 401);
		assertError(await refresh(r1.json.refresh_token), 401);
	});

	test('reuse revokes every session of that user, not others',
	    async () => {
		const u = await registerAndLogin();
		const other = await login(u.username, u.password);
		const stranger = await registerAndLogin();
		const r1 = await refresh(u.refresh_token);
		assert.equal(r1.status, 200);
		assertError(await refresh(u.refresh_token), 401);
		assertError(await refresh(other.refresh_token), 401);
		const s = await refresh(stranger.refresh_token);
		assert.equal(s.status, 200, 'another user was logged out');
		// A fresh login still works after the revocation.
		const again = await login(u.username, u.password);
		assert.equal((await refresh(again.refresh_token)).status, 200);
	});

	test('the same token presented twice at once: at most one wins',
	    async () => {
		const u = await registerAndLogin();
		let tok = u.refresh_token;
		for (let round = 0; round < 3; round++) {
			const rs = await Promise.all([0, 1, 2, 3, 4, 5].map(() =>
			    refresh(tok)));
			const ok = rs.filter((r) => r.status === 200);
			assert.ok(ok.length <= 1,
			    `round ${round}: ${ok.length} refreshes succeeded`);
			for (const r of rs)
				if (r.status !== 200)
					assertError(r, 401);
			// Start the next round from a clean session.
			tok = (await login(u.username, u.password)).refresh_token;
		}
	});

	test('a token revoked by logout is 401', async () => {
		const u = await registerAndLogin();
		const lo = await req('POST', '/auth/logout',
		    { body: { refreshToken: u.refresh_token } });
		assert.equal(lo.status, 200, lo.text);
		assertError(await refresh(u.refresh_token), 401);
	});

	test('made-up tokens are 401', async () => {
		for (const t of ['0'.repeat(80), 'f'.repeat(80),
		    'a'.repeat(79), 'zz', 'x'.repeat(500)])
			assertError(await refresh(t), 401);
	});

	test('a valid token with one hex digit changed is 401', async () => {
		const u = await registerAndLogin();
		const t = u.refresh_token;
		const bad = t.slice(0, 40) + (t[40] === '0' ? '1' : '0') +
		    t.slice(41);
		assertError(await refresh(bad), 401);
		// ... and the genuine token was not burnt by it.
		assert.equal((await refresh(t)).status, 200);
	});

	test('an access token is not a refresh token', async () => {
		const u = await registerAndLogin();
		assertError(await refresh(u.access_token), 401);
	});

	for (const [what, body] of [
		['a missing body', undefined],
		['an empty object', {}],
		['a numeric token', { refreshToken: 123 }],
		['a null token', { refreshToken: null }],
		['an unknown field', { refreshToken: 'a'.repeat(80), x: 1 }],
	]) {
		test(`${what} is 400`, async () => {
			assertError(await req('POST', '/auth/refresh',
			    { body }), 400);
		});
	}
});

describe('POST /auth/logout', { concurrency: 8 }, () => {
	test('answers 200 {message: "Logged out"}', async () => {
		const u = await registerAndLogin();
		const r = await req('POST', '/auth/logout',
		    { body: { refreshToken: u.refresh_token } });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.json, { message: 'Logged out' });
	});

	test('logs out only that session', async () => {
		const u = await registerAndLogin();
		const other = await login(u.username, u.password);
		await req('POST', '/auth/logout',
		    { body: { refreshToken: u.refresh_token } });
		const r = await req('POST', '/auth/refresh',
		    { body: { refreshToken: other.refresh_token } });
		assert.equal(r.status, 200, r.text);
	});

	for (const [what, body] of [
		['a missing body', undefined],
		['a numeric token', { refreshToken: 5 }],
		['an unknown field', { refreshToken: 'a'.repeat(80), y: 2 }],
	]) {
		test(`${what} is 400`, async () => {
			assertError(await req('POST', '/auth/logout',
			    { body }), 400);
		});
	}
});
