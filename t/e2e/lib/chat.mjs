// t/e2e/lib/chat.mjs: helpers for the Socket.IO chat tests: connecting
// socket.io-client (through nginx or straight to one node), waiting for
// events, emitting with acks.  Users come from REST (lib/api.mjs).
//
// Env: CHAT_URL (nginx), CHAT_RT_URLS (comma-separated node URLs).

import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { BASE, registerAndLogin } from './api.mjs';

export const NODES = (process.env.CHAT_RT_URLS || '')
    .split(',').map((s) => s.trim()).filter(Boolean);
export const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
export const MESSAGE_KEYS = ['id', 'content', 'senderId', 'senderUsername',
	'conversationId', 'createdAt', 'readAt'];

const open = new Set();

// Connect; resolves with the socket once connected, rejects with the
// connect_error.  opts: { url, token, transports, auth, ... }.
export function connect(token, opts = {}) {
	const { url = BASE, transports = ['websocket'], ...rest } = opts;
	const auth = 'auth' in opts ? opts.auth : { token };
	const s = io(url, {
		auth, transports, reconnection: false, forceNew: true,
		timeout: 5000, ...rest,
	});
	open.add(s);
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error('connect timeout')),
		    Math.max(8000, (rest.timeout ?? 0) + 3000));
		s.once('connect', () => { clearTimeout(t); resolve(s); });
		s.once('connect_error', (e) => {
			clearTimeout(t);
			s.close();
			reject(e);
		});
	});
}

// A new user with a connected socket: {user, s}.
export async function userSocket(opts = {}) {
	const user = await registerAndLogin();
	const s = await connect(user.access_token, opts);
	return { user, s };
}

export function closeAll() {
	for (const s of open)
		s.close();
	open.clear();
}

// Wait for "ev" on socket s (optionally matching pred); rejects after ms.
export function waitFor(s, ev, pred = () => true, ms = 5000) {
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => {
			s.off(ev, h);
			reject(new Error(`timeout waiting for ${ev}`));
		}, ms);
		function h(...args) {
			if (!pred(...args))
				return;
			clearTimeout(t);
			s.off(ev, h);
			resolve(args[0]);
		}
		s.on(ev, h);
	});
}

// Assert that "ev" does NOT arrive on s within ms (matching pred).
export function noEvent(s, ev, ms = 700, pred = () => true) {
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => { s.off(ev, h); resolve(); }, ms);
		function h(...args) {
			if (!pred(...args))
				return;
			clearTimeout(t);
			s.off(ev, h);
			reject(new Error(`unexpected ${ev}: ${JSON.stringify(args)}`));
		}
		s.on(ev, h);
	});
}

// Emit with an ack; resolves with the ack's first argument.
export function ask(s, ev, payload, ms = 5000) {
	return s.timeout(ms).emitWithAck(ev, payload);
}

// Emit expecting an `error` event; resolves with its payload.
export async function expectError(s, ev, payload) {
	const p = waitFor(s, 'error');
	s.emit(ev, payload);
	const e = await p;
	assert.equal(typeof e.message, 'string');
	assert.deepEqual(Object.keys(e), ['message']);
	return e;
}

export function assertMessage(m) {
	assert.deepEqual(Object.keys(m), MESSAGE_KEYS);
	assert.ok(Number.isInteger(m.id) && m.id > 0);
	assert.equal(typeof m.content, 'string');
	assert.ok(Number.isInteger(m.senderId));
	assert.equal(typeof m.senderUsername, 'string');
	assert.ok(Number.isInteger(m.conversationId));
	assert.match(m.createdAt, ISO_MS);
	assert.ok(m.readAt === null || ISO_MS.test(m.readAt));
}

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// Connect every token of "tokens" at the same moment, the i-th to
// urls[i], each listening for userOnline from its creation (so what
// follows the CONNECT answer is seen).  Resolves once all are connected
// with [{s, heard, twice}]: the userIds of the userOnline received, and
// those received more than once.
export async function connectAtOnce(tokens, urls) {
	const all = tokens.map((token, i) => {
		const s = io(urls[i], { auth: { token },
		    transports: ['websocket'], reconnection: false,
		    forceNew: true, timeout: 15000 });
		open.add(s);
		const heard = new Set();
		const twice = new Set();
		s.on('userOnline', (p) => {
			if (heard.has(p?.userId))
				twice.add(p?.userId);
			heard.add(p?.userId);
		});
		return { s, heard, twice };
	});
	await Promise.all(all.map(({ s }) => new Promise((resolve, reject) => {
		s.once('connect', resolve);
		s.once('connect_error', reject);
	})));
	return all;
}

// Run fn(i) for i < n, at most "width" at a time; the results in order.
export async function inChunks(n, fn, width = 10) {
	const out = [];
	for (let i = 0; i < n; i += width)
		out.push(...await Promise.all(Array.from(
		    { length: Math.min(width, n - i) }, (_, k) => fn(i + k))));
	return out;
}
