// t/e2e/db-standby.test.mjs: chat-realtime reading from a PostgreSQL hot
// standby (DB_READ_HOST; realtime/chat/dbread.h): getMessages and
// getConversations on one node see a write acknowledged by another node
// right after the ack, every time; the standby serves them (the nodes'
// /metrics); the answers are the same JSON as the primary's; with the
// standby killed reads go on from the primary within a second or two and
// /healthz says so; once it is back, reads return to it.  With its replay
// paused, a read after a write waits a little and then goes to the
// primary, and past DB_READ_MAX_LAG_MS (default 1000) /healthz says the
// standby lags.
//
// Runs only when CHAT_DB_READ=1 says the stack's nodes were started with
// DB_READ_HOST pointing at the standby of deploy/standby.sh (which it
// kills and starts: needs root, CHAT_VAR and the settings deploy/up had),
// with CHAT_RT_URLS and RT_METRICS_URLS naming two nodes or more.  So:
//   deploy/standby.sh up
//   DB_READ_HOST=127.0.0.1 DB_READ_PORT=$((PORT + 3)) deploy/up
//   CHAT_DB_READ=1 ./run db-standby.test.mjs

import { describe, test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { until } from './lib/ops.mjs';
import { scrape } from './lib/prom.mjs';
import {
	userSocket, connect, closeAll, ask, NODES,
} from './lib/chat.mjs';

const METRICS = (process.env.RT_METRICS_URLS || '')
    .split(',').map((s) => s.trim()).filter(Boolean);
const HEALTH = METRICS.map((u) => u.replace(/\/metrics$/, '/healthz'));
const STANDBY = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
    '../../deploy/standby.sh');
const SB_PORT = process.env.DB_READ_PORT ||
    String(Number(process.env.PORT || 3000) + 3);
const MAX_LAG = Number(process.env.DB_READ_MAX_LAG_MS || 1000);
const skip = process.env.CHAT_DB_READ !== '1' ?
    'set CHAT_DB_READ=1 on a stack whose nodes read from deploy/standby.sh' :
    NODES.length < 2 || METRICS.length < 2 || !process.env.CHAT_VAR ?
    'needs CHAT_RT_URLS and RT_METRICS_URLS of two nodes, and CHAT_VAR' :
    false;

after(closeAll);
// Whatever happened, leave the standby running.
after(() => {
	if (!skip)
		standby('start');
});

function standby(cmd) {
	execFileSync(STANDBY, [cmd], { env: process.env, stdio: 'ignore',
	    timeout: 90000 });
}

// One statement on the standby, as the stack's database user.
function standbySql(sql) {
	return execFileSync('psql', ['-X', '-q', '-tA', '-h', '127.0.0.1',
		'-p', SB_PORT, '-U', process.env.DB_USER || 'postgres',
		'-d', process.env.DB_NAME || 'chatdb', '-c', sql],
	    { env: { ...process.env,
		PGPASSWORD: process.env.DB_PASS || 'postgres' },
	    timeout: 10000 }).toString().trim();
}

async function health() {
	return Promise.all(HEALTH.map(async (u) => {
		const r = await fetch(u, { signal: AbortSignal.timeout(3000) });
		return r.json();
	}));
}

// Reads that may lag, by target, over every node.
async function reads() {
	const m = await scrape(METRICS);
	const out = { standby: 0, primary: 0, why: {} };
	for (const [k, v] of m.samples) {
		const t = /^chat_realtime_db_reads_total\{reason="(\w+)",target="(\w+)"\}$/.exec(k);
		if (!t)
			continue;
		out[t[2]] += v;
		if (t[2] === 'primary')
			out.why[t[1]] = v;
	}
	return out;
}

async function history(s, conv) {
	const r = await ask(s, 'getMessages', { conversationId: conv });
	assert.ok(r && Array.isArray(r.messages), JSON.stringify(r));
	return r;
}

async function convs(s) {
	const r = await ask(s, 'getConversations', {});
	assert.ok(Array.isArray(r), JSON.stringify(r));
	return r;
}

describe('reads from a hot standby', { skip }, () => {
	// a: sender, with a socket on each node; b: recipient on node 2.
	let a1, a2, b, conv;

	test('every node reads from the standby', async () => {
		await until('dbRead "standby" on every node', async () =>
		    (await health()).every((h) => h.dbRead === 'standby'),
		    15000);
		a1 = await userSocket({ url: NODES[0] });
		a2 = { s: await connect(a1.user.access_token, { url: NODES[1] }) };
		b = await userSocket({ url: NODES[1] });
	});

	test('a write acknowledged on node 1 is in the next read on node 2, '
	    + 'every time', async () => {
		const before = await reads();
		const N = 40;
		for (let i = 0; i < N; i++) {
			const m = await ask(a1.s, 'sendMessage', {
			    recipientId: b.user.id, content: `m${i}` });
			assert.ok(m && m.id > 0, JSON.stringify(m));
			conv = m.conversationId;
			const h = await history(a2.s, conv);
			assert.equal(h.messages[0]?.id, m.id,
			    `message ${i}: the sender's own history on node 2`);
			const la = await convs(a2.s);
			assert.equal(la[0]?.id, conv,
			    `message ${i}: the sender's list on node 2`);
			const lb = await convs(b.s);
			assert.equal(lb[0]?.unreadCount, i + 1,
			    `message ${i}: the recipient's unread count`);
		}
		// markRead on node 2, then the sender's and the reader's view
		// on node 1.
		const r = await ask(b.s, 'markRead', { conversationId: conv });
		assert.ok(r && r.readAt, JSON.stringify(r));
		const h = await history(a1.s, conv);
		assert.ok(h.messages.every((x) => x.readAt !== null),
		    'read receipts visible on node 1');
		const bs = await userSocketOf(b, NODES[0]);
		assert.equal((await convs(bs))[0]?.unreadCount, 0);
		const after_ = await reads();
		const total = 3 * N + 2;
		assert.ok(after_.standby + after_.primary -
		    before.standby - before.primary >= total,
		    `every read counted: ${JSON.stringify(after_)}`);
		assert.ok(after_.standby - before.standby >= total / 2,
		    `most reads served by the standby: ${JSON.stringify(before)} `
		    + `-> ${JSON.stringify(after_)}`);
	});

	test('replay paused: reads wait, then the primary answers; past the '
	    + 'bound /healthz says the standby lags', async () => {
		standbySql('SELECT pg_wal_replay_pause()');
		try {
			const r0 = await reads();
			const t0 = Date.now();
			const m = await ask(a1.s, 'sendMessage', {
			    recipientId: b.user.id, content: 'replay paused' });
			assert.equal((await history(a2.s, conv)).messages[0].id,
			    m.id, 'the write, from the primary');
			const r1 = await reads();
			assert.ok((r1.why.behind ?? 0) > (r0.why.behind ?? 0),
			    `a read waited, then went to the primary: ${JSON.stringify(r1)}`);
			await until('dbRead "primary: standby lags"', async () =>
			    (await health()).every((h) =>
			    h.dbRead === 'primary: standby lags'), MAX_LAG + 3000, 100);
			assert.ok(Date.now() - t0 >= MAX_LAG - 300,
			    'not before the bound');
		} finally {
			standbySql('SELECT pg_wal_replay_resume()');
		}
		await until('dbRead "standby" again', async () =>
		    (await health()).every((h) => h.dbRead === 'standby'), 5000,
		    100);
	});

	let onStandby;
	test('answers are the same JSON as from the primary', async () => {
		onStandby = { h: await history(a2.s, conv),
		    la: await convs(a2.s), lb: await convs(b.s) };
	});

	test('standby killed: reads go on from the primary, /healthz says so',
	    async () => {
		standby('kill');
		const t0 = Date.now();
		// Reads keep working throughout.
		let seen = null;
		while (Date.now() - t0 < 5000) {
			const h = await history(a2.s, conv);
			assert.deepEqual(h, onStandby.h);
			if (!seen && (await health()).every((x) =>
			    /^primary: /.test(x.dbRead)))
				seen = Date.now() - t0;
			if (seen)
				break;
		}
		assert.ok(seen !== null && seen < 2000,
		    `/healthz says "primary: ..." within 2 s (${seen} ms)`);
		const h = await health();
		for (const x of h) {
			assert.equal(x.status, 'ok', JSON.stringify(x));
			assert.match(x.dbRead, /^primary: /);
		}
		const r0 = await reads();
		assert.deepEqual(await history(a2.s, conv), onStandby.h);
		assert.deepEqual(await convs(a2.s), onStandby.la);
		assert.deepEqual(await convs(b.s), onStandby.lb);
		const m = await ask(a1.s, 'sendMessage', {
		    recipientId: b.user.id, content: 'while the standby is down' });
		assert.equal((await history(a2.s, conv)).messages[0].id, m.id);
		const r1 = await reads();
		assert.equal(r1.standby, r0.standby, 'no read on the standby');
		assert.ok(r1.primary - r0.primary >= 4, JSON.stringify(r1));
	});

	test('standby back: reads return to it', async () => {
		standby('start');
		await until('dbRead "standby" on every node', async () =>
		    (await health()).every((h) => h.dbRead === 'standby'),
		    20000);
		const r0 = await reads();
		const m = await ask(a1.s, 'sendMessage', {
		    recipientId: b.user.id, content: 'standby back' });
		assert.equal((await history(a2.s, conv)).messages[0].id, m.id);
		for (let i = 0; i < 5; i++)
			await convs(b.s);
		const r1 = await reads();
		assert.ok(r1.standby - r0.standby >= 3,
		    `reads on the standby again: ${JSON.stringify(r1)}`);
	});
});

// Another socket of user u on node "url".
async function userSocketOf(u, url) {
	return connect(u.user.access_token, { url });
}
