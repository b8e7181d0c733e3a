// t/e2e/ops-rolling.test.mjs: zero downtime through a rolling restart.
// Under steady load -- REST clients looping GET and PATCH /users/me with a
// login now and then, and pairs of socket.io-client users (half
// websocket-only, half polling then upgrade, all through nginx) sending
// each other messages with acks on a timer, connected or not -- it runs
// `deploy/restart all` and asserts: every REST request got its 2xx, every
// message acknowledged (ack or messageSent) is in the history afterwards,
// each disconnected client was connected again within 5 s by
// socket.io-client itself (same token) with no attempt refused, and
// messages flow both ways after the restart.  Failures come with a timeline: the restart's steps,
// the failed requests and what nginx and the servers logged meanwhile.
// Restarts the stack found through CHAT_VAR/CHAT_ROOT (deploy/test env).
// Knobs: OPS_RESTART_CMD runs another script instead of deploy/restart
// (given "all"; e.g. a stop-the-world one, to see this test fail),
// OPS_PAIRS (10), OPS_REST_CLIENTS (6), OPS_VERBOSE=0 hides the timeline,
// E2E_OPS=0 skips.  Bounded: about 25 s, at most 118 s.

import { test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { io } from 'socket.io-client';
import { BASE, register, login, req, clientIp } from './lib/api.mjs';
import {
	ROOT, VAR, runLogged, logMark, logSince, stamp, sleep,
} from './lib/ops.mjs';

const RESTART = process.env.OPS_RESTART_CMD ||
    (ROOT ? path.join(ROOT, 'deploy', 'restart') : '');
const PAIRS = Number(process.env.OPS_PAIRS || 10);
const REST_CLIENTS = Number(process.env.OPS_REST_CLIENTS || 6);
const SEND_EVERY_MS = 300;	/* per sender */
const ACK_MS = 15000;		/* ack timeout of one sendMessage */
const RECONNECT_MAX_MS = 5000;
const WARMUP_MS = 2500, COOLDOWN_MS = 3000;

const skip = process.env.E2E_OPS === '0' ? 'E2E_OPS=0' :
    !RESTART || !VAR || !fs.existsSync(path.join(VAR, 'run', 'nginx.pid')) ?
    'needs CHAT_ROOT and CHAT_VAR of a running stack' : false;

const sockets = [];
after(() => {
	for (const s of sockets)
		s.close();
});

// The node an Engine.IO sid belongs to: its first two hex digits.
function nodeOf(s) {
	const sid = s.io.engine?.id;
	return sid ? parseInt(sid.slice(0, 2), 16) : null;
}

// One socket.io-client user as a real client runs it: default
// reconnection, the same token all along; every connect and disconnect
// is timed.
function chatClient(user, transports, label) {
	const s = io(BASE, { auth: { token: user.access_token }, transports,
	    forceNew: true, timeout: 5000 });
	sockets.push(s);
	const c = { user, s, label, transports, nodes: [], downs: [],
	    connectErrors: [], sentIds: new Map() };
	s.on('connect', () => {
		const t = Date.now(), node = nodeOf(s);
		c.nodes.push(node);
		const d = c.downs.at(-1);
		if (d && d.up === undefined) {
			d.up = t;
			d.ms = t - d.t;
			d.nodeAfter = node;
			d.transportAfter = s.io.engine?.transport?.name;
		}
	});
	s.on('disconnect', (reason, desc) => {
		const why = desc?.description?.message ?? desc?.description ??
		    (desc ? String(desc) : undefined);
		const d = c.downs.at(-1);
		// A reconnect attempt that opened an Engine.IO session and
		// lost it before the Socket.IO connect is "disconnect" again:
		// the same outage, timed from its start.
		if (d && d.up === undefined) {
			d.also.push(`${reason}${why ? ` (${why})` : ''}`);
			return;
		}
		c.downs.push({ t: Date.now(), reason, node: c.nodes.at(-1),
		    desc: why, also: [] });
	});
	// With an Engine.IO session (sid) the error is that session's (its
	// node went away); without one, a handshake nginx could not pass on.
	s.on('connect_error', (e) => c.connectErrors.push({ t: Date.now(),
	    message: e.message, sid: s.io.engine?.id ?? null }));
	s.on('messageSent', (m) => c.sentIds.set(m.content, m.id));
	return c;
}

function waitConnected(c, ms = 10000) {
	if (c.s.connected)
		return Promise.resolve();
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error(
		    `${c.label}: not connected within ${ms} ms: ${JSON.stringify(
		    c.connectErrors)}`)), ms);
		c.s.once('connect', () => { clearTimeout(t); resolve(); });
	});
}

function ask(s, ev, payload, ms = 5000) {
	return s.timeout(ms).emitWithAck(ev, payload);
}

// Every message of a conversation, newest first, page by page.
async function history(s, conversationId) {
	const all = [];
	let before;
	for (let i = 0; i < 200; i++) {
		const p = { conversationId, limit: 100 };
		if (before !== undefined)
			p.before = before;
		const r = await ask(s, 'getMessages', p, 10000);
		assert.ok(r && Array.isArray(r.messages),
		    `getMessages: ${JSON.stringify(r)}`);
		all.push(...r.messages);
		if (!r.hasMore || r.messages.length === 0)
			return all;
		before = r.messages.at(-1).id;
	}
	assert.fail('history: too many pages');
}

// Batches of n at a time (register and login cost a bcrypt each).
async function inBatches(items, n, fn) {
	const out = [];
	for (let i = 0; i < items.length; i += n)
		out.push(...await Promise.all(items.slice(i, i + n).map(fn)));
	return out;
}

// Polls /healthz until it answers 200; returns when (or null after ms).
async function healthy(ms) {
	const t0 = Date.now();
	while (Date.now() - t0 < ms) {
		try {
			const r = await req('GET', '/healthz');
			if (r.status === 200)
				return Date.now();
		} catch {
			/* not yet */
		}
		await sleep(200);
	}
	return null;
}

async function newUser() {
	const u = await register();
	const t = await login(u.username, u.password, clientIp());
	return { ...u, ...t };
}

test('deploy/restart all under load: no failed request, no lost message, '
    + 'clients back within 5 s', { skip, timeout: 118000 }, async () => {
	const rel = (ms) => `+${((ms - T0) / 1000).toFixed(3)}s`;
	let T0 = Date.now();

	// --- users and sockets --------------------------------------------
	// The stack may still be recovering from an earlier test.
	assert.ok(await healthy(20000), 'the stack is not healthy to begin with');
	const users = await inBatches(Array.from(
	    { length: 2 * PAIRS + REST_CLIENTS }), 6, newUser);
	const restUsers = users.splice(2 * PAIRS);
	const pairs = [];
	for (let i = 0; i < PAIRS; i++) {
		const tr = i % 2 === 0 ? ['websocket'] : ['polling', 'websocket'];
		const kind = tr.length === 1 ? 'ws' : 'poll+up';
		pairs.push({ i, kind,
		    a: chatClient(users[2 * i], tr, `p${i}a(${kind})`),
		    b: chatClient(users[2 * i + 1], tr, `p${i}b(${kind})`) });
	}
	const clients = pairs.flatMap((p) => [p.a, p.b]);
	await Promise.all(clients.map((c) => waitConnected(c)));
	// The polling ones upgrade before the load starts.
	for (let i = 0; i < 50 && pairs.some((p) => p.kind === 'poll+up' &&
	    [p.a, p.b].some((c) => c.s.io.engine.transport.name !== 'websocket'));
	    i++)
		await sleep(100);
	for (const c of clients)
		assert.equal(c.s.io.engine.transport.name, 'websocket',
		    `${c.label} did not upgrade`);
	const nodesBefore = clients.map((c) => nodeOf(c.s));
	for (let n = 1; n <= 2; n++)
		assert.ok(nodesBefore.includes(n),
		    `no client on node ${n} before the restart: ${nodesBefore}`);

	// --- load ----------------------------------------------------------
	const mark = logMark();
	T0 = Date.now();
	// How late this process's own timers run (the machine is shared):
	// a stall delays every event seen here, so it is reported.
	const lag = { max: 0, stalls: [] };
	let lagLast = Date.now();
	const lagTimer = setInterval(() => {
		const x = Date.now(), late = x - lagLast - 50;
		lagLast = x;
		lag.max = Math.max(lag.max, late);
		if (late > 250)
			lag.stalls.push({ t: x - late, ms: late });
	}, 50);
	const sent = [];
	const timers = [];
	for (const p of pairs)
		for (const [from, to] of [[p.a, p.b], [p.b, p.a]]) {
			let seq = 0;
			const tick = () => {
				const content = `${from.label}#${++seq} ${
				    crypto.randomUUID().slice(0, 8)}`;
				const rec = { pair: p.i, from, to, content,
				    t: Date.now(), connected: from.s.connected };
				sent.push(rec);
				from.s.timeout(ACK_MS).emit('sendMessage',
				    { recipientId: to.user.id, content },
				    (err, r) => {
					rec.done = Date.now();
					if (err)
						rec.err = err.message;
					else if (!r || typeof r.id !== 'number')
						rec.refused = JSON.stringify(r);
					else {
						rec.id = r.id;
						rec.conv = r.conversationId;
					}
				});
			};
			// Staggered so the senders do not tick together.
			timers.push(setTimeout(() => timers.push(
			    setInterval(tick, SEND_EVERY_MS)),
			    Math.random() * SEND_EVERY_MS));
		}

	const rest = [];	/* every request: {t0, t1, what, ok, status, why} */
	const stop = { v: false };
	async function call(what, method, p, opts, check) {
		const r0 = Date.now();
		const rec = { t0: r0, what };
		rest.push(rec);
		try {
			const r = await req(method, p, { ...opts, ip: clientIp() });
			rec.status = r.status;
			rec.ok = check(r);
			if (!rec.ok)
				rec.why = `${r.status} ${r.text.replace(/\s+/g, ' ')
				    .slice(0, 160)}`;
		} catch (e) {
			rec.ok = false;
			rec.why = `network error: ${e.message}${
			    e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}`;
		}
		rec.t1 = Date.now();
		if (!rec.ok)
			await sleep(50);	/* no hot loop on an outage */
	}
	async function restLoop(k, u) {
		for (let i = 1; !stop.v; i++) {
			await call('GET /users/me', 'GET', '/users/me',
			    { token: u.access_token },
			    (r) => r.status === 200 && r.json?.id === u.id);
			const name = `ops ${k}.${i}`;
			await call('PATCH /users/me', 'PATCH', '/users/me',
			    { token: u.access_token, body: { displayName: name } },
			    (r) => r.status === 200 && r.json?.displayName === name);
			if (i % 6 === 0)
				await call('POST /auth/login', 'POST', '/auth/login',
				    { body: { username: u.username,
				    password: u.password } },
				    (r) => r.status === 200 &&
				    typeof r.json?.access_token === 'string');
			await sleep(5);
		}
	}
	const restDone = Promise.all(restUsers.map((u, k) => restLoop(k, u)));

	await sleep(WARMUP_MS);
	const run = runLogged(RESTART, ['all'], 55000);
	const res = await run.done;
	await sleep(COOLDOWN_MS);
	stop.v = true;
	for (const x of timers) {
		clearTimeout(x);
		clearInterval(x);
	}
	await restDone;
	const tStop = Date.now();
	// REST answers again (not before the next test, at least).
	const tHealthy = await healthy(15000);

	// Every client connected, every ack in (or timed out).
	await Promise.all(clients.map((c) => waitConnected(c,
	    RECONNECT_MAX_MS + 5000).catch(() => {})));
	for (let i = 0; i < ACK_MS / 100 && sent.some((m) => !m.done); i++)
		await sleep(100);

	// --- the history: every acknowledged message stored, once ----------
	const convs = new Map();	/* conversationId -> pair */
	for (const m of sent)
		if (m.conv !== undefined)
			convs.set(m.conv, pairs[m.pair]);
	const stored = new Map();	/* content -> [ids] */
	let historyError;
	try {
		for (const [conv, p] of convs)
			for (const m of await history(p.a.s, conv)) {
				const l = stored.get(m.content) ?? [];
				l.push(m.id);
				stored.set(m.content, l);
			}
	} catch (e) {
		historyError = `getMessages failed: ${e.message}`;
	}
	clearInterval(lagTimer);

	// --- the timeline, printed whatever the outcome --------------------
	const lines = [];
	const say = (x) => lines.push(x);
	// The servers' own stop and start lines (their clocks, not delayed
	// by a stall of this process), to say what was under way when.
	const events = [];
	for (const f of ['chat-fcgi-1', 'chat-fcgi-2', 'chat-realtime-1',
	    'chat-realtime-2'])
		for (const l of logSince(mark, `${f}.log`,
		    /info: (stopping|signal \d+: stopping|stopped|.*listening)/,
		    16 << 20)) {
			const m = /^(\S+Z) \S+ info: (.*)$/.exec(l);
			if (m)
				events.push({ t: Date.parse(m[1]), what: `${f} ${
				    /listening/.test(m[2]) ? 'up again' :
				    /stopped/.test(m[2]) ? 'stopped' : 'stopping'}` });
		}
	events.sort((x, y) => x.t - y.t);
	const stepAt = (x) => {
		let st = 'before the restart';
		for (const e of events)
			if (e.t <= x)
				st = `after ${e.what} ${rel(e.t)}`;
		return st;
	};
	say(`restart: ${RESTART} all -> ${res.code}${res.signal ?
	    ` (${res.signal})` : ''}, ${rel(res.t0)} .. ${rel(res.t1)} ` +
	    `(T0 = ${stamp(T0)})`);
	for (const l of run.lines)
		say(`  ${rel(l.t)} ${stamp(l.t)} ${l.line}`);
	say('servers: ' + events.map((e) => `${rel(e.t)} ${e.what}`).join(', '));
	say(`test event-loop lag: max ${lag.max} ms; stalls over 250 ms: ` +
	    (lag.stalls.map((x) => `${rel(x.t)} ${x.ms}ms`).join(', ') ||
	    'none'));
	say(`GET /healthz after the load: ${tHealthy === null ? 'NOT 200 ' +
	    'within 15 s' : `200 at ${rel(tHealthy)}`}`);
	const failed = rest.filter((r) => !r.ok);
	const byWhat = {};
	for (const r of rest) {
		const w = (byWhat[r.what] ??= { n: 0, bad: 0 });
		w.n++;
		w.bad += r.ok ? 0 : 1;
	}
	say(`REST: ${rest.length} requests, ${failed.length} failed (` +
	    Object.entries(byWhat).map(([k, v]) => `${k}: ${v.bad} of ${v.n}`)
	    .join(', ') + ')');
	const byStep = new Map();
	for (const r of failed) {
		const k = `${stepAt(r.t0)}: ${r.what} ${r.status ?? 'network'}`;
		byStep.set(k, (byStep.get(k) ?? 0) + 1);
	}
	for (const [k, n] of byStep)
		say(`  ${n} x ${k}`);
	for (const r of failed)
		say(`  FAIL ${rel(r.t0)}..${rel(r.t1)} ${stamp(r.t0)} ${r.what}: ` +
		    `${r.why}`);
	const acked = sent.filter((m) => m.id !== undefined ||
	    m.from.sentIds.has(m.content));
	const ackedSet = new Set(acked);
	const whileDown = sent.filter((m) => !m.connected);
	const lost = acked.filter((m) => {
		const id = m.id ?? m.from.sentIds.get(m.content);
		return !(stored.get(m.content) ?? []).includes(id);
	});
	const dup = [...stored].filter(([, ids]) => ids.length > 1);
	const unacked = sent.filter((m) => !ackedSet.has(m));
	say(`sendMessage: ${sent.length} emitted, ${acked.length} acked; ` +
	    `${whileDown.length} emitted while disconnected (buffered), ` +
	    `${whileDown.filter((m) => ackedSet.has(m)).length} of them acked ` +
	    `after the reconnect; not acked: ${unacked.length} (` +
	    `${sent.filter((m) => m.err).length} ack errors: ` +
	    ([...new Set(sent.filter((m) => m.err).map((m) => m.err))]
	    .join('; ') || '-') + `; ${sent.filter((m) => m.refused).length} ` +
	    `refused; ${sent.filter((m) => !m.done).length} unanswered), ` +
	    `${unacked.filter((m) => stored.has(m.content)).length} of them ` +
	    `stored anyway`);
	say(`history: ${stored.size} messages in ${convs.size} conversations; ` +
	    `${lost.length} acked but missing, ${dup.length} stored twice`);
	for (const m of sent.filter((x) => x.refused).slice(0, 10))
		say(`  refused ${rel(m.t)} ${m.content}: ${m.refused}`);
	// A stall of this process delays what its clients see and do; the
	// part of a reconnect gap spent stalled is not the servers' doing.
	const stalled = (a, b) => lag.stalls.reduce((sum, x) => sum +
	    Math.max(0, Math.min(b, x.t + x.ms) - Math.max(a, x.t)), 0);
	const downs = clients.flatMap((c) => c.downs.map((d) => ({ c, ...d,
	    net: d.up === undefined ? undefined : d.ms - stalled(d.t, d.up) })));
	const gaps = downs.map((d) => d.ms ?? Infinity);
	say(`disconnects: ${downs.length} of ${clients.length} clients; ` +
	    `reconnected after (ms) max ${Math.max(...gaps)}, ` +
	    `median ${gaps.sort((x, y) => x - y)[gaps.length >> 1]}`);
	for (const d of downs)
		say(`  ${rel(d.t)} ${d.c.label} node ${d.node} ${d.reason}` +
		    `${d.desc ? ` (${d.desc})` : ''} -> ` + (d.up === undefined ?
		    'NOT RECONNECTED' : `node ${d.nodeAfter} ${d.transportAfter}` +
		    ` after ${d.ms} ms` + (d.net < d.ms ? ` (${d.net} ms without` +
		    ' this process\'s stalls)' : '')) +
		    (d.also.length ? `; meanwhile ${d.also.join(', ')}` : ''));
	const cerr = clients.flatMap((c) => c.connectErrors.map((e) =>
	    `${rel(e.t)} ${c.label}: ${e.message}${e.sid ? ` (session ${e.sid})`
	    : ' (handshake)'}`));
	const refused = clients.flatMap((c) => c.connectErrors.filter((e) =>
	    !e.sid).map((e) => `${rel(e.t)} ${stamp(e.t)} ${c.label}: ${e.message}`));
	if (cerr.length)
		say(`connect_error: ${cerr.length}, ${refused.length} of them ` +
		    `handshakes: ${cerr.slice(0, 10).join('; ')}`);

	// What the servers said meanwhile.
	const logs = [
		['chat-fcgi-1.log', /warn|error|status=5|signal|stop|listen/i],
		['chat-fcgi-2.log', /warn|error|status=5|signal|stop|listen/i],
		['chat-realtime-1.log', /warn|error|signal|stop|listen/i],
		['chat-realtime-2.log', /warn|error|signal|stop|listen/i],
		['nginx-access.log', /" 5\d\d /],
	];
	// nginx's errors by kind: count, first and last time.
	const kinds = new Map();
	for (const l of logSince(mark, 'nginx-error.log',
	    /\[(error|crit|alert|emerg|warn)\]/)) {
		const m = /^(\S+ \S+) \[(\w+)\] [^:]*: (?:\*\d+ )?(.*?)(?:, client: .*?request: "(\S+ [^ ?]*)[^"]*")?(?:, upstream: "([^"]*)")?(?:, host: .*)?$/
		    .exec(l);
		if (!m)
			continue;
		const k = `[${m[2]}] ${m[3]} ${m[4] ?? ''} ${m[5] ?? ''}`;
		const v = kinds.get(k) ?? { n: 0, first: m[1], last: m[1] };
		v.n++;
		v.last = m[1];
		kinds.set(k, v);
	}
	if (kinds.size)
		say('nginx-error.log by kind:\n    ' + [...kinds].map(([k, v]) =>
		    `${v.n} x ${v.first}..${v.last.slice(11)} ${k}`).join('\n    '));
	for (const [f, re] of logs) {
		const l = logSince(mark, f, re, 16 << 20);
		if (l.length)
			say(`${f}: ${l.length} lines${l.length > 40 ?
			    ' (first 40)' : ''}\n    ${l.slice(0, 40)
			    .map((x) => x.slice(0, 300)).join('\n    ')}`);
	}
	if (process.env.OPS_VERBOSE !== '0')
		console.error(lines.join('\n'));

	// --- the verdict: every problem at once ----------------------------
	const problems = [];
	const check = (ok, what) => ok || problems.push(what);
	check(historyError === undefined, historyError);
	check(res.code === 0, `deploy/restart all exited ${res.code}`);
	check(tHealthy !== null, '/healthz not 200 within 15 s after the load');
	check(rest.length >= 20 * REST_CLIENTS,
	    `too little REST load: ${rest.length} requests`);
	check(failed.length === 0, `${failed.length} REST requests failed: ` +
	    [...byStep].map(([k, n]) => `${n} x ${k}`).join('; ') +
	    `; first at ${failed.length ? stamp(failed[0].t0) : ''}`);
	// Every node went away once, so every client was disconnected.
	const never = clients.filter((c) => c.downs.length === 0);
	check(never.length === 0, `${never.map((c) => c.label)} never ` +
	    'disconnected: was the restart real?');
	const sdis = downs.filter((d) => d.reason === 'io server disconnect');
	check(sdis.length === 0, `${sdis.length} clients got a Socket.IO ` +
	    'DISCONNECT (socket.io-client does not reconnect after one)');
	const slow = downs.filter((d) => !(d.net <= RECONNECT_MAX_MS));
	check(slow.length === 0, `${slow.length} clients not connected again ` +
	    `within ${RECONNECT_MAX_MS} ms: ` + slow.map((d) => `${d.c.label} ` +
	    `(${d.reason} at ${stamp(d.t)}: ${d.ms ?? 'never'} ms, ${d.net ?? '-'} ` +
	    'ms without stalls)').join(', '));
	// With a node always up, nginx passes every new handshake to one
	// that accepts: not one is refused.
	check(refused.length === 0, `${refused.length} reconnect handshakes ` +
	    `refused (connect_error): ${refused.slice(0, 5).join('; ')}`);
	check(downs.length === 0 || whileDown.length > 0,
	    'no message was emitted while disconnected');
	check(acked.length > PAIRS * 20, `too few messages acked: ${acked.length}`);
	check(lost.length === 0, `${lost.length} acknowledged messages ` +
	    'missing from the history: ' + lost.slice(0, 10).map((m) =>
	    `${stamp(m.t)} ${m.content} id ${m.id}`).join(', '));
	check(dup.length === 0, `${dup.length} messages stored twice: ` +
	    dup.slice(0, 10).map(([c, ids]) => `${c}: ${ids}`).join(', '));

	// After the restart, messages flow both ways in every pair.
	for (const p of pairs)
		for (const [from, to] of [[p.a, p.b], [p.b, p.a]]) {
			const content = `after ${from.label} ${tStop}`;
			const got = new Promise((resolve, reject) => {
				const x = setTimeout(() => reject(new Error(
				    `${to.label} got no newMessage from ${from.label}`)),
				    5000);
				to.s.on('newMessage', function h(m) {
					if (m.content !== content)
						return;
					clearTimeout(x);
					to.s.off('newMessage', h);
					resolve(m);
				});
			});
			try {
				const r = await ask(from.s, 'sendMessage',
				    { recipientId: to.user.id, content });
				assert.equal(r?.content, content,
				    `ack ${JSON.stringify(r)}`);
				assert.equal((await got).id, r.id);
			} catch (e) {
				got.catch(() => {});
				problems.push(`after the restart ${from.label} -> ` +
				    `${to.label}: ${e.message}`);
			}
		}
	assert.deepEqual(problems, [], 'the rolling restart was not ' +
	    'invisible to clients (timeline in the diagnostics above)');
});
