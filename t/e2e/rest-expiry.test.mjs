// t/e2e/rest-expiry.test.mjs: tokens really expire. Runs only against a
// stack started with short lifetimes (ACCESS_TOKEN_TTL and
// REFRESH_TOKEN_TTL of at most 10 s, passed to the tests as well), since
// waiting out the defaults (900 s, 7 days) is not a test; skipped
// otherwise. E.g. ACCESS_TOKEN_TTL=3 REFRESH_TOKEN_TTL=4 deploy/up.

import { describe, test } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import {
	req, registerAndLogin, assertError, assertUnauthorized, decodeJwt,
	sleep, ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL,
} from './lib/api.mjs';

const SHORT = 10;

describe('token lifetimes', { concurrency: true }, () => {
	test('an access token works until exp and is 401 after', {
		skip: ACCESS_TOKEN_TTL > SHORT &&
		    `ACCESS_TOKEN_TTL ${ACCESS_TOKEN_TTL} > ${SHORT}`,
	}, async () => {
		const u = await registerAndLogin();
		const { exp } = decodeJwt(u.access_token).payload;
		assert.equal((await req('GET', '/users/me',
		    { token: u.access_token })).status, 200);
		await sleep(Math.max(0, exp * 1000 - Date.now()) + 1100);
		assertUnauthorized(await req('GET', '/users/me',
		    { token: u.access_token }));
		// A refreshed one works again.
		if (REFRESH_TOKEN_TTL > ACCESS_TOKEN_TTL + 2) {
			const r = await req('POST', '/auth/refresh',
			    { body: { refreshToken: u.refresh_token } });
			assert.equal(r.status, 200, r.text);
			assert.equal((await req('GET', '/users/me',
			    { token: r.json.access_token })).status, 200);
		}
	});

	test('a refresh token is 401 after REFRESH_TOKEN_TTL', {
		skip: REFRESH_TOKEN_TTL > SHORT &&
		    `REFRESH_TOKEN_TTL ${REFRESH_TOKEN_TTL} > ${SHORT}`,
	}, async () => {
		const u = await registerAndLogin();
		await sleep(REFRESH_TOKEN_TTL * 1000 + 1500);
		assertError(await req('POST', '/auth/refresh',
		    { body: { refreshToken: u.refresh_token } }), 401);
	});

	test('a rotated refresh token gets a full lifetime of its own', {
		skip: REFRESH_TOKEN_TTL > SHORT &&
		    `REFRESH_TOKEN_TTL ${REFRESH_TOKEN_TTL} > ${SHORT}`,
	}, async () => {
		const u = await registerAndLogin();
		await sleep(REFRESH_TOKEN_TTL * 1000 / 2);
		const r = await req('POST', '/auth/refresh',
		    { body: { refreshToken: u.refresh_token } });
		assert.equal(r.status, 200, r.text);
		// Past the first token's end, inside the second's.
		await sleep(REFRESH_TOKEN_TTL * 1000 / 2 + 700);
		const r2 = await req('POST', '/auth/refresh',
		    { body: { refreshToken: r.json.refresh_token } });
		assert.equal(r2.status, 200, r2.text);
	});
});
