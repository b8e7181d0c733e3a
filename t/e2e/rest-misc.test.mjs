// t/e2e/rest-misc.test.mjs: black-box tests of what surrounds the REST
// routes: unknown routes and methods, CORS preflight, body size, the
// health check (docs/api.md §1.1, §1.4, §1.7, §2.9, §3; DESIGN
// "Resolved details").

import { describe, test } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import {
	req, assertError, registerAndLogin, uname, REFRESH_RE,
} from './lib/api.mjs';

const ORIGIN = process.env.CORS_ORIGIN && process.env.CORS_ORIGIN !== '*'
    ? process.env.CORS_ORIGIN.split(',')[0].trim()
    : 'http://localhost:3000';

// One user for the tests that only need some valid token.
let shared;
const someUser = () => (shared ??= registerAndLogin());

describe('routing', { concurrency: 8 }, () => {
	test('GET /healthz is 200', async () => {
		const r = await req('GET', '/healthz');
		assert.equal(r.status, 200, r.text);
	});

	for (const [method, path] of [
		['GET', '/auth/nope'],
		['POST', '/auth/nope'],
		['GET', '/users/nope'],
		['GET', '/users/me/nope'],
		['POST', '/auth/register/extra'],
		['GET', '/auth/register'],
		['GET', '/auth/login'],
		['PUT', '/users/me'],
		['DELETE', '/users/me'],
		['GET', '/users/me/avatar'],
	]) {
		test(`${method} ${path} is 404 JSON`, async () => {
			const u = await someUser();
			const r = await req(method, path,
			    { token: u.access_token });
			assertError(r, 404);
		});
	}

	test('an unknown path outside the API is 404', async () => {
		const r = await req('GET', '/no-such-page-here.html');
		assert.equal(r.status, 404);
	});

	test('a query string does not change the route', async () => {
		const u = await registerAndLogin();
		const r = await req('GET', '/users/me?x=1&y=2',
		    { token: u.access_token });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.id, u.id);
	});

	test('errors carry statusCode, message and error', async () => {
		const r = await req('POST', '/auth/login',
		    { body: { username: 'nobody_here_x', password: 'abcdefg' } });
		assertError(r, 401);
		assert.equal(typeof r.json.error, 'string');
		assert.ok(!/stack|at \//i.test(r.text), 'a stack trace leaked');
	});

	test('a 3 MB JSON body is refused with 413', async () => {
		const r = await req('POST', '/auth/register', { body: {
			username: 'big_body', password: 'abcdefg',
			displayName: 'x'.repeat(3 * 1024 * 1024) } });
		assert.equal(r.status, 413, r.text.slice(0, 200));
	});
});

describe('CORS', { concurrency: 8 }, () => {
	for (const path of ['/auth/login', '/auth/register', '/users/me',
	    '/users/me/avatar']) {
		test(`preflight OPTIONS ${path} is allowed`, async () => {
			const r = await req('OPTIONS', path, { headers: {
				Origin: ORIGIN,
				'Access-Control-Request-Method': 'POST',
				'Access-Control-Request-Headers':
				    'content-type,authorization',
			} });
			assert.ok(r.status === 204 || r.status === 200,
			    `status ${r.status}`);
			const o = r.headers.get('access-control-allow-origin');
			assert.ok(o === '*' || o === ORIGIN, `ACAO ${o}`);
		});
	}

	test('a simple request with Origin gets Access-Control-Allow-Origin',
	    async () => {
		const u = await registerAndLogin();
		const r = await req('GET', '/users/me', { token: u.access_token,
		    headers: { Origin: ORIGIN } });
		assert.equal(r.status, 200);
		const o = r.headers.get('access-control-allow-origin');
		assert.ok(o === '*' || o === ORIGIN, `ACAO ${o}`);
	});

	test('an error answer carries it too', async () => {
		const r = await req('GET', '/users/me',
		    { headers: { Origin: ORIGIN } });
		assert.equal(r.status, 401);
		const o = r.headers.get('access-control-allow-origin');
		assert.ok(o === '*' || o === ORIGIN, `ACAO ${o}`);
	});
});

// NestJS on Express parses application/x-www-form-urlencoded bodies as well
// as JSON, so a client that posts a form (package:http's post() with a Map
// body does) works against the original and must work against ours.
describe('form-encoded bodies', { concurrency: 2 }, () => {
	const form = (path, fields, token) => req('POST', path, {
		raw: true, token, body: new URLSearchParams(fields).toString(),
		headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
	});

	test('register, login, refresh and logout accept a form', async () => {
		const username = uname('form');
		const password = 'form-pass-1';
		const r = await form('/auth/register',
		    { username, password, displayName: 'Ż Form' });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.username, username);
		const l = await form('/auth/login', { username, password });
		assert.equal(l.status, 200, l.text);
		assert.match(l.json.refresh_token, REFRESH_RE);
		const me = await req('GET', '/users/me',
		    { token: l.json.access_token });
		assert.equal(me.json.displayName, 'Ż Form');
		const f = await form('/auth/refresh',
		    { refreshToken: l.json.refresh_token });
		assert.equal(f.status, 200, f.text);
		const o = await form('/auth/logout',
		    { refreshToken: f.json.refresh_token });
		assert.deepEqual(o.json, { message: 'Logged out' });
	});

	test('a form is validated like JSON', async () => {
		const r = await form('/auth/register',
		    { username: 'ab', password: 'abcdefg' });
		assertError(r, 400);
		assert.ok(Array.isArray(r.json.message));
	});
});

// Express, under NestJS, routes non-strictly: "/users/me/" is "/users/me".
describe('trailing slashes', { concurrency: 2 }, () => {
	test('GET /users/me/ is /users/me', async () => {
		const u = await someUser();
		const r = await req('GET', '/users/me/', { token: u.access_token });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.id, u.id);
	});

	test('POST /auth/login/ is /auth/login', async () => {
		const u = await someUser();
		const r = await req('POST', '/auth/login/',
		    { body: { username: u.username, password: u.password } });
		assert.equal(r.status, 200, r.text);
	});
});
