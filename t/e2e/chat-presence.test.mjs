// t/e2e/chat-presence.test.mjs: userOnline / userOffline (docs/api.md
// §4.6, several devices per user): broadcast to
// every client on every node on a user's first and last socket only,
// lastSeenAt written when the last socket closes; of two users coming
// online at the same moment, the one whose presence was written first
// hears the other.

import { describe, test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { BASE, registerAndLogin } from './lib/api.mjs';
import {
	userSocket, connect, closeAll, waitFor, noEvent, ask, NODES, ISO_MS,
	sleep, connectAtOnce, inChunks,
} from './lib/chat.mjs';
import { until } from './lib/ops.mjs';

after(closeAll);

const URL_A = NODES[0] ?? BASE;
const URL_B = NODES[1] ?? NODES[0] ?? BASE;
const isUser = (id) => (p) => p && p.userId === id;

describe('presence', () => {
	test('userOnline on the first socket, to clients on every node',
	    async () => {
		const w1 = await userSocket({ url: URL_A });
		const w2 = await userSocket({ url: URL_B });
		const w3 = await userSocket();
		const u = await registerAndLogin();
		const ps = [w1, w2, w3].map((w) =>
		    waitFor(w.s, 'userOnline', isUser(u.id)));
		const d1 = await connect(u.access_token, { url: URL_A });
		const got = await Promise.all(ps);
		for (const g of got)
			assert.deepEqual(g, { userId: u.id });
		// A second device, on the other node: no new userOnline.
		const quiet = [w1, w2].map((w) =>
		    noEvent(w.s, 'userOnline', 800, isUser(u.id)));
		const d2 = await connect(u.access_token, { url: URL_B });
		await Promise.all(quiet);
		// Closing one of two devices: no userOffline.
		const quiet2 = [w1, w2].map((w) =>
		    noEvent(w.s, 'userOffline', 800, isUser(u.id)));
		d1.close();
		await Promise.all(quiet2);
		assert.ok((await ask(w1.s, 'getOnlineUsers')).includes(u.id));
		// The last one: userOffline everywhere.
		const off = [w1, w2, w3].map((w) =>
		    waitFor(w.s, 'userOffline', isUser(u.id)));
		d2.close();
		for (const g of await Promise.all(off))
			assert.deepEqual(g, { userId: u.id });
		assert.ok(!(await ask(w1.s, 'getOnlineUsers')).includes(u.id));
	});

	test('the first socket gets its own userOnline too, once', async () => {
		const u = await registerAndLogin();
		const mine = [];
		after(() => mine.forEach((x) => x.close()));
		for (const url of [URL_A, URL_B]) {
			const s = io(url, { auth: { token: u.access_token },
			    transports: ['websocket'], forceNew: true,
			    reconnection: false });
			mine.push(s);
			const got = [];
			s.on('userOnline', (p) => got.push(p));
			await new Promise((r) => s.once('connect', r));
			await sleep(600);
			// The first socket sees itself come online; a second
			// one (the first is still open) does not.
			assert.deepEqual(got, url === URL_A ?
			    [{ userId: u.id }] : []);
		}
		mine.forEach((x) => x.close());
	});

	test('lastSeenAt is written when the last socket closes', async () => {
		const a = await userSocket({ url: URL_A });
		const b = await userSocket({ url: URL_B });
		await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'hi' });
		let list = await ask(a.s, 'getConversations');
		assert.equal(list[0].otherUser.isOnline, true);
		assert.equal(list[0].otherUser.lastSeenAt, null);
		const off = waitFor(a.s, 'userOffline', isUser(b.user.id));
		const t0 = Date.now();
		b.s.close();
		await off;
		let seen;
		for (let i = 0; i < 20; i++) {
			list = await ask(a.s, 'getConversations');
			seen = list[0].otherUser.lastSeenAt;
			if (seen)
				break;
			await sleep(100);
		}
		assert.equal(list[0].otherUser.isOnline, false);
		assert.match(seen, ISO_MS);
		assert.ok(Math.abs(Date.parse(seen) - t0) < 5000);
		// Back online: lastSeenAt is hidden again.
		const on = waitFor(a.s, 'userOnline', isUser(b.user.id));
		await connect(b.user.access_token, { url: URL_A });
		await on;
		list = await ask(a.s, 'getConversations');
		assert.equal(list[0].otherUser.isOnline, true);
		assert.equal(list[0].otherUser.lastSeenAt, null);
	});

	test('many devices connecting at once: exactly one userOnline',
	    async () => {
		const w = await userSocket({ url: URL_A });
		const u = await registerAndLogin();
		let n = 0;
		w.s.on('userOnline', (p) => { if (p.userId === u.id) n++; });
		const ss = await Promise.all(Array.from({ length: 8 },
		    (_, i) => connect(u.access_token,
		    { url: i % 2 ? URL_A : URL_B })));
		await sleep(800);
		assert.equal(n, 1);
		let off = 0;
		w.s.on('userOffline', (p) => { if (p.userId === u.id) off++; });
		for (const s of ss)
			s.close();
		await sleep(1000);
		assert.equal(off, 1);
	});

	test('a polling client going away counts too', async () => {
		const w = await userSocket({ url: URL_B });
		const u = await registerAndLogin();
		const on = waitFor(w.s, 'userOnline', isUser(u.id));
		const s = await connect(u.access_token,
		    { transports: ['polling'] });
		await on;
		const off = waitFor(w.s, 'userOffline', isUser(u.id));
		s.close();
		await off;
	});

	test('users connecting at the same moment: one hears the other',
	    async () => {
		// What comes between a socket's presence write and its
		// CONNECT answer is kept for it and sent after the answer.
		const N = 60;
		const users = await inChunks(N, () => registerAndLogin());
		const socks = await connectAtOnce(users.map((u) =>
		    u.access_token), users.map((u, k) => k % 2 ? URL_A : URL_B));
		const missed = () => {
			const m = [];
			for (let i = 0; i < N; i++)
				for (let j = i + 1; j < N; j++)
					if (!socks[i].heard.has(users[j].id) &&
					    !socks[j].heard.has(users[i].id))
						m.push([users[i].id, users[j].id]);
			return m;
		};
		await until('every pair', () => missed().length === 0, 5000)
		    .catch(() => {});
		assert.deepEqual(missed(), [],
		    'pairs where neither heard the other');
		await sleep(800);
		socks.forEach(({ twice }, k) => assert.deepEqual([...twice], [],
		    `user ${users[k].id} heard these twice`));
		socks.forEach(({ s }) => s.close());
	});
});
