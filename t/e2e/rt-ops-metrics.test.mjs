// t/e2e/rt-ops-metrics.test.mjs: chat-realtime's Prometheus endpoint
// (issue 5).  Reads env RT_METRICS_URLS: every node's
// http://127.0.0.1:PORT/metrics, comma-separated (deploy/up starts node n
// with --metrics 127.0.0.1:$((RT_PORT_BASE + 50 + n))); fails when unset.
// Counters of all nodes are added up, so it does not matter which node
// nginx picks.  Checks that the text format parses strictly, that chat
// events made through nginx with socket.io-client move the counters
// (connects accepted/refused, events by name and status, messages sent,
// the sendMessage ack latency histogram, sockets by transport,
// disconnects), that a scraper that sends nothing or too much does not
// hold up the next scrape, and that nginx keeps /metrics to itself.

import { test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import net from 'node:net';
import { io } from 'socket.io-client';
import { BASE, registerAndLogin } from './lib/api.mjs';
import { scrape as scrapeAll, scrapeOne } from './lib/prom.mjs';

const URLS = (process.env.RT_METRICS_URLS || '').split(',')
    .map((u) => u.trim()).filter(Boolean);

const scrape = () => scrapeAll(URLS);

const get = (m, key) => {
	if (!key.includes('{'))
		key += '{}';
	assert.ok(m.samples.has(key), `sample ${key}`);
	return m.samples.get(key);
};
const ev = (name, status) =>
    `chat_realtime_events_total{event="${name}",status="${status}"}`;
const LAT = 'chat_realtime_ack_latency_seconds';

const sockets = [];
after(() => {
	for (const s of sockets)
		s.close();
});

function connect(token, transports) {
	const s = io(BASE, { auth: { token }, transports, forceNew: true,
	    reconnection: false, timeout: 5000 });
	sockets.push(s);
	return new Promise((resolve, reject) => {
		s.once('connect', () => resolve(s));
		s.once('connect_error', (e) => reject(e));
	});
}

function refusedConnect(token) {
	const s = io(BASE, { auth: { token }, transports: ['websocket'],
	    forceNew: true, reconnection: false, timeout: 5000 });
	sockets.push(s);
	return new Promise((resolve, reject) => {
		s.once('connect', () => reject(new Error('connected')));
		s.once('connect_error', (e) => { s.close(); resolve(e); });
	});
}

const ask = (s, name, payload) =>
    s.timeout(5000).emitWithAck(name, payload);

// Waits until "pred(m)" holds on a fresh scrape (the counters move when
// the node answers, a little after the client saw it).
async function until(pred, what, ms = 3000) {
	const end = Date.now() + ms;
	let m;
	for (;;) {
		m = await scrape();
		if (pred(m))
			return m;
		assert.ok(Date.now() < end, `timeout waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

// Local (deploy/up) or on a private network (deploy/cluster's hosts),
// never a public address.
test('RT_METRICS_URLS is set (deploy/test exports it)', () => {
	assert.ok(URLS.length > 0, 'RT_METRICS_URLS unset');
	for (const u of URLS)
		assert.match(u, /^http:\/\/(127\.0\.0\.1|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+):\d+\/metrics$/);
});

test('the text parses and chat events move the counters', async () => {
	assert.ok(URLS.length > 0, 'RT_METRICS_URLS unset');
	const m0 = await scrape();
	for (const [name, type] of [
		['chat_realtime_sockets', 'gauge'],
		['chat_realtime_connects_total', 'counter'],
		['chat_realtime_events_total', 'counter'],
		['chat_realtime_messages_sent_total', 'counter'],
		[LAT, 'histogram'],
		['chat_realtime_redis_errors_total', 'counter'],
		['chat_realtime_redis_reconnects_total', 'counter'],
		['chat_realtime_pg_errors_total', 'counter'],
		['chat_realtime_pg_reconnects_total', 'counter'],
		['chat_realtime_outq_drops_total', 'counter'],
	])
		assert.equal(m0.types.get(name), type, name);

	const [a, b] = await Promise.all([registerAndLogin(),
	    registerAndLogin()]);
	const sa = await connect(a.access_token, ['websocket']);
	// Polling only: counted as such for as long as it stays.
	const sb = await connect(b.access_token, ['polling']);
	const e = await refusedConnect('not-a-token');
	assert.equal(e.message, 'Unauthorized');

	const N = 5;
	for (let i = 0; i < N; i++) {
		const r = await ask(sa, 'sendMessage',
		    { recipientId: b.id, content: `metrics ${i}` });
		assert.equal(r.content, `metrics ${i}`);
	}
	const bad = await ask(sa, 'sendMessage', { content: 'no recipient' });
	assert.equal(typeof bad.error, 'string');
	const convs = await ask(sb, 'getConversations');
	assert.ok(Array.isArray(convs));
	sa.emit('typing', { recipientId: b.id });	/* no ack asked */

	const d = (m, k) => get(m, k) - get(m0, k);
	const m1 = await until((m) => d(m, ev('typing', 'noack')) >= 1 &&
	    d(m, ev('sendMessage', 'ok')) >= N, 'the events counted');
	assert.ok(d(m1, 'chat_realtime_connects_total{result="accepted"}') >=
	    2, 'connects accepted');
	assert.ok(d(m1, 'chat_realtime_connects_total{result="refused"}') >=
	    1, 'connects refused');
	assert.ok(d(m1, ev('sendMessage', 'error')) >= 1, 'sendMessage error');
	assert.ok(d(m1, ev('getConversations', 'ok')) >= 1,
	    'getConversations ok');
	assert.ok(d(m1, 'chat_realtime_messages_sent_total') >= N,
	    'messages sent');
	assert.ok(get(m1, 'chat_realtime_sockets{transport="websocket"}') >= 1);
	assert.ok(get(m1, 'chat_realtime_sockets{transport="polling"}') >= 1);

	// The histogram: cumulative buckets, +Inf = count, sum moved.
	const les = [...m1.samples.keys()]
	    .filter((k) => k.startsWith(`${LAT}_bucket{`))
	    .map((k) => [k, Number(/le="([^"]+)"/.exec(k)[1]
		.replace('+Inf', 'Infinity'))])
	    .sort((x, y) => x[1] - y[1]);
	assert.ok(les.length >= 5 && les.at(-1)[1] === Infinity, 'buckets');
	for (let i = 1; i < les.length; i++)
		assert.ok(get(m1, les[i][0]) >= get(m1, les[i - 1][0]),
		    'cumulative buckets');
	assert.equal(get(m1, les.at(-1)[0]), get(m1, `${LAT}_count{}`));
	assert.ok(d(m1, `${LAT}_count{}`) >= N + 1, 'ack latency count');
	assert.ok(d(m1, `${LAT}_sum{}`) > 0, 'ack latency sum');

	sa.close();
	sb.close();
	await until((m) => d(m, 'chat_realtime_disconnects_total') >= 2,
	    'the disconnects counted');
});

test('a silent or oversized scraper does not hold up the next one',
    async () => {
	assert.ok(URLS.length > 0, 'RT_METRICS_URLS unset');
	const u = new URL(URLS[0]);
	const silent = net.connect(Number(u.port), u.hostname);
	await new Promise((r) => silent.once('connect', r));
	const huge = net.connect(Number(u.port), u.hostname);
	const hugeDone = new Promise((resolve) => {
		let got = '';
		huge.on('data', (x) => { got += x; });
		huge.on('error', () => resolve(got));
		huge.on('close', () => resolve(got));
	});
	huge.on('connect', () => huge.write(`GET /metrics HTTP/1.1\r\nX: ${
	    'a'.repeat(10000)}\r\n\r\n`));
	const t0 = Date.now();
	await scrapeOne(URLS[0]);
	assert.ok(Date.now() - t0 < 2000, 'scraped at once');
	const got = await hugeDone;
	assert.ok(got === '' || /^HTTP\/1\.1 431 /.test(got),
	    `oversized request refused: ${got.slice(0, 40)}`);
	// Another path is not served.
	const r = await fetch(URLS[0].replace(/\/metrics$/, '/other'));
	assert.equal(r.status, 404);
	silent.destroy();
	huge.destroy();
});

test('nginx does not expose /metrics', async () => {
	const r = await fetch(`${BASE}/metrics`);
	assert.equal(r.status, 404);
	assert.doesNotMatch(await r.text(), /chat_realtime_/);
});
