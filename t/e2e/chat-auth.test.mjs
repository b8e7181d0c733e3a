// t/e2e/chat-auth.test.mjs: Socket.IO connection and authentication
// (docs/api.md §4.1; DESIGN "Resolved details":
// CONNECT_ERROR {"message":"Unauthorized","data":{code}}), over both
// transports, through nginx and straight to each node.

import { describe, test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { BASE, registerAndLogin, signJwt, now } from './lib/api.mjs';
import { connect, closeAll, ask, NODES, sleep } from './lib/chat.mjs';

after(closeAll);

async function refused(auth, url = BASE, transports = ['websocket']) {
	const err = await connect(undefined, { url, auth, transports }).then(
	    () => assert.fail('connected without a valid token'),
	    (e) => e);
	assert.equal(err.message, 'Unauthorized');
	assert.equal(typeof err.data, 'object');
	assert.equal(typeof err.data.code, 'string');
	return err;
}

describe('connect with a valid token', () => {
	test('websocket only (as the Flutter client does)', async () => {
		const u = await registerAndLogin();
		const s = await connect(u.access_token);
		assert.ok(s.connected);
		assert.equal(s.io.engine.transport.name, 'websocket');
		const online = await ask(s, 'getOnlineUsers');
		assert.ok(online.includes(u.id));
	});

	test('polling first, then upgrade to websocket (through nginx)',
	    async () => {
		const u = await registerAndLogin();
		const s = await connect(u.access_token,
		    { transports: ['polling', 'websocket'] });
		assert.ok(s.connected);
		for (let i = 0; i < 50 &&
		    s.io.engine.transport.name !== 'websocket'; i++)
			await sleep(100);
		assert.equal(s.io.engine.transport.name, 'websocket');
		const online = await ask(s, 'getOnlineUsers');
		assert.ok(online.includes(u.id));
	});

	test('polling only, through nginx (sid routing)', async () => {
		const u = await registerAndLogin();
		const s = await connect(u.access_token,
		    { transports: ['polling'] });
		assert.equal(s.io.engine.transport.name, 'polling');
		for (let i = 0; i < 5; i++) {
			const online = await ask(s, 'getOnlineUsers');
			assert.ok(online.includes(u.id));
		}
	});

	for (const [i, url] of NODES.entries()) {
		test(`straight to node ${i + 1}, both transports`, async () => {
			const u = await registerAndLogin();
			const w = await connect(u.access_token, { url });
			const p = await connect(u.access_token,
			    { url, transports: ['polling'] });
			assert.ok(w.connected && p.connected);
			assert.ok((await ask(p, 'getOnlineUsers'))
			    .includes(u.id));
		});
	}
});

describe('connect refused', () => {
	test('no auth at all', async () => {
		const e = await refused(undefined);
		assert.equal(e.data.code, 'missing_token');
	});

	test('empty auth object', async () => {
		await refused({});
	});

	test('token not a string', async () => {
		await refused({ token: 12345 });
	});

	test('garbage token', async () => {
		const e = await refused({ token: 'not.a.jwt' });
		assert.equal(e.data.code, 'invalid_token');
	});

	test('bad signature', async () => {
		const u = await registerAndLogin();
		await refused({ token: signJwt({ sub: u.id,
		    username: u.username, iat: now(), exp: now() + 600 },
		    { secret: 'wrong-secret' }) });
	});

	test('alg none', async () => {
		const u = await registerAndLogin();
		await refused({ token: signJwt({ sub: u.id,
		    username: u.username, iat: now(), exp: now() + 600 },
		    { alg: 'none' }) });
	});

	test('HS512 with the right secret', async () => {
		const u = await registerAndLogin();
		await refused({ token: signJwt({ sub: u.id,
		    username: u.username, iat: now(), exp: now() + 600 },
		    { alg: 'HS512' }) });
	});

	test('expired token', async () => {
		const u = await registerAndLogin();
		await refused({ token: signJwt({ sub: u.id,
		    username: u.username, iat: now() - 1000,
		    exp: now() - 10 }) });
	});

	test('valid signature, user does not exist', async () => {
		const e = await refused({ token: signJwt({ sub: 2000000000,
		    username: 'ghost_user', iat: now(), exp: now() + 600 }) });
		assert.equal(e.data.code, 'user_not_found');
	});

	test('refused over polling too', async () => {
		await refused({ token: 'x' }, BASE, ['polling']);
	});

	test('a refused client is not retried and gets no events',
	    async () => {
		const s = io(BASE, { auth: { token: 'bad' },
		    transports: ['websocket'], forceNew: true });
		let errors = 0, connects = 0;
		s.on('connect_error', () => errors++);
		s.on('connect', () => connects++);
		await sleep(1500);
		s.close();
		assert.equal(connects, 0);
		assert.equal(errors, 1);
	});
});
