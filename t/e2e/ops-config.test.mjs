// t/e2e/ops-config.test.mjs: both programs refuse a configuration they
// cannot run with, and say why: no JWT secret (exit at once, one clear
// line), a Redis that refuses REDIS_URL's password (a clear line at start,
// 503 with the reason on /healthz, and the process keeps running rather
// than crash in a loop).  The stack under test runs its Redis with a
// password, so the right one is checked end to end through nginx and on
// each node's /healthz.  Programs come from $BUILD_DIR (deploy/test).

import { test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep } from './sio-lib.mjs';
import { fcgiGet } from './lib/fcgi.mjs';
import { until } from './lib/ops.mjs';

const BUILD = process.env.BUILD_DIR ||
    path.join(process.env.CHAT_ROOT || '.', 'build');
const RT_BIN = path.join(BUILD, 'realtime', 'chat-realtime');
const FCGI_BIN = path.join(BUILD, 'fcgi', 'chat-fcgi');
const BASE = process.env.CHAT_URL || 'http://127.0.0.1:3000';
const RT_HEALTH = (process.env.RT_METRICS_URLS || '').split(',')
    .filter(Boolean).map((u) => u.replace(/\/metrics$/, '/healthz'));
const T = { timeout: 60_000 };

const procs = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-config-'));
after(() => {
	for (const p of procs)
		if (p.exitCode === null && p.signalCode === null)
			p.kill('SIGKILL');
	fs.rmSync(tmp, { recursive: true, force: true });
});

// Start a program with env changes (undefined removes a variable);
// collects stderr, resolves its exit.
function run(bin, args, change) {
	const env = { ...process.env };
	for (const [k, v] of Object.entries(change)) {
		if (v === undefined)
			delete env[k];
		else
			env[k] = v;
	}
	const p = spawn(bin, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
	procs.push(p);
	p.err = '';
	p.stderr.on('data', (d) => { if (p.err.length < 65536) p.err += d; });
	p.exited = new Promise((r) => p.once('exit', (code, sig) => r({ code, sig })));
	return p;
}

async function exitsWithin(p, ms) {
	const t = new Promise((r) => setTimeout(() => r(null), ms));
	return Promise.race([p.exited, t]);
}

function wrongPasswordUrl() {
	const u = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
	u.username = '';
	u.password = 'not-the-password';
	return u.toString();
}

// Arguments for a node of our own: two different free ports.
async function rtArgs() {
	const port = await freePort();
	let mport;
	do
		mport = await freePort();
	while (mport === port);
	return ['--node-id', '90', '--port', String(port), '--metrics',
		`127.0.0.1:${mport}`];
}

// Wait until p's stderr matches re; fail at once if p exits, and say
// what it printed either way.
async function logShows(p, re, ms = 10_000) {
	const t0 = Date.now();
	while (!re.test(p.err)) {
		const gone = p.exitCode ?? p.signalCode;
		if (gone !== null || Date.now() - t0 > ms)
			assert.fail(`${re} not in stderr (${gone !== null ?
			    `exited: ${gone}` : `${ms} ms`}):\n${p.err.slice(-2000)}`);
		await sleep(100);
	}
}

for (const [name, value] of [['unset', undefined], ['empty', '']]) {
	test(`chat-realtime with JWT_SECRET ${name} exits at once, saying why`,
	    T, async () => {
		const p = run(RT_BIN, await rtArgs(), { JWT_SECRET: value });
		const e = await exitsWithin(p, 1000);
		assert.ok(e, 'still running after 1 s');
		assert.notEqual(e.code, 0);
		assert.match(p.err, /JWT_SECRET is not set/);
	});
	test(`chat-fcgi with JWT_SECRET ${name} exits at once, saying why`,
	    T, async () => {
		const p = run(FCGI_BIN, ['-s', path.join(tmp, `f-${name}.sock`)],
		    { JWT_SECRET: value, FCGI_WORKERS: '1' });
		const e = await exitsWithin(p, 1000);
		assert.ok(e, 'still running after 1 s');
		assert.notEqual(e.code, 0);
		assert.match(p.err, /JWT_SECRET is not set/);
	});
}

test('a malformed REDIS_URL stops both programs at start', T, async () => {
	const rt = run(RT_BIN, await rtArgs(), { REDIS_URL: 'redis://h:99999' });
	const f = run(FCGI_BIN, ['-s', path.join(tmp, 'bad-url.sock')],
	    { REDIS_URL: 'http://127.0.0.1', FCGI_WORKERS: '1' });
	for (const p of [rt, f]) {
		const e = await exitsWithin(p, 2000);
		assert.ok(e, 'still running after 2 s');
		assert.notEqual(e.code, 0);
		assert.match(p.err, /REDIS_URL/);
	}
});

test('chat-realtime with a wrong Redis password: says so, keeps running, '
    + '/healthz 503 with the reason', T, async () => {
	const args = await rtArgs();
	const health = `http://${args[5]}/healthz`;
	const p = run(RT_BIN, args, { REDIS_URL: wrongPasswordUrl() });
	await logShows(p, /Redis AUTH failed/);
	const r = await until('/healthz answers', async () => {
		const res = await fetch(health);
		return { status: res.status, body: await res.json() };
	}, 10_000, 100);
	assert.equal(r.status, 503);
	assert.equal(r.body.status, 'error');
	assert.equal(r.body.redis, 'down');
	assert.match(r.body.redisError, /AUTH/);
	await sleep(1500);
	assert.equal(p.exitCode, null, 'the node must keep running');
	assert.equal(p.signalCode, null);
});

test('chat-fcgi with a wrong Redis password: says so at start, keeps '
    + 'running, /healthz 503 with the reason', T, async () => {
	const sock = path.join(tmp, 'wrong-pass.sock');
	const p = run(FCGI_BIN, ['-s', sock], { REDIS_URL: wrongPasswordUrl(),
		FCGI_WORKERS: '1' });
	await logShows(p, /Redis refused the password in REDIS_URL/);
	const r = await until('/healthz answers', () => fcgiGet(sock, '/healthz'),
	    10_000, 100);
	assert.equal(r.status, 503);
	const body = JSON.parse(r.body);
	assert.equal(body.redis, 'down');
	assert.equal(body.db, 'up');
	assert.match(body.redisError, /password/);
	await sleep(1000);
	assert.equal(p.exitCode, null, 'chat-fcgi must keep running');
});

test('the stack, whose Redis has a password: /healthz is green through '
    + 'nginx and on every node', T, async () => {
	assert.ok(new URL(process.env.REDIS_URL || 'redis://x').password,
	    'deploy/test runs its Redis with a password');
	const res = await fetch(`${BASE}/healthz`);
	assert.equal(res.status, 200);
	assert.deepEqual(await res.json(), { status: 'ok', db: 'up', redis: 'up' });
	assert.ok(RT_HEALTH.length >= 1, 'RT_METRICS_URLS names the nodes');
	for (const u of RT_HEALTH) {
		const r = await fetch(u);
		assert.equal(r.status, 200, u);
		assert.deepEqual(await r.json(), { status: 'ok', db: 'up',
			redis: 'up' });
	}
});
