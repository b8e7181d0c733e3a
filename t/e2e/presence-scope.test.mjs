// t/e2e/presence-scope.test.mjs: PRESENCE_SCOPE=contacts.  Presence
// events reach only the users who share a conversation with the user (and
// the user's own sockets, as in the spec); getOnlineUsers lists the
// caller and its online contacts, no one else; a conversation started by
// either side makes the two contacts at once, each hearing userOnline for
// the other if online; of two contacts connecting at the same moment, the
// one whose presence was written first hears the other.  Runs two nodes of its own with that setting on a
// Redis of its own (presence channels are not shared with the stack's
// nodes, which keep the default), users from the stack's REST API and
// PostgreSQL.  The default scope is the spec, tested by chat-presence.
// PRESENCE_SCOPE_REDIS=cluster: the two nodes share a Redis Cluster of
// three masters from t/redis-cluster-up (ports from a free one up, and
// those + 10000) instead of one Redis.

import { describe, test, before, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { freePort } from './sio-lib.mjs';
import { registerAndLogin } from './lib/api.mjs';
import { until, sleep } from './lib/ops.mjs';
import {
	connect, closeAll, waitFor, noEvent, ask, connectAtOnce, inChunks,
} from './lib/chat.mjs';

const BUILD = process.env.BUILD_DIR ||
    path.join(process.env.CHAT_ROOT || '.', 'build');
const RT_BIN = path.join(BUILD, 'realtime', 'chat-realtime');
const CLUSTER = process.env.PRESENCE_SCOPE_REDIS === 'cluster';
const CLUSTER_UP = path.join(process.env.CHAT_ROOT || '.',
    't', 'redis-cluster-up');
const skip = fs.existsSync(RT_BIN) ? false : `no ${RT_BIN}`;
const QUIET = 800;	// ms to wait for an event that must not come

const procs = [];
let redisPort;		// one Redis, or a master of the cluster
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-scope-'));
const nodes = [];

function start(bin, args, env) {
	const p = spawn(bin, args, { env: { ...process.env, ...env },
	    stdio: ['ignore', 'ignore', 'pipe'] });
	p.err = '';
	p.stderr.on('data', (d) => { if (p.err.length < 65536) p.err += d; });
	procs.push(p);
	return p;
}

async function startNode(id, env) {
	let last = '';
	for (let attempt = 0; attempt < 5; attempt++) {
		let port, mport;
		do {
			port = await freePort();
			mport = await freePort();
		} while (port === mport || nodes.some((n) =>
		    [n.port, n.mport].includes(port) ||
		    [n.port, n.mport].includes(mport)));
		const p = start(RT_BIN, ['--node-id', String(id), '--port',
			String(port), '--metrics', `127.0.0.1:${mport}`], env);
		const up = await until(`node on ${port} healthy`, async () => {
			if (p.exitCode !== null || p.signalCode !== null)
				return 'exited';
			const r = await fetch(`http://127.0.0.1:${mport}/healthz`)
			    .catch(() => null);
			return r?.ok ? 'up' : null;
		}, 15000);
		if (up === 'up')
			return { p, port, mport, url: `http://127.0.0.1:${port}` };
		last = p.err.slice(-2000);
		if (!/Address already in use/.test(last))
			break;
	}
	assert.fail(`node ${id} did not start:\n${last}`);
}

before(async () => {
	if (skip)
		return;
	const rport = await freePort();
	redisPort = rport;
	let env;
	if (CLUSTER) {
		const seeds = execFileSync(CLUSTER_UP, ['up', String(rport),
			path.join(tmp, 'cluster')], { encoding: 'utf8',
			env: { ...process.env, REDIS_CLUSTER_PASSWORD: '' } })
		    .trim().split('\n').pop();
		env = { PRESENCE_SCOPE: 'contacts', REDIS_CLUSTER: seeds,
			REDIS_CLUSTER_PASSWORD: '' };
	} else {
		// As for the nodes: a port taken meanwhile makes Redis exit.
		for (let attempt = 0; ; attempt++) {
			const r = start('redis-server', ['--port', String(redisPort),
				'--bind', '127.0.0.1', '--save', '', '--appendonly',
				'no', '--dir', tmp], {});
			await new Promise((ok) => setTimeout(ok, 300));
			if (r.exitCode === null && r.signalCode === null)
				break;
			assert.ok(attempt < 4, 'redis-server did not start');
			redisPort = await freePort();
		}
		env = { PRESENCE_SCOPE: 'contacts',
			REDIS_URL: `redis://127.0.0.1:${redisPort}`,
			REDIS_CLUSTER: '' };
	}
	// freePort() only says a port was free a moment ago: other test
	// files pick ports too.  A node that could not listen exits at once;
	// start it again on other ports.
	for (const id of [91, 92])
		nodes.push(await startNode(id, env));
});

after(() => {
	closeAll();
	for (const p of procs)
		if (p.exitCode === null && p.signalCode === null)
			p.kill('SIGKILL');
	if (CLUSTER)
		try {
			execFileSync(CLUSTER_UP, ['down',
			    path.join(tmp, 'cluster')], { stdio: 'ignore' });
		} catch { /* best effort */ }
	fs.rmSync(tmp, { recursive: true, force: true });
});

const isUser = (id) => (p) => p && p.userId === id;
const on = (i, u) => connect(u.access_token, { url: nodes[i].url });

describe(`PRESENCE_SCOPE=contacts${CLUSTER ? ' (Redis Cluster)' : ''}`,
    { skip }, () => {
	test('a stranger hears nothing of you and does not list you',
	    async () => {
		const w = await registerAndLogin();
		const u = await registerAndLogin();
		const ws = await on(0, w);
		const quiet = noEvent(ws, 'userOnline', QUIET, isUser(u.id));
		const us = await on(1, u);
		await quiet;
		const list = await ask(ws, 'getOnlineUsers');
		assert.ok(list.includes(w.id), 'the caller is listed');
		assert.ok(!list.includes(u.id), 'a stranger is not listed');
		const off = noEvent(ws, 'userOffline', QUIET, isUser(u.id));
		us.close();
		await off;
	});

	test('your own new socket still hears your userOnline', async () => {
		const u = await registerAndLogin();
		// Listen before the CONNECT answer: the event follows it.
		const s = io(nodes[0].url, { auth: { token: u.access_token },
		    transports: ['websocket'], reconnection: false,
		    forceNew: true });
		try {
			await waitFor(s, 'userOnline', isUser(u.id));
			assert.deepEqual(await ask(s, 'getOnlineUsers'), [u.id]);
		} finally {
			s.close();
		}
	});

	test('a contact hears you come and go, across nodes', async () => {
		const a = await registerAndLogin();
		const b = await registerAndLogin();
		const as = await on(0, a);
		await ask(as, 'sendMessage', { recipientId: b.id,
		    content: 'are you there?' });
		const online = waitFor(as, 'userOnline', isUser(b.id));
		const bs = await on(1, b);
		await online;
		assert.ok((await ask(as, 'getOnlineUsers')).includes(b.id));
		const bl = await ask(bs, 'getOnlineUsers');
		assert.ok(bl.includes(a.id) && bl.includes(b.id));
		assert.equal(bl.length, 2, `only the two: ${bl}`);
		const offline = waitFor(as, 'userOffline', isUser(b.id));
		bs.close();
		await offline;
		assert.ok(!(await ask(as, 'getOnlineUsers')).includes(b.id));
	});

	test('a new conversation makes two online users contacts at once',
	    async () => {
		const a = await registerAndLogin();
		const b = await registerAndLogin();
		const as = await on(0, a);
		const bs = await on(1, b);
		await noEvent(as, 'userOnline', QUIET, isUser(b.id));
		assert.ok(!(await ask(as, 'getOnlineUsers')).includes(b.id));
		const aHears = waitFor(as, 'userOnline', isUser(b.id));
		const bHears = waitFor(bs, 'userOnline', isUser(a.id));
		await ask(as, 'sendMessage', { recipientId: b.id,
		    content: 'hello, stranger' });
		await Promise.all([aHears, bHears]);
		assert.ok((await ask(as, 'getOnlineUsers')).includes(b.id));
		assert.ok((await ask(bs, 'getOnlineUsers')).includes(a.id));
		// Contacts from now on: b's going is told to a.
		const off = waitFor(as, 'userOffline', isUser(b.id));
		bs.close();
		await off;
	});

	test('startConversation makes contacts too; the other one offline',
	    async () => {
		const a = await registerAndLogin();
		const b = await registerAndLogin();
		const as = await on(1, a);
		const quiet = noEvent(as, 'userOnline', QUIET, isUser(b.id));
		const list = waitFor(as, 'conversationsList');
		as.emit('startConversation', { recipientUsername: b.username });
		await list;
		await quiet;	// b is offline: nothing to say
		const online = waitFor(as, 'userOnline', isUser(b.id));
		const bs = await on(0, b);
		await online;
		assert.ok((await ask(bs, 'getOnlineUsers')).includes(a.id));
	});

	test('an older transition of a user is dropped (stamps)', async () => {
		// Envelopes as another node sends them to a contact's
		// channel: a stale one (a quick reconnect announced by two
		// nodes in the wrong order) must not reach the client.
		const a = await registerAndLogin();
		const as = await on(0, a);
		const ghost = 900000000 + Math.floor(Math.random() * 1e6);
		const pub = (e, st) => execFileSync('redis-cli', ['-c', '-p',
			String(redisPort), 'SPUBLISH', `rt:{u:${a.id}}`,
			JSON.stringify({ n: 999, e, a: { userId: ghost }, s: st })]);
		const off = waitFor(as, 'userOffline', isUser(ghost));
		pub('userOffline', -2000);
		await off;
		const stale = noEvent(as, 'userOnline', QUIET, isUser(ghost));
		pub('userOnline', 1000);
		await stale;
		const fresh = waitFor(as, 'userOnline', isUser(ghost));
		pub('userOnline', 3000);
		await fresh;
	});

	test('a second device says nothing; the last one going does',
	    async () => {
		const a = await registerAndLogin();
		const b = await registerAndLogin();
		const as = await on(0, a);
		await ask(as, 'sendMessage', { recipientId: b.id, content: 'x' });
		const online = waitFor(as, 'userOnline', isUser(b.id));
		const b1 = await on(0, b);
		await online;
		const quiet = noEvent(as, 'userOnline', QUIET, isUser(b.id));
		const b2 = await on(1, b);
		await quiet;
		const early = noEvent(as, 'userOffline', QUIET, isUser(b.id));
		b1.close();
		await early;
		const off = waitFor(as, 'userOffline', isUser(b.id));
		b2.close();
		await off;
	});

	test('contacts connecting at the same moment: one hears the other',
	    async () => {
		// A socket's presence is written only once its node listens
		// on the user's channel, and what comes meanwhile is kept
		// for it until its CONNECT answer: so of two contacts
		// coming online together, the first always hears the second.
		const PAIRS = 40;
		const users = await inChunks(2 * PAIRS, () => registerAndLogin());
		const pairs = Array.from({ length: PAIRS },
		    (_, i) => [users[2 * i], users[2 * i + 1]]);
		await inChunks(PAIRS, async (i) => {
			const [a, b] = pairs[i];
			const s = await on(i % 2, a);
			await ask(s, 'sendMessage', { recipientId: b.id,
			    content: 'contacts' });
			s.close();
		});
		await sleep(1000);	// their userOffline is out
		// Half on each node: pairs on one node and across the two.
		const socks = await connectAtOnce(users.map((u) =>
		    u.access_token), users.map((u, k) =>
		    nodes[(k % 2 ? k >> 2 : k >> 1) % 2].url));
		const partner = (k) => users[k ^ 1].id;
		const missed = () => pairs.map((_, i) => i).filter((i) =>
		    !socks[2 * i].heard.has(partner(2 * i)) &&
		    !socks[2 * i + 1].heard.has(partner(2 * i + 1)));
		await until('every pair', () => missed().length === 0, 5000)
		    .catch(() => {});
		assert.deepEqual(missed().map((i) => [pairs[i][0].id,
		    pairs[i][1].id]), [], 'pairs where neither heard the other');
		await sleep(QUIET);
		socks.forEach(({ heard, twice }, k) => {
			for (const id of heard)
				assert.ok(id === users[k].id || id === partner(k),
				    `user ${users[k].id} heard stranger ${id}`);
			assert.deepEqual([...twice], [],
			    `user ${users[k].id} heard these twice`);
		});
		socks.forEach(({ s }) => s.close());
	});
});
