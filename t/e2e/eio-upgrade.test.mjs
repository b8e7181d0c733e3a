// t/e2e/eio-upgrade.test.mjs: one WebSocket per Engine.IO session.  Once a
// polling session has upgraded to WebSocket (2probe/3probe, 5), or while
// its probe is open, another WebSocket naming the same sid must complete
// the handshake (101) and then be closed by the server (a close frame,
// then TCP close), and the first must go on working; likewise for a
// session opened straight over WebSocket.  An unknown sid is still
// refused with 400 "Session ID unknown".  (The official suites' ws
// client has no error handler on that second socket: a 400 fails them.)
// Against realtime/sio-conformance, started here from $BUILD_DIR (its
// /engine.io/ and /socket.io/; pings every second so the first WebSocket
// can be seen answering one), and chat-realtime's /socket.io/ through
// nginx (CHAT_URL) and at each node (CHAT_RT_URLS): its Engine.IO
// handshake and upgrade need no JWT, its Socket.IO CONNECT does, so one
// user is registered over REST for the round trips.
import { test, describe, before, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, rawWS } from './sio-lib.mjs';
import { BASE, sharedUser } from './lib/api.mjs';
import { NODES } from './lib/chat.mjs';

const someone = sharedUser();
let srv;

before(async () => {
	srv = await startServer(undefined,
	    ['--ping-interval', '1000', '--ping-timeout', '5000']);
});
after(async () => { if (srv) await srv.stop(); });

// A polling session at base ("http://host:port/path/"): its sid.
async function pollingSession(base) {
	const r = await fetch(`${base}?EIO=4&transport=polling`);
	const t = await r.text();
	assert.equal(r.status, 200, t);
	assert.ok(t.startsWith('0{'), t);
	return JSON.parse(t.slice(1)).sid;
}

function wsUrl(base, sid) {
	return `${base.replace(/^http/, 'ws')}?EIO=4&transport=websocket` +
	    `&sid=${encodeURIComponent(sid)}`;
}

// The upgrade's probe: a WebSocket with the sid, 2probe answered 3probe.
async function probe(base, sid) {
	const s = rawWS(wsUrl(base, sid));
	await s.opened;
	s.send('2probe');
	assert.equal(await s.nextNonPing(5000), '3probe');
	return s;
}

// Another WebSocket naming sid, left alone until the server ends it.
// Resolves {status, code, messages}: the handshake's HTTP status, the
// close code of the server's close frame (1006 if none came) and what
// arrived meanwhile; or {status, body} when the handshake is refused.
function extraWS(base, sid) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(wsUrl(base, sid));
		const messages = [];
		let status = null;
		const t = setTimeout(() => {
			ws.terminate();
			reject(new Error('the server did not close it in 10 s'));
		}, 10_000);
		ws.on('upgrade', (res) => { status = res.statusCode; });
		ws.on('unexpected-response', (req, res) => {
			// this socket is no agent's: close it, or it stays open
			const sock = res.socket;
			let body = '';
			clearTimeout(t);
			res.setEncoding('utf8');
			res.on('data', (d) => { body += d; });
			res.on('end', () => {
				resolve({ status: res.statusCode, body });
				sock.destroy();
				req.destroy();
			});
		});
		ws.on('message', (d) => { messages.push(d.toString()); });
		ws.on('error', () => {});
		ws.on('close', (code) => {
			clearTimeout(t);
			resolve({ status, code, messages });
		});
	});
}

function assertClosedAfter101(x) {
	assert.equal(x.status, 101, 'the handshake completes');
	assert.equal(x.code, 1008, 'then the server sends a close frame');
	assert.deepEqual(x.messages, [], 'and nothing else');
}

// Read messages (answering pings) until one matches; a CONNECT_ERROR fails.
async function until(s, pred, what) {
	for (let i = 0; i < 50; i++) {
		const m = await s.nextNonPing(5000);
		assert.ok(!(typeof m === 'string' && m.startsWith('44')), m);
		if (pred(m))
			return m;
	}
	throw new Error(`no ${what}`);
}

// connect: first exchange once upgraded (proves "5" was handled);
// check: a round trip afterwards; ping: the server pings often enough
// to wait for one.
const chat = (name, base) => ({
	name, base,
	async connect(s) {
		const u = await someone();
		s.send(`40${JSON.stringify({ token: u.access_token })}`);
		await until(s, (m) => m.startsWith('40{"sid":"'), 'CONNECT');
	},
	async check(s) {
		const u = await someone();
		s.send('42["getOnlineUsers"]');
		const m = await until(s, (x) => x.startsWith('42["onlineUsers",'),
		    'onlineUsers');
		assert.ok(JSON.parse(m.slice(2))[1].includes(u.id), m);
	},
});
const targets = [
	{
		name: 'sio-conformance /engine.io/',
		base: () => `${srv.url}/engine.io/`,
		ping: true,
		async connect(s) {
			s.send('4hello');
			assert.equal(await s.nextNonPing(), '4hello');
		},
		async check(s) {
			s.send('4again');
			assert.equal(await s.nextNonPing(), '4again');
		},
	},
	{
		name: 'sio-conformance /socket.io/',
		base: () => `${srv.url}/socket.io/`,
		ping: true,
		async connect(s) {
			s.send('40');
			assert.match(await s.nextNonPing(), /^40\{"sid":"/);
			assert.equal(await s.nextNonPing(), '42["auth",{}]');
		},
		async check(s) {
			s.send('42["message","again"]');
			assert.equal(await s.nextNonPing(),
			    '42["message-back","again"]');
		},
	},
	chat('chat-realtime through nginx', () => `${BASE}/socket.io/`),
	...NODES.map((url, i) => chat(`chat-realtime node ${i + 1}`,
	    () => `${url.replace(/\/+$/, '')}/socket.io/`)),
];

test('CHAT_RT_URLS names the chat-realtime nodes', { timeout: 60_000 },
    () => {
	assert.ok(NODES.length > 0, 'CHAT_RT_URLS is empty');
});

for (const tg of targets) {
	describe(tg.name, () => {
		test('a second WebSocket after the upgrade: 101, then closed; ' +
		    'the first goes on', { timeout: 60_000 }, async () => {
			const base = tg.base();
			const sid = await pollingSession(base);
			const s = await probe(base, sid);
			try {
				s.send('5');
				await tg.connect(s);
				assertClosedAfter101(await extraWS(base, sid));
				await tg.check(s);
				if (tg.ping) {
					assert.equal(await s.next(3000), '2',
					    'the server pings the first WebSocket');
					s.send('3');
				}
				await tg.check(s);
			} finally {
				s.close();
			}
		});

		test('a second WebSocket during the probe: 101, then closed; ' +
		    'the upgrade completes', { timeout: 60_000 }, async () => {
			const base = tg.base();
			const sid = await pollingSession(base);
			const s = await probe(base, sid);
			try {
				assertClosedAfter101(await extraWS(base, sid));
				s.send('5');
				await tg.connect(s);
				await tg.check(s);
			} finally {
				s.close();
			}
		});

		test('a WebSocket naming a WebSocket-only session: 101, then ' +
		    'closed; the first goes on', { timeout: 60_000 }, async () => {
			const base = tg.base();
			const s = rawWS(`${base.replace(/^http/, 'ws')}` +
			    '?EIO=4&transport=websocket');
			try {
				const m = await s.nextNonPing(5000);
				assert.ok(m.startsWith('0{'), m);
				const sid = JSON.parse(m.slice(1)).sid;
				assertClosedAfter101(await extraWS(base, sid));
				await tg.connect(s);
				await tg.check(s);
			} finally {
				s.close();
			}
		});

		test('a WebSocket with an unknown sid: 400 Session ID unknown',
		    { timeout: 60_000 }, async () => {
			const x = await extraWS(tg.base(), 'nope');
			assert.equal(x.status, 400);
			assert.deepEqual(JSON.parse(x.body),
			    { code: 1, message: 'Session ID unknown' });
		});
	});
}
