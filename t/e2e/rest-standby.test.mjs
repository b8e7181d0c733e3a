// t/e2e/rest-standby.test.mjs: GET /users/me with chat-fcgi reading from
// a PostgreSQL hot standby (DB_READ_HOST): a user never misses their own
// write (PATCH /users/me, an avatar, a new account, then an immediate GET,
// many times over), and GET keeps working, from the primary, while the
// standby is stopped; /healthz says where reads go ("dbRead").
//
// Runs when E2E_STANDBY=1 says the stack under test (CHAT_URL) reads from
// a standby that STANDBY_CMD (default CHAT_ROOT/deploy/standby.sh, with
// the stack's PORT and CHAT_VAR) can stop and start again.

import { describe, test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
	req, registerAndLogin, uploadAvatar, makePng, sleep,
} from './lib/api.mjs';
import { ROOT, runLogged } from './lib/ops.mjs';
import { scrape } from './lib/prom.mjs';

const STANDBY_CMD = process.env.STANDBY_CMD ||
    (ROOT ? path.join(ROOT, 'deploy', 'standby.sh') : '');
const skip = process.env.E2E_STANDBY !== '1' ? 'E2E_STANDBY=1 is not set' :
    !STANDBY_CMD ? 'needs CHAT_ROOT or STANDBY_CMD' : false;
const ROUNDS = Number(process.env.E2E_STANDBY_ROUNDS || 100);
const METRICS = (process.env.FCGI_METRICS_URL || '').split(',')
    .map((u) => u.trim()).filter(Boolean);
// DB_READ_MAX_LAG_MS (default 1000) + chat-fcgi's 1000 ms margin.
const MARK_MS = Number(process.env.DB_READ_MAX_LAG_MS || 1000) + 1000;
const reads = async (server) => (await scrape(METRICS)).samples
    .get(`chat_fcgi_db_reads_total{server="${server}"}`) ?? 0;
const USERS = 4;

const me = (token) => req('GET', '/users/me', { token });
const patch = (token, body) => req('PATCH', '/users/me', { token, body });
const healthz = async () => (await req('GET', '/healthz')).json ?? {};

// Run the standby script; throws with its output if it fails.
async function standby(what) {
	const run = runLogged(STANDBY_CMD, [what], 120000);
	const r = await run.done;
	assert.equal(r.code, 0, `${STANDBY_CMD} ${what}: ` +
	    run.lines.map((l) => l.line).join('\n'));
}

// Wait until every chat-fcgi answering /healthz says dbRead matches re.
async function dbReadIs(re, ms) {
	const t0 = Date.now();
	let seen;
	while (Date.now() - t0 < ms) {
		const states = new Set();
		for (let i = 0; i < 8; i++)
			states.add((await healthz()).dbRead);
		seen = [...states];
		if (seen.every((s) => re.test(s ?? '')))
			return;
		await sleep(200);
	}
	assert.fail(`dbRead still ${JSON.stringify(seen)} after ${ms} ms`);
}

describe('reads from the standby', { skip }, () => {
	let stopped = false;
	after(async () => {
		if (stopped)
			await standby('start');
	});

	test('/healthz says reads go to the standby', async () => {
		await dbReadIs(/^standby$/, 10000);
	});

	test('a user who wrote nothing lately reads from the standby',
	    { skip: METRICS.length ? false : 'needs FCGI_METRICS_URL' },
	    async () => {
		const u = await registerAndLogin();
		await sleep(MARK_MS + 300);
		const s0 = await reads('standby');
		for (let i = 0; i < 20; i++)
			assert.equal((await me(u.access_token)).status, 200);
		assert.ok(await reads('standby') >= s0 + 20,
		    'chat_fcgi_db_reads_total{server="standby"} did not grow');
	});

	test(`PATCH then GET /users/me: the new value, ${ROUNDS} times ` +
	    `for each of ${USERS} users at once`, async () => {
		const users = await Promise.all(Array.from({ length: USERS },
		    () => registerAndLogin()));
		await Promise.all(users.map(async (u, k) => {
			for (let i = 0; i < ROUNDS; i++) {
				const name = `standby ${k} ${i}`;
				const p = await patch(u.access_token,
				    { displayName: name });
				assert.equal(p.status, 200, p.text);
				const g = await me(u.access_token);
				assert.equal(g.status, 200, g.text);
				assert.equal(g.json.displayName, name,
				    `user ${k} round ${i}: a stale read`);
			}
		}));
	});

	test('a new account is found at once', async () => {
		for (let i = 0; i < 10; i++) {
			const u = await registerAndLogin();
			const g = await me(u.access_token);
			assert.equal(g.status, 200, g.text);
			assert.equal(g.json.username, u.username);
		}
	});

	test('an avatar set, then cleared, is seen at once', async () => {
		const u = await registerAndLogin();
		for (let i = 0; i < 5; i++) {
			const up = await uploadAvatar(u.access_token,
			    makePng(2000), 'a.png', 'image/png');
			assert.equal(up.status, 200, up.text);
			let g = await me(u.access_token);
			assert.equal(g.json.avatarUrl, up.json.avatarUrl);
			const del = await req('DELETE', '/users/me/avatar',
			    { token: u.access_token });
			assert.equal(del.status, 200, del.text);
			g = await me(u.access_token);
			assert.equal(g.json.avatarUrl, null);
		}
	});

	test('the standby stopped: GET /users/me still answers, from the ' +
	    'primary, and the standby serves again once back', async () => {
		const u = await registerAndLogin({ displayName: 'before' });
		await standby('kill');
		stopped = true;
		const t0 = Date.now();
		let i = 0;
		while (Date.now() - t0 < 3000) {
			const name = `down ${i++}`;
			const p = await patch(u.access_token,
			    { displayName: name });
			assert.equal(p.status, 200, p.text);
			const g = await me(u.access_token);
			assert.equal(g.status, 200, g.text);
			assert.equal(g.json.displayName, name);
			const o = await me(u.access_token);
			assert.equal(o.status, 200, o.text);
		}
		await dbReadIs(/^primary: /, 5000);
		await standby('start');
		stopped = false;
		await dbReadIs(/^standby$/, 15000);
		const g = await me(u.access_token);
		assert.equal(g.status, 200, g.text);
		assert.equal(g.json.displayName, `down ${i - 1}`);
	});
});
