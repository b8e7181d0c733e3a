// t/e2e/chat-faults.test.mjs: chat-realtime under failures of the
// things around it: a node killed with SIGKILL (the survivors announce
// the userOffline it owed), Redis restarted empty (presence and
// subscriptions are rebuilt), PostgreSQL stopped and started (requests
// fail fast with `error`, then work again).  Destructive: runs only on a
// stack of our own, found through CHAT_VAR (pid files in run/, as
// written by deploy/up) with CHAT_RT_URLS; everything is restored after.
// Set E2E_FAULTS=0 to skip.

import { describe, test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { registerAndLogin, req } from './lib/api.mjs';
import { until } from './lib/ops.mjs';
import {
	userSocket, connect, closeAll, waitFor, ask, NODES, ISO_MS, sleep,
} from './lib/chat.mjs';

const VAR = process.env.CHAT_VAR || '';
const RUN = path.join(VAR, 'run');
const LOG = path.join(VAR, 'log');
const skip = process.env.E2E_FAULTS === '0' || !VAR || NODES.length < 2 ||
    !fs.existsSync(path.join(RUN, 'redis.pid')) ? 'needs CHAT_VAR with a running stack and two nodes' : false;

after(closeAll);

const pidOf = (name) => Number(fs.readFileSync(path.join(RUN, `${name}.pid`),
    'utf8').trim());
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

const isUser = (id) => (p) => p && p.userId === id;

// Start node n again, as deploy/up runs it (same env, log and pid file).
function respawn(n, port) {
	const bin = path.join(process.env.BUILD_DIR ||
	    path.join(VAR, '..', 'build'), 'realtime', 'chat-realtime');
	const log = fs.openSync(path.join(LOG, `chat-realtime-${n}.log`), 'a');
	// deploy/up's layout: metrics (and /healthz) 50 ports above.
	const child = spawn(bin, ['--node-id', String(n), '--port',
		String(port), '--metrics', `127.0.0.1:${port + 50}`],
	    { detached: true, stdio: ['ignore', log, log],
	    env: process.env });
	child.unref();
	fs.closeSync(log);
	fs.writeFileSync(path.join(RUN, `chat-realtime-${n}.pid`),
	    `${child.pid}\n`);
}

// After a PostgreSQL restart each chat-fcgi worker may fail the first
// request that finds its connection dead: spend those on lookups of a
// user that does not exist, so later REST tests are not hit.
async function warmRest() {
	let ok = 0;
	for (let i = 0; i < 40 && ok < 12; i++) {
		const r = await req('POST', '/auth/login', { body:
		    { username: 'no_such_user_warm', password: 'whatever1' } });
		ok = r.status === 401 ? ok + 1 : 0;
	}
}

describe('faults', { skip }, () => {
	test('a node killed with SIGKILL: survivors send its userOffline',
	    async () => {
		const url2 = NODES[1];
		const port = Number(new URL(url2).port);
		const w = await userSocket({ url: NODES[0] });
		const u = await registerAndLogin();
		const on = waitFor(w.s, 'userOnline', isUser(u.id));
		const s = await connect(u.access_token, { url: url2 });
		await on;
		await ask(w.s, 'sendMessage', { recipientId: u.id, content: 'x' });
		const pid = pidOf('chat-realtime-2');
		const off = waitFor(w.s, 'userOffline', isUser(u.id), 20000);
		const t0 = Date.now();
		process.kill(pid, 'SIGKILL');
		s.close();
		await off;
		const dt = Date.now() - t0;
		assert.ok(dt < 16000, `userOffline after ${dt} ms`);
		assert.ok(!(await ask(w.s, 'getOnlineUsers')).includes(u.id));
		// Written by the survivor that reaped the node.
		const seen = await until('lastSeenAt written', async () =>
		    (await ask(w.s, 'getConversations'))[0].otherUser
		    .lastSeenAt, 5000);
		assert.match(seen, ISO_MS);
		respawn(2, port);
		const s2 = await until('node 2 back', () =>
		    connect(u.access_token, { url: url2 }));
		const pn = waitFor(s2, 'newMessage');
		await ask(w.s, 'sendMessage', { recipientId: u.id,
		    content: 'welcome back' });
		assert.equal((await pn).content, 'welcome back');
	});

	test('a node stopped with SIGTERM says goodbye at once', async () => {
		const url2 = NODES[1];
		const port = Number(new URL(url2).port);
		const w = await userSocket({ url: NODES[0] });
		const u = await registerAndLogin();
		const on = waitFor(w.s, 'userOnline', isUser(u.id));
		const s = await connect(u.access_token, { url: url2 });
		await on;
		const gone = new Promise((r) => s.once('disconnect', r));
		const off = waitFor(w.s, 'userOffline', isUser(u.id), 5000);
		const pid = pidOf('chat-realtime-2');
		const t0 = Date.now();
		process.kill(pid, 'SIGTERM');
		try {
			// The server layer sends DISCONNECT then closes.
			assert.ok(['io server disconnect', 'transport close']
			    .includes(await gone));
			await off;
			assert.ok(Date.now() - t0 < 4000);
			await until('node 2 exits', () => !alive(pid), 8000);
			assert.ok(!(await ask(w.s, 'getOnlineUsers'))
			    .includes(u.id));
		} finally {
			await until('node 2 exits', () => !alive(pid), 8000);
			respawn(2, port);
		}
		await until('node 2 back', () => connect(u.access_token,
		    { url: url2 }));
	});

	test('Redis restarted empty: presence and fan-out come back',
	    async () => {
		const a = await userSocket({ url: NODES[0] });
		const b = await userSocket({ url: NODES[1] });
		const rpid = pidOf('redis');
		const port = process.env.REDIS_PORT ||
		    new URL(process.env.REDIS_URL).port;
		const redisPass = decodeURIComponent(
		    new URL(process.env.REDIS_URL).password);
		process.kill(rpid, 'SIGTERM');
		await until('redis gone', () => !alive(rpid), 10000);
		execFileSync('redis-server', ['--port', String(port), '--bind',
			'127.0.0.1', '--save', '', '--appendonly', 'no',
			'--daemonize', 'yes', '--pidfile',
			path.join(RUN, 'redis.pid'), '--logfile',
			path.join(LOG, 'redis.log'), '--dir',
			path.join(VAR, 'redis'), '--maxclients', '20000',
			// The stack's password, if REDIS_URL has one.
			...(redisPass ? ['--requirepass', redisPass] : [])]);
		await until('presence rebuilt', async () => {
			const l = await ask(a.s, 'getOnlineUsers');
			return l.includes(a.user.id) && l.includes(b.user.id);
		});
		await until('fan-out across nodes', async () => {
			const pn = waitFor(b.s, 'newMessage', () => true, 1000);
			await ask(a.s, 'sendMessage', { recipientId: b.user.id,
			    content: 'after redis' });
			return (await pn).content === 'after redis';
		});
		// userOffline still works.
		const off = waitFor(a.s, 'userOffline', isUser(b.user.id));
		b.s.close();
		await off;
	});

	test('Redis stops answering (SIGSTOP): answers and connects go on',
	    async () => {
		const a = await userSocket({ url: NODES[0] });
		const u = await registerAndLogin();
		const rpid = pidOf('redis');
		process.kill(rpid, 'SIGSTOP');
		try {
			const t0 = Date.now();
			const l = await ask(a.s, 'getOnlineUsers', undefined,
			    12000);
			assert.ok(l.includes(a.user.id));
			assert.ok(Date.now() - t0 < 10000);
			const s = await connect(u.access_token,
			    { url: NODES[1], timeout: 15000 });
			assert.ok(s.connected);
			const m = await ask(a.s, 'sendMessage',
			    { recipientId: u.id, content: 'redis asleep' }, 10000);
			assert.ok(m.id);
		} finally {
			process.kill(rpid, 'SIGCONT');
		}
		const b = await userSocket({ url: NODES[1] });
		await until('fan-out again', async () => {
			const pn = waitFor(b.s, 'newMessage', () => true, 1000);
			await ask(a.s, 'sendMessage', { recipientId: b.user.id,
			    content: 'redis awake' });
			return (await pn).content === 'redis awake';
		});
	});

	test('PostgreSQL stopped: errors, not hangs; then it works again',
	    async () => {
		const a = await userSocket({ url: NODES[0] });
		const b = await userSocket({ url: NODES[1] });
		const m = await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'before' });
		const pgdata = fs.realpathSync(path.join(VAR, 'pg'));
		const opts = fs.readFileSync(path.join(pgdata,
		    'postmaster.opts'), 'utf8');
		const args = [...opts.matchAll(/"([^"]*)"/g)].map((x) => x[1]);
		// The first word (the binary) is not quoted: args start at -D.
		const o = args.filter((x, i, all) =>
		    x !== '-D' && all[i - 1] !== '-D').join(' ');
		const ctl = path.join(path.dirname(opts.split(' ')[0]), 'pg_ctl');
		// As postgres, from a folder it can enter (a checkout under
		// /root is not one), logging where deploy/up's link points.
		const asPg = (...a) => execFileSync('runuser',
		    ['-u', 'postgres', '--', ctl, '-D', pgdata, ...a], { cwd: '/' });
		const pglog = fs.realpathSync(path.join(LOG, 'postgres.log'));
		asPg('-m', 'fast', '-w', 'stop');
		try {
			const t0 = Date.now();
			const e = waitFor(a.s, 'error', () => true, 5000);
			const r = await ask(a.s, 'sendMessage',
			    { recipientId: b.user.id, content: 'during' }, 5000);
			assert.equal(typeof r.error, 'string');
			assert.equal(typeof (await e).message, 'string');
			const h = await ask(a.s, 'getMessages',
			    { conversationId: m.conversationId }, 5000);
			assert.equal(typeof h.error, 'string');
			assert.ok(Date.now() - t0 < 5000);
			// Connecting still works on a good token.
			const s = await connect(a.user.access_token,
			    { url: NODES[1] });
			assert.ok(s.connected);
		} finally {
			asPg('-w', '-t', '60', '-l', pglog, '-o', o, 'start');
			await warmRest();
		}
		const r = await until('sendMessage works again', async () => {
			const x = await ask(a.s, 'sendMessage',
			    { recipientId: b.user.id, content: 'after' });
			return x.id ? x : false;
		});
		const h = await ask(b.s, 'getMessages',
		    { conversationId: m.conversationId });
		assert.deepEqual(h.messages.map((x) => x.content)
		    .filter((c) => c !== 'during'), ['after', 'before']);
		assert.equal(h.messages[0].id, r.id);
		await until('node 2 works again', async () => {
			const x = await ask(b.s, 'getConversations');
			return Array.isArray(x) && x.length === 1;
		});
	});
});
