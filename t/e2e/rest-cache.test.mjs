// t/e2e/rest-cache.test.mjs: GET /users/me served from chat-fcgi's
// profile cache in Redis (PROFILE_CACHE_TTL, on by default without
// DB_READ_HOST; fcgi/pcache.h).  Black box, through nginx, so requests
// spread over every chat-fcgi worker: after a PATCH /users/me, an avatar
// upload or removal, the very next GET shows the change, many times
// over for several users at once and with other GETs racing each write
// (a fill from an old row must never outlive the write); a cached answer
// is byte for byte the uncached one; two users never see each other's
// profile.  With REDIS_URL (and redis-cli), an entry planted under a
// user's key that names someone else is not served.
//
// Env: CHAT_URL; E2E_CACHE_ROUNDS (60) rounds per user; REDIS_URL.

import { describe, test } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
	req, registerAndLogin, uploadAvatar, makePng,
} from './lib/api.mjs';

const ROUNDS = Number(process.env.E2E_CACHE_ROUNDS || 60);
const USERS = 4;
const me = (token) => req('GET', '/users/me', { token });
const patch = (token, body) => req('PATCH', '/users/me', { token, body });

// The profile GET /users/me must answer for u, given what was written.
function assertMine(g, u, what) {
	assert.equal(g.status, 200, `${what}: ${g.text}`);
	assert.equal(g.json.id, u.id, `${what}: another user's profile`);
	assert.equal(g.json.username, u.username,
	    `${what}: another user's profile`);
}

// redis-cli on REDIS_URL, or null when there is none to use.
function redisCli() {
	if (!process.env.REDIS_URL)
		return null;
	try {
		execFileSync('redis-cli', ['--version'], { stdio: 'ignore' });
	} catch {
		return null;
	}
	return (...args) => execFileSync('redis-cli',
	    ['-u', process.env.REDIS_URL, '--no-auth-warning', ...args],
	    { encoding: 'utf8' }).trim();
}

describe('GET /users/me with the profile cache', () => {
	test('a cached answer is the uncached one, headers and body',
	    async () => {
		const u = await registerAndLogin({ displayName: 'Same Me' });
		const a = await me(u.access_token);	// a miss: fills
		const b = await me(u.access_token);	// a hit
		const c = await me(u.access_token);
		for (const g of [a, b, c]) {
			assertMine(g, u, 'GET');
			assert.equal(g.text, a.text);
			for (const h of ['content-type', 'cache-control',
			    'access-control-allow-origin'])
				assert.equal(g.headers.get(h),
				    a.headers.get(h), h);
		}
		assert.equal(a.json.displayName, 'Same Me');
	});

	test(`PATCH then GET: the new value, ${ROUNDS} times for each of ` +
	    `${USERS} users at once`, async () => {
		const users = await Promise.all(Array.from({ length: USERS },
		    (_, k) => registerAndLogin({ displayName: `start ${k}` })));
		await Promise.all(users.map(async (u, k) => {
			for (let i = 0; i < ROUNDS; i++) {
				// Cached before the write, twice over.
				assertMine(await me(u.access_token), u, 'before');
				assertMine(await me(u.access_token), u, 'before');
				const name = i % 5 === 4 ? null :
				    `cache ${k} ${i}`;
				const p = await patch(u.access_token,
				    { displayName: name });
				assert.equal(p.status, 200, p.text);
				assert.equal(p.json.displayName, name);
				const g = await me(u.access_token);
				assertMine(g, u, `user ${k} round ${i}`);
				assert.equal(g.json.displayName, name,
				    `user ${k} round ${i}: a stale profile`);
			}
		}));
	});

	test('GETs racing back-to-back PATCHes never see an older write ' +
	    'than the last one acknowledged before they started', async () => {
		const u = await registerAndLogin({ displayName: 'race -1' });
		let acked = -1, stop = false, seen = 0;
		// A reader that missed after write i-1 and read its row may
		// fill just after write i: that fill must be dropped.
		const readers = Array.from({ length: 8 }, async () => {
			try {
				while (!stop) {
					const floor = acked;
					const g = await me(u.access_token);
					assertMine(g, u, 'racing GET');
					const v = Number(/^race (-?\d+)$/
					    .exec(g.json.displayName)?.[1]);
					assert.ok(v >= floor, 'GET after write ' +
					    `${floor} was acknowledged saw ` +
					    `write ${v}`);
					seen++;
				}
			} finally {
				stop = true;
			}
		});
		const writer = (async () => {
			try {
				for (let i = 0; i < ROUNDS * 5 && !stop; i++) {
					const p = await patch(u.access_token,
					    { displayName: `race ${i}` });
					assert.equal(p.status, 200, p.text);
					acked = i;
				}
			} finally {
				stop = true;
			}
		})();
		await Promise.all([writer, ...readers]);
		assert.ok(seen > ROUNDS, `only ${seen} racing GETs`);
	});

	test('an avatar set, then cleared, is seen at once', async () => {
		const u = await registerAndLogin();
		for (let i = 0; i < 5; i++) {
			assertMine(await me(u.access_token), u, 'before');
			const up = await uploadAvatar(u.access_token,
			    makePng(2000), 'a.png', 'image/png');
			assert.equal(up.status, 200, up.text);
			let g = await me(u.access_token);
			assertMine(g, u, 'after upload');
			assert.equal(g.json.avatarUrl, up.json.avatarUrl);
			const del = await req('DELETE', '/users/me/avatar',
			    { token: u.access_token });
			assert.equal(del.status, 200, del.text);
			g = await me(u.access_token);
			assertMine(g, u, 'after delete');
			assert.equal(g.json.avatarUrl, null);
		}
	});

	test('two users never see each other\'s profile', async () => {
		const users = await Promise.all(Array.from({ length: 8 },
		    (_, k) => registerAndLogin({ displayName: `who ${k}` })));
		for (let round = 0; round < 10; round++)
			await Promise.all(users.map(async (u, k) => {
				const g = await me(u.access_token);
				assertMine(g, u, `user ${k}`);
				assert.equal(g.json.displayName, `who ${k}`);
			}));
	});

	test('an entry under my key that names someone else is not served',
	    { skip: redisCli() ? false : 'needs REDIS_URL and redis-cli' },
	    async () => {
		const cli = redisCli();
		const a = await registerAndLogin({ displayName: 'A' });
		const b = await registerAndLogin({ displayName: 'B' });
		const gb = await me(b.access_token);
		assertMine(gb, b, 'B');
		// B's answer planted under A's key, with B's id in front.
		cli('SET', `{u:${a.id}}:p`, `${b.id}\n${gb.text}`, 'EX', '60');
		const ga = await me(a.access_token);
		assertMine(ga, a, 'A after the planted entry');
		assert.equal(ga.json.displayName, 'A');
		// ... and a malformed one.
		cli('SET', `{u:${a.id}}:p`, `${a.id}\nnot json`, 'EX', '60');
		assertMine(await me(a.access_token), a, 'A, malformed entry');
	});
});
