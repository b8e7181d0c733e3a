// t/e2e/chat-messages.test.mjs: sendMessage, startConversation,
// getMessages, getConversations, markRead, typing and getOnlineUsers
// (docs/api.md §4.2-4.9; DESIGN "Resolved details"), with users on
// different nodes, several devices per user, acks and error events.

import { describe, test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import { BASE } from './lib/api.mjs';
import {
	userSocket, connect, closeAll, waitFor, noEvent, ask, expectError,
	assertMessage, NODES, ISO_MS, sleep,
} from './lib/chat.mjs';

after(closeAll);

// Two users, on different nodes when there are several.
const URL_A = NODES[0] ?? BASE;
const URL_B = NODES[1] ?? NODES[0] ?? BASE;
const pair = async () => [await userSocket({ url: URL_A }),
	await userSocket({ url: URL_B })];

async function convsOf(s) {
	const p = waitFor(s, 'conversationsList');
	s.emit('getConversations');
	return p;
}

describe('sendMessage', () => {
	test('messageSent to the sender, newMessage to the recipient on another node',
	    async () => {
		const [a, b] = await pair();
		const pn = waitFor(b.s, 'newMessage');
		const ps = waitFor(a.s, 'messageSent');
		a.s.emit('sendMessage', { recipientId: b.user.id,
		    content: 'Hello world' });
		const sent = await ps, got = await pn;
		assertMessage(sent);
		assert.deepEqual(got, sent);
		assert.equal(sent.content, 'Hello world');
		assert.equal(sent.senderId, a.user.id);
		assert.equal(sent.senderUsername, a.user.username);
		assert.equal(sent.readAt, null);
	});

	test('through nginx as well', async () => {
		const a = await userSocket(), b = await userSocket();
		const pn = waitFor(b.s, 'newMessage');
		const r = await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'via nginx' });
		assertMessage(r);
		assert.deepEqual(await pn, r);
	});

	test('ack carries the same payload as messageSent', async () => {
		const [a, b] = await pair();
		const ps = waitFor(a.s, 'messageSent');
		const r = await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'ack me' });
		assertMessage(r);
		assert.deepEqual(await ps, r);
	});

	test('every device of both users gets it; others do not', async () => {
		const [a, b] = await pair();
		const a2 = await connect(a.user.access_token, { url: URL_B });
		const b2 = await connect(b.user.access_token, { url: URL_A });
		const b3 = await connect(b.user.access_token,
		    { transports: ['polling'] });
		const c = await userSocket();
		const waits = [waitFor(a.s, 'messageSent'),
			waitFor(a2, 'messageSent'), waitFor(b.s, 'newMessage'),
			waitFor(b2, 'newMessage'), waitFor(b3, 'newMessage')];
		const quiet = [noEvent(c.s, 'newMessage'),
			noEvent(c.s, 'messageSent'),
			noEvent(a.s, 'newMessage'), noEvent(b.s, 'messageSent')];
		a.s.emit('sendMessage', { recipientId: b.user.id,
		    content: 'to all devices' });
		const got = await Promise.all(waits);
		for (const m of got)
			assert.deepEqual(m, got[0]);
		await Promise.all(quiet);
	});

	test('content is trimmed; 5000 code points of "ż" fit', async () => {
		const [a, b] = await pair();
		const r1 = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: ' \n\t spaced \t\n ' });
		assert.equal(r1.content, 'spaced');
		const big = 'ż'.repeat(5000);
		const r2 = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: `  ${big}  ` });
		assert.equal(r2.content, big);
		const emoji = '😀'.repeat(5000);
		const r3 = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: emoji });
		assert.equal(r3.content, emoji);
	});

	test('recipient offline: stored, delivered through history', async () => {
		const a = await userSocket({ url: URL_A });
		const b = await userSocket({ url: URL_B });
		b.s.close();
		await sleep(200);
		const r = await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'while you were away' });
		assertMessage(r);
		const b2 = await connect(b.user.access_token, { url: URL_A });
		const h = await ask(b2, 'getMessages',
		    { conversationId: r.conversationId });
		assert.deepEqual(h.messages[0], r);
	});

	const CONTENT_ERR = 'Message content must be between 1 and 5000 characters';
	for (const [what, content] of [
		['empty', ''], ['only spaces', '    '], ['only newlines', '\n\n\t'],
		['5001 characters', 'x'.repeat(5001)],
		['5001 × "ż"', 'ż'.repeat(5001)],
		['a number', 42], ['null', null], ['an object', { a: 1 }],
		['missing', undefined], ['NUL inside', 'a\u0000b'],
	]) {
		test(`content ${what}: error, nothing stored`, async () => {
			const [a, b] = await pair();
			const quiet = noEvent(b.s, 'newMessage');
			const e = await expectError(a.s, 'sendMessage',
			    { recipientId: b.user.id, content });
			assert.equal(e.message, CONTENT_ERR);
			const r = await ask(a.s, 'sendMessage',
			    { recipientId: b.user.id, content });
			assert.deepEqual(r, { error: CONTENT_ERR });
			await quiet;
			assert.deepEqual(await convsOf(a.s), []);
			assert.deepEqual(await convsOf(b.s), []);
		});
	}

	for (const [what, rid] of [
		['0', 0], ['-1', -1], ['"x"', 'x'], ['"5" (a string)', '5'],
		['1.5', 1.5], ['null', null], ['missing', undefined],
		['an array', [1]], ['non-existent', 2000000000],
	]) {
		test(`recipientId ${what}: error event, nothing stored`,
		    async () => {
			const a = await userSocket();
			const e = await expectError(a.s, 'sendMessage',
			    { recipientId: rid, content: 'hi' });
			assert.ok(e.message.length > 0);
			const r = await ask(a.s, 'sendMessage',
			    { recipientId: rid, content: 'hi' });
			assert.equal(typeof r.error, 'string');
			assert.deepEqual(await convsOf(a.s), []);
		});
	}

	test('to oneself: error, nothing stored', async () => {
		const a = await userSocket();
		const quiet = noEvent(a.s, 'messageSent');
		await expectError(a.s, 'sendMessage',
		    { recipientId: a.user.id, content: 'me' });
		await quiet;
		assert.deepEqual(await convsOf(a.s), []);
	});

	test('payload not an object: error', async () => {
		const a = await userSocket();
		await expectError(a.s, 'sendMessage', 'hello');
		await expectError(a.s, 'sendMessage');
	});

	test('clientMessageId: a retry returns the stored message', async () => {
		const [a, b] = await pair();
		const cmid = `c-${Date.now()}-${Math.random()}`;
		const got = [];
		b.s.on('newMessage', (m) => got.push(m));
		const r1 = await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'once', clientMessageId: cmid });
		const r2 = await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'once', clientMessageId: cmid });
		assertMessage(r2);
		assert.deepEqual(r2, r1);
		// Concurrent retries too.
		const rs = await Promise.all([1, 2, 3, 4].map(() =>
		    ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'once', clientMessageId: cmid })));
		for (const r of rs)
			assert.deepEqual(r, r1);
		const h = await ask(b.s, 'getMessages',
		    { conversationId: r1.conversationId });
		assert.equal(h.messages.length, 1);
		await sleep(300);
		assert.equal(got.length, 1);
		// Another sender may use the same id.
		const r3 = await ask(b.s, 'sendMessage', { recipientId: a.user.id,
		    content: 'mine', clientMessageId: cmid });
		assert.notEqual(r3.id, r1.id);
	});

	test('clientMessageId reused for another recipient: the stored message, no access for that one',
	    async () => {
		const [a, b] = await pair();
		const c = await userSocket({ url: URL_B });
		const r1 = await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'for b', clientMessageId: 'same-key' });
		const quiet = noEvent(c.s, 'newMessage');
		const r2 = await ask(a.s, 'sendMessage', { recipientId: c.user.id,
		    content: 'for c', clientMessageId: 'same-key' });
		assert.deepEqual(r2, r1);
		await quiet;
		await expectError(c.s, 'typing',
		    { conversationId: r1.conversationId });
		await expectError(c.s, 'getMessages',
		    { conversationId: r1.conversationId });
		assert.deepEqual(await convsOf(c.s), []);
	});

	test('clientMessageId longer than 64 or not a string: error',
	    async () => {
		const [a, b] = await pair();
		await expectError(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'x', clientMessageId: 'k'.repeat(65) });
		await expectError(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'x', clientMessageId: 17 });
		const r = await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'x', clientMessageId: 'ż'.repeat(64) });
		assertMessage(r);
	});

	test('a burst of 200 messages: all stored once, in order', async () => {
		const [a, b] = await pair();
		const got = [];
		b.s.on('newMessage', (m) => got.push(m));
		const rs = await Promise.all(Array.from({ length: 200 },
		    (_, i) => ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: `m${i}` }, 15000)));
		for (let i = 0; i < 200; i++) {
			assertMessage(rs[i]);
			assert.equal(rs[i].content, `m${i}`);
			if (i > 0)
				assert.ok(rs[i].id > rs[i - 1].id);
		}
		for (let i = 0; i < 50 && got.length < 200; i++)
			await sleep(100);
		assert.deepEqual(got.map((m) => m.content),
		    rs.map((m) => m.content));
	});
});

describe('flood', () => {
	test('one socket, 1500 sends at once: each answered, the excess refused, nothing lost',
	    async () => {
		const [a, b] = await pair();
		const rs = await Promise.all(Array.from({ length: 1500 },
		    (_, i) => ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: `f${i}` }, 30000)));
		const ok = rs.filter((r) => r.id), bad = rs.filter((r) => !r.id);
		assert.ok(ok.length >= 512, `${ok.length} stored`);
		assert.ok(bad.length > 0, 'some refused');
		for (const r of bad)
			assert.deepEqual(r, { error: 'Too many requests in flight' });
		let n = 0, before;
		for (;;) {
			const h = await ask(b.s, 'getMessages', { conversationId:
			    ok[0].conversationId, limit: 100, before });
			n += h.messages.length;
			if (!h.hasMore)
				break;
			before = h.messages.at(-1).id;
		}
		assert.equal(n, ok.length);
		assert.ok(a.s.connected);
		const r = await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'after the flood' });
		assertMessage(r);
	});
});

describe('startConversation', () => {
	test('conversationsList then openConversation; idempotent', async () => {
		const [a, b] = await pair();
		const order = [];
		a.s.on('conversationsList', () => order.push('list'));
		a.s.on('openConversation', () => order.push('open'));
		const pl = waitFor(a.s, 'conversationsList');
		const po = waitFor(a.s, 'openConversation');
		a.s.emit('startConversation',
		    { recipientUsername: b.user.username });
		const list = await pl, open = await po;
		assert.deepEqual(Object.keys(open), ['conversationId']);
		assert.ok(Number.isInteger(open.conversationId));
		assert.deepEqual(order, ['list', 'open']);
		assert.equal(list.length, 1);
		assert.equal(list[0].id, open.conversationId);
		assert.equal(list[0].otherUser.id, b.user.id);
		// Again, with the name in another case, and from b's side.
		const r = await ask(a.s, 'startConversation',
		    { recipientUsername: b.user.username.toUpperCase() });
		assert.deepEqual(r, open);
		const r2 = await ask(b.s, 'startConversation',
		    { recipientUsername: a.user.username });
		assert.deepEqual(r2, open);
		const m = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: 'same conversation' });
		assert.equal(m.conversationId, open.conversationId);
	});

	for (const [what, name] of [['too short', 'ab'],
		['bad characters', 'a-b-c'], ['31 characters', 'a'.repeat(31)],
		['a number', 123], ['missing', undefined]]) {
		test(`recipientUsername ${what}: error`, async () => {
			const a = await userSocket();
			await expectError(a.s, 'startConversation',
			    { recipientUsername: name });
		});
	}

	test('unknown user and oneself: error, nothing stored', async () => {
		const a = await userSocket();
		await expectError(a.s, 'startConversation',
		    { recipientUsername: 'no_such_user_zz9' });
		await expectError(a.s, 'startConversation',
		    { recipientUsername: a.user.username });
		await expectError(a.s, 'startConversation',
		    { recipientUsername: a.user.username.toUpperCase() });
		assert.deepEqual(await convsOf(a.s), []);
	});
});

describe('getMessages', () => {
	test('newest first, before cursor, limits, hasMore', async () => {
		const [a, b] = await pair();
		const ids = [];
		for (let i = 0; i < 120; i++)
			ids.push((await ask(a.s, 'sendMessage',
			    { recipientId: b.user.id, content: `n${i}` })).id);
		const conv = (await ask(a.s, 'getConversations'))[0].id;
		const ph = waitFor(b.s, 'messageHistory');
		b.s.emit('getMessages', { conversationId: conv });
		const h = await ph;
		assert.deepEqual(Object.keys(h), ['messages', 'hasMore']);
		assert.equal(h.messages.length, 50);
		assert.equal(h.hasMore, true);
		assert.deepEqual(h.messages.map((m) => m.id),
		    ids.slice(-50).reverse());
		h.messages.forEach(assertMessage);
		// limit above 100 is clamped to 100
		const h2 = await ask(b.s, 'getMessages',
		    { conversationId: conv, limit: 1000 });
		assert.equal(h2.messages.length, 100);
		assert.equal(h2.hasMore, true);
		// before: the next page
		const h3 = await ask(b.s, 'getMessages',
		    { conversationId: conv, before: h2.messages[99].id });
		assert.deepEqual(h3.messages.map((m) => m.id),
		    ids.slice(0, 20).reverse());
		assert.equal(h3.hasMore, false);
		// exactly the rest: hasMore false
		const h4 = await ask(b.s, 'getMessages',
		    { conversationId: conv, before: ids[20], limit: 20 });
		assert.equal(h4.messages.length, 20);
		assert.equal(h4.hasMore, false);
		// past the end
		const h5 = await ask(b.s, 'getMessages',
		    { conversationId: conv, before: ids[0] });
		assert.deepEqual(h5, { messages: [], hasMore: false });
		// small and silly limits
		const h6 = await ask(b.s, 'getMessages',
		    { conversationId: conv, limit: 1 });
		assert.equal(h6.messages.length, 1);
		assert.equal(h6.hasMore, true);
		const h7 = await ask(b.s, 'getMessages',
		    { conversationId: conv, limit: 0 });
		assert.ok(h7.messages.length >= 1 && h7.messages.length <= 50);
	});

	test('non-participant: error event only', async () => {
		const [a, b] = await pair();
		const m = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: 'private' });
		const c = await userSocket();
		const quiet = noEvent(c.s, 'messageHistory');
		const e = await expectError(c.s, 'getMessages',
		    { conversationId: m.conversationId });
		assert.equal(typeof e.message, 'string');
		const r = await ask(c.s, 'getMessages',
		    { conversationId: m.conversationId });
		assert.equal(typeof r.error, 'string');
		await quiet;
	});

	for (const [what, pl] of [['conversationId 0', { conversationId: 0 }],
		['conversationId "x"', { conversationId: 'x' }],
		['no conversationId', {}],
		['before "x"', { conversationId: 1, before: 'x' }],
		['non-existent conversation', { conversationId: 2000000000 }]]) {
		test(`${what}: error`, async () => {
			const a = await userSocket();
			await expectError(a.s, 'getMessages', pl);
		});
	}
});

describe('getConversations', () => {
	test('shape, unreadCount, order by latest activity', async () => {
		const a = await userSocket({ url: URL_A });
		const b = await userSocket({ url: URL_B });
		const c = await userSocket({ url: URL_B });
		assert.deepEqual(await convsOf(a.s), []);
		await ask(b.s, 'sendMessage', { recipientId: a.user.id,
		    content: 'b1' });
		await ask(b.s, 'sendMessage', { recipientId: a.user.id,
		    content: 'b2' });
		await sleep(5);
		await ask(c.s, 'sendMessage', { recipientId: a.user.id,
		    content: 'c1' });
		let list = await convsOf(a.s);
		assert.equal(list.length, 2);
		assert.deepEqual(list.map((x) => x.otherUser.id),
		    [c.user.id, b.user.id]);
		const x = list[1];
		assert.deepEqual(Object.keys(x), ['id', 'userOne', 'userTwo',
			'otherUser', 'unreadCount', 'createdAt']);
		const ukeys = ['id', 'username', 'displayName', 'avatarUrl',
			'avatarColor'];
		assert.deepEqual(Object.keys(x.userOne), ukeys);
		assert.deepEqual(Object.keys(x.userTwo), ukeys);
		assert.deepEqual(Object.keys(x.otherUser),
		    [...ukeys, 'isOnline', 'lastSeenAt']);
		assert.deepEqual([x.userOne.id, x.userTwo.id].sort((p, q) =>
		    p - q), [a.user.id, b.user.id].sort((p, q) => p - q));
		assert.equal(x.otherUser.username, b.user.username);
		assert.equal(x.otherUser.isOnline, true);
		assert.equal(x.otherUser.lastSeenAt, null);
		assert.match(x.otherUser.avatarColor, /^#[0-9a-f]{6}$/);
		assert.equal(x.unreadCount, 2);
		assert.match(x.createdAt, ISO_MS);
		// New activity in the older one moves it first.
		await ask(a.s, 'sendMessage', { recipientId: b.user.id,
		    content: 'a1' });
		list = await convsOf(a.s);
		assert.deepEqual(list.map((y) => y.otherUser.id),
		    [b.user.id, c.user.id]);
		// b's view: a's message is unread for b; b's own are not.
		const lb = await convsOf(b.s);
		assert.equal(lb[0].unreadCount, 1);
		assert.equal(lb[0].otherUser.id, a.user.id);
		// Offline: isOnline false, lastSeenAt set.
		c.s.close();
		await sleep(500);
		list = await convsOf(a.s);
		const xc = list.find((y) => y.otherUser.id === c.user.id);
		assert.equal(xc.otherUser.isOnline, false);
		assert.match(xc.otherUser.lastSeenAt, ISO_MS);
	});
});

describe('markRead', () => {
	test('messagesRead to the other participant; readAt stored',
	    async () => {
		const [a, b] = await pair();
		const m1 = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: 'read me' });
		await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: 'and me' });
		const mine = await ask(b.s, 'sendMessage',
		    { recipientId: a.user.id, content: 'my own' });
		const a2 = await connect(a.user.access_token, { url: URL_B });
		const pr = waitFor(a.s, 'messagesRead');
		const pr2 = waitFor(a2, 'messagesRead');
		const quiet = noEvent(b.s, 'messagesRead');
		const ack = await ask(b.s, 'markRead',
		    { conversationId: m1.conversationId });
		const ev = await pr;
		assert.deepEqual(Object.keys(ev), ['conversationId', 'readAt']);
		assert.equal(ev.conversationId, m1.conversationId);
		assert.match(ev.readAt, ISO_MS);
		assert.deepEqual(await pr2, ev);
		assert.deepEqual(ack, ev);
		await quiet;
		const h = await ask(a.s, 'getMessages',
		    { conversationId: m1.conversationId });
		for (const m of h.messages) {
			if (m.id === mine.id)
				assert.equal(m.readAt, null);
			else
				assert.equal(m.readAt, ev.readAt);
		}
		const lb = await convsOf(b.s);
		assert.equal(lb[0].unreadCount, 0);
		const la = await convsOf(a.s);
		assert.equal(la[0].unreadCount, 1);
	});

	test('non-participant: error event only, nothing marked', async () => {
		const [a, b] = await pair();
		const m = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: 'unread' });
		const c = await userSocket();
		const quiet = noEvent(a.s, 'messagesRead');
		await expectError(c.s, 'markRead',
		    { conversationId: m.conversationId });
		await quiet;
		const h = await ask(b.s, 'getMessages',
		    { conversationId: m.conversationId });
		assert.equal(h.messages[0].readAt, null);
	});
});

describe('typing', () => {
	test('userTyping and userStoppedTyping to the other participant only',
	    async () => {
		const [a, b] = await pair();
		const m = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: 'hey' });
		const conv = m.conversationId;
		const quiet = noEvent(a.s, 'userTyping');
		const pt = waitFor(b.s, 'userTyping');
		a.s.emit('typing', { conversationId: conv });
		const t = await pt;
		assert.deepEqual(t, { userId: a.user.id, conversationId: conv });
		const ps = waitFor(b.s, 'userStoppedTyping');
		a.s.emit('stopTyping', { conversationId: conv });
		assert.deepEqual(await ps,
		    { userId: a.user.id, conversationId: conv });
		await quiet;
	});

	test('a typer who vanishes stops typing within 10 s', async () => {
		const [a, b] = await pair();
		const m = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: 'hey' });
		const pt = waitFor(b.s, 'userTyping');
		a.s.emit('typing', { conversationId: m.conversationId });
		await pt;
		const t0 = Date.now();
		const ps = waitFor(b.s, 'userStoppedTyping', () => true, 11000);
		a.s.io.engine.close();	/* the transport just drops */
		const e = await ps;
		assert.deepEqual(e, { userId: a.user.id,
		    conversationId: m.conversationId });
		assert.ok(Date.now() - t0 < 10000);
	});

	test('a typer who goes silent stops typing within 10 s', async () => {
		const [a, b] = await pair();
		const m = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: 'hey' });
		const pt = waitFor(b.s, 'userTyping');
		const t0 = Date.now();
		a.s.emit('typing', { conversationId: m.conversationId });
		await pt;
		await waitFor(b.s, 'userStoppedTyping', () => true, 11000);
		const dt = Date.now() - t0;
		assert.ok(dt > 3000 && dt < 10000, `after ${dt} ms`);
	});

	test('non-participant: error event only', async () => {
		const [a, b] = await pair();
		const m = await ask(a.s, 'sendMessage',
		    { recipientId: b.user.id, content: 'hey' });
		const c = await userSocket();
		const quiet = noEvent(b.s, 'userTyping');
		await expectError(c.s, 'typing', { conversationId: m.conversationId });
		await expectError(c.s, 'stopTyping',
		    { conversationId: m.conversationId });
		await expectError(c.s, 'typing', { conversationId: 'x' });
		await quiet;
	});
});

describe('getOnlineUsers', () => {
	test('onlineUsers lists users on every node', async () => {
		const [a, b] = await pair();
		const p = waitFor(a.s, 'onlineUsers');
		a.s.emit('getOnlineUsers');
		const list = await p;
		assert.ok(Array.isArray(list));
		assert.ok(list.every(Number.isInteger));
		assert.ok(list.includes(a.user.id), `${a.user.id} in ${list}`);
		assert.ok(list.includes(b.user.id), `${b.user.id} in ${list}`);
		b.s.close();
		await sleep(500);
		const l2 = await ask(a.s, 'getOnlineUsers');
		assert.ok(!l2.includes(b.user.id), `${b.user.id} gone: ${l2}`);
	});
});
