// t/e2e/rest-users.test.mjs: black-box tests of GET and PATCH /users/me
// and of the bearer-token guard (docs/api.md §1.5, §2.5, §2.6 and DESIGN
// "Resolved details": HS256 only, exp checked).

import { describe, test, before } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import {
	req, registerAndLogin, sharedUser, assertError, assertValidation,
	assertUnauthorized, decodeJwt, signJwt, b64url, now,
	JWT_SECRET, JWT_REFRESH_SECRET, ISO_MS, HEX_COLOR,
} from './lib/api.mjs';

const me = (token, opts = {}) => req('GET', '/users/me', { token, ...opts });
const patch = (token, body, opts = {}) =>
    req('PATCH', '/users/me', { token, body, ...opts });

// One user for tests that only read or are refused (so change nothing).
const kept = sharedUser({ displayName: 'Kept' });

describe('GET /users/me', { concurrency: 8 }, () => {
	test('answers the profile with exactly the spec\'s keys', async () => {
		const t0 = Date.now();
		const u = await registerAndLogin({ displayName: 'Jane Doe' });
		const r = await me(u.access_token);
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(Object.keys(r.json).sort(), ['avatarColor',
		    'avatarUrl', 'createdAt', 'displayName', 'id', 'username']);
		assert.equal(r.json.id, u.id);
		assert.equal(r.json.username, u.username);
		assert.equal(r.json.displayName, 'Jane Doe');
		assert.equal(r.json.avatarUrl, null);
		assert.match(r.json.avatarColor, HEX_COLOR);
		assert.match(r.json.createdAt, ISO_MS);
		const c = Date.parse(r.json.createdAt);
		assert.ok(Math.abs(c - t0) < 120000,
		    `createdAt ${r.json.createdAt} is not about now`);
	});

	test('answers JSON', async () => {
		const u = await kept();
		const r = await me(u.access_token);
		assert.match(r.headers.get('content-type') ?? '',
		    /^application\/json/);
	});

	test('each user sees their own profile', async () => {
		const a = await registerAndLogin();
		const b = await registerAndLogin();
		assert.equal((await me(a.access_token)).json.username,
		    a.username);
		assert.equal((await me(b.access_token)).json.username,
		    b.username);
	});

	test('avatarColor stays the same across requests', async () => {
		const u = await kept();
		const c1 = (await me(u.access_token)).json.avatarColor;
		const c2 = (await me(u.access_token)).json.avatarColor;
		assert.equal(c1, c2);
	});

	test('a token signed by hand with JWT_SECRET is accepted',
	    { skip: !JWT_SECRET && 'JWT_SECRET not set' }, async () => {
		// The control for the forged tokens below: our signer is right.
		const u = await registerAndLogin();
		const t = signJwt({ sub: u.id, username: u.username,
		    iat: now(), exp: now() + 600 });
		const r = await me(t);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.id, u.id);
	});
});

describe('the bearer guard', { concurrency: 8 }, () => {
	let u;
	before(async () => {
		u = await registerAndLogin();
	});
	const claims = () => ({ sub: u.id, username: u.username,
	    iat: now() - 10, exp: now() + 600 });

	test('no Authorization header is 401 Unauthorized', async () => {
		assertUnauthorized(await me());
	});

	test('an empty bearer is 401', async () => {
		assertUnauthorized(await me(''));
	});

	test('garbage bearers are 401', async () => {
		for (const t of ['garbage', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9..',
		    '....', 'x'.repeat(5000)])
			assertUnauthorized(await me(t));
	});

	test('a token without the Bearer scheme is 401', async () => {
		assertUnauthorized(await req('GET', '/users/me',
		    { headers: { Authorization: u.access_token } }));
		assertUnauthorized(await req('GET', '/users/me',
		    { headers: { Authorization: `Basic ${u.access_token}` } }));
	});

	test('an expired token is 401', { skip: !JWT_SECRET &&
	    'JWT_SECRET not set' }, async () => {
		const t = signJwt({ sub: u.id, username: u.username,
		    iat: now() - 1000, exp: now() - 100 });
		assertUnauthorized(await me(t));
	});

	test('alg none is 401', async () => {
		for (const alg of ['none', 'None', 'NONE']) {
			const t = signJwt(claims(), { alg,
			    header: { alg, typ: 'JWT' } });
			assertUnauthorized(await me(t));
			// ... also with a signature left on.
			const real = u.access_token.split('.')[2];
			assertUnauthorized(await me(t + real));
		}
	});

	test('HS384 and HS512 tokens with the right secret are 401',
	    { skip: !JWT_SECRET && 'JWT_SECRET not set' }, async () => {
		for (const alg of ['HS384', 'HS512'])
			assertUnauthorized(await me(signJwt(claims(), { alg })));
	});

	test('an HS256 signature under an RS256 header is 401',
	    { skip: !JWT_SECRET && 'JWT_SECRET not set' }, async () => {
		const t = signJwt(claims(), { alg: 'HS256',
		    header: { alg: 'RS256', typ: 'JWT' } });
		assertUnauthorized(await me(t));
	});

	test('a tampered payload is 401', async () => {
		const other = await registerAndLogin();
		const [h, , s] = u.access_token.split('.');
		const p = decodeJwt(u.access_token).payload;
		for (const change of [{ sub: other.id },
		    { username: other.username }, { exp: p.exp + 3600 }]) {
			const body = b64url(JSON.stringify({ ...p, ...change }));
			assertUnauthorized(await me(`${h}.${body}.${s}`));
		}
	});

	test('a token signed with another secret is 401', async () => {
		assertUnauthorized(await me(signJwt(claims(),
		    { secret: 'not-the-secret' })));
		if (JWT_REFRESH_SECRET && JWT_REFRESH_SECRET !== JWT_SECRET)
			assertUnauthorized(await me(signJwt(claims(),
			    { secret: JWT_REFRESH_SECRET })));
	});

	test('a truncated or altered signature is 401', async () => {
		const t = u.access_token;
		assertUnauthorized(await me(t.slice(0, -1)));
		assertUnauthorized(await me(t.slice(0, t.lastIndexOf('.') + 1)));
		const last = t[t.length - 2] === 'A' ? 'B' : 'A';
		assertUnauthorized(await me(t.slice(0, -2) + last +
		    t.slice(-1)));
	});

	test('a well-signed token for a user that does not exist is refused',
	    { skip: !JWT_SECRET && 'JWT_SECRET not set' }, async () => {
		for (const sub of [2147483647, 9007199254740991, 0, -1, 1.5,
		    'abc', null]) {
			const t = signJwt({ sub, username: 'ghost_user',
			    iat: now(), exp: now() + 600 });
			for (const [m, body] of [['GET'],
			    ['PATCH', { displayName: 'g' }]]) {
				const r = await req(m, '/users/me',
				    { token: t, body });
				assert.ok([400, 401, 404].includes(r.status),
				    `sub ${sub} ${m}: ${r.status} ${r.text}`);
				assert.equal(r.json?.statusCode, r.status);
			}
		}
	});

	test('a refresh token as bearer is 401', async () => {
		assertUnauthorized(await me(u.refresh_token));
	});

	test('the genuine token still works after all that', async () => {
		assert.equal((await me(u.access_token)).status, 200);
	});

	test('PATCH and avatar routes are guarded too', async () => {
		assertUnauthorized(await patch(undefined, { displayName: 'x' }));
		assertUnauthorized(await patch('garbage', { displayName: 'x' }));
		assertUnauthorized(await req('DELETE', '/users/me/avatar'));
		assertUnauthorized(await req('DELETE', '/users/me/avatar',
		    { token: 'garbage' }));
		const fd = new FormData();
		fd.append('avatar', new Blob([Buffer.from('x')],
		    { type: 'image/png' }), 'x.png');
		assertUnauthorized(await req('POST', '/users/me/avatar',
		    { body: fd, raw: true }));
	});

	test('an expired token is refused on every guarded route',
	    { skip: !JWT_SECRET && 'JWT_SECRET not set' }, async () => {
		const t = signJwt({ sub: u.id, username: u.username,
		    iat: now() - 1000, exp: now() - 100 });
		assertUnauthorized(await patch(t, { displayName: 'x' }));
		assertUnauthorized(await req('DELETE', '/users/me/avatar',
		    { token: t }));
		assert.notEqual((await me(u.access_token)).json.displayName,
		    'x');
	});
});

describe('PATCH /users/me', { concurrency: 8 }, () => {
	test('updates displayName and answers the spec\'s keys', async () => {
		const u = await registerAndLogin();
		const r = await patch(u.access_token, { displayName: 'New Name' });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(Object.keys(r.json).sort(), ['avatarColor',
		    'avatarUrl', 'displayName', 'id', 'username']);
		assert.equal(r.json.id, u.id);
		assert.equal(r.json.username, u.username);
		assert.equal(r.json.displayName, 'New Name');
		assert.equal(r.json.avatarUrl, null);
		assert.match(r.json.avatarColor, HEX_COLOR);
		const g = await me(u.access_token);
		assert.equal(g.json.displayName, 'New Name');
		assert.equal(g.json.avatarColor, r.json.avatarColor);
	});

	test('50 characters ok, 51 is 400 and changes nothing', async () => {
		const u = await registerAndLogin({ displayName: 'Before' });
		const ok = await patch(u.access_token,
		    { displayName: 'n'.repeat(50) });
		assert.equal(ok.status, 200, ok.text);
		assertValidation(await patch(u.access_token,
		    { displayName: 'n'.repeat(51) }));
		assert.equal((await me(u.access_token)).json.displayName,
		    'n'.repeat(50));
	});

	test('50 × "ż" is accepted, 51 × "ż" is 400', async () => {
		const u = await registerAndLogin();
		const ok = await patch(u.access_token,
		    { displayName: 'ż'.repeat(50) });
		assert.equal(ok.status, 200, ok.text);
		assert.equal(ok.json.displayName, 'ż'.repeat(50));
		assertValidation(await patch(u.access_token,
		    { displayName: 'ż'.repeat(51) }));
	});

	for (const [what, body] of [
		['a numeric displayName', { displayName: 42 }],
		['an array displayName', { displayName: ['a'] }],
		['an object displayName', { displayName: { a: 1 } }],
		['a boolean displayName', { displayName: false }],
		['an unknown field', { displayName: 'ok', foo: 1 }],
		['a username change', { username: 'someone_else' }],
		['an avatarUrl change', { avatarUrl: '/etc/passwd' }],
		['an avatarColor change', { avatarColor: '#000000' }],
	]) {
		test(`${what} is 400 and changes nothing`, async () => {
			const u = await kept();
			const before = (await me(u.access_token)).json;
			assertValidation(await patch(u.access_token, body));
			assert.deepEqual((await me(u.access_token)).json, before);
		});
	}

	test('an unknown field is named in the message', async () => {
		const u = await kept();
		const r = await patch(u.access_token, { isAdmin: true });
		assertValidation(r);
		assert.ok(r.json.message.some((m) => m.includes('isAdmin')),
		    JSON.stringify(r.json.message));
	});

	test('an empty object changes nothing', async () => {
		const u = await registerAndLogin({ displayName: 'Stays' });
		const r = await patch(u.access_token, {});
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.displayName, 'Stays');
	});

	test('malformed JSON is 400', async () => {
		const u = await kept();
		const r = await req('PATCH', '/users/me', {
			token: u.access_token, raw: true, body: '{"displayName":',
			headers: { 'Content-Type': 'application/json' },
		});
		assertError(r, 400);
	});

	test('a JSON array body is 400', async () => {
		const u = await kept();
		assertError(await patch(u.access_token,
		    [{ displayName: 'x' }]), 400);
	});

	test('one user\'s change does not touch another', async () => {
		const a = await registerAndLogin({ displayName: 'A' });
		const b = await registerAndLogin({ displayName: 'B' });
		await patch(a.access_token, { displayName: 'A2' });
		assert.equal((await me(b.access_token)).json.displayName, 'B');
	});
});
