// t/e2e/fcgi-metrics.test.mjs: chat-fcgi's Prometheus endpoint (issue 5),
// read at env FCGI_METRICS_URL (deploy/up starts chat-fcgi with
// -m 127.0.0.1:$((PORT+5)); the URL is that plus /metrics). With several
// chat-fcgi instances behind nginx, list every one's URL, comma-separated:
// their counters are added up. Checks that the
// text format parses, that requests made through nginx move the counters
// and the latency histogram of their route and status, that a slow
// scraper does not hold up the next one, and that nginx keeps /metrics
// to itself.

import { describe, test, before } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import net from 'node:net';
import { BASE, req, clientIp, LIMIT_DEFAULT } from './lib/api.mjs';
import { scrape as scrapeAll } from './lib/prom.mjs';

const URLS = (process.env.FCGI_METRICS_URL || '').split(',')
    .map((u) => u.trim()).filter(Boolean);
const URL_ = URLS[0] || '';

const scrape = () => scrapeAll(URLS);

const get = (m, key) => m.samples.get(key) ?? 0;
const reqs = (route, status) =>
    `chat_fcgi_requests_total{route="${route}",status="${status}"}`;
const hist = (suffix, route, extra = '') =>
    `chat_fcgi_request_duration_seconds${suffix}{${extra}route="${route}"}`;

describe('chat-fcgi /metrics', { concurrency: 1 }, () => {
	before(() => {
		assert.ok(URL_, 'FCGI_METRICS_URL must be set (deploy/up: ' +
		    'http://127.0.0.1:$((PORT+5))/metrics)');
	});

	test('the text format parses and has every family', async () => {
		const m = await scrape();
		assert.equal(m.types.get('chat_fcgi_requests_total'), 'counter');
		assert.equal(m.types.get('chat_fcgi_request_duration_seconds'),
		    'histogram');
		for (const n of ['pg_errors_total', 'redis_errors_total',
		    'worker_restarts_total'])
			assert.equal(m.types.get(`chat_fcgi_${n}`), 'counter', n);
		assert.equal(m.types.get('chat_fcgi_requests_in_flight'), 'gauge');
		assert.ok(get(m, 'chat_fcgi_requests_in_flight{}') >= 0);
		assert.ok(get(m, 'chat_fcgi_workers{}') >= 1);
	});

	test('requests move their route, status and histogram', async () => {
		const a = await scrape();
		for (let i = 0; i < 2; i++)
			assert.equal((await req('GET', '/healthz')).status, 200);
		for (let i = 0; i < 3; i++)
			assert.equal((await req('GET', '/users/me')).status, 401);
		assert.equal((await req('GET', '/metrics-e2e-nope')).status, 404);
		// Over the default limit from one address: a 429.
		const ip = clientIp();
		let s429 = 0;
		for (let i = 0; i <= LIMIT_DEFAULT.n; i++)
			if ((await req('GET', '/users/me', { ip })).status === 429)
				s429++;
		assert.ok(s429 >= 1, 'the limit refused one');
		const b = await scrape();
		const d = (k) => get(b, k) - get(a, k);
		assert.ok(d(reqs('healthz', 200)) >= 2, 'healthz 200');
		assert.ok(d(reqs('me', 401)) >= 3 + LIMIT_DEFAULT.n, 'me 401');
		assert.ok(d(reqs('404', 404)) >= 1, '404');
		assert.ok(d(reqs('me', 429)) >= s429, 'me 429');
		// The histogram of "me": cumulative, +Inf = count, sum grew.
		const count = get(b, hist('_count', 'me'));
		assert.ok(count - get(a, hist('_count', 'me')) >= 4 +
		    LIMIT_DEFAULT.n, 'histogram count');
		assert.equal(get(b, hist('_bucket', 'me', 'le="+Inf",')), count);
		let prev = 0;
		for (const le of ['0.001', '0.0025', '0.005', '0.01', '0.025',
		    '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10']) {
			const v = get(b, hist('_bucket', 'me', `le="${le}",`));
			assert.ok(v >= prev, `bucket ${le} is cumulative`);
			prev = v;
		}
		assert.ok(prev <= count);
		assert.ok(get(b, hist('_sum', 'me')) > get(a, hist('_sum', 'me')),
		    'sum grew');
		// Counters never go down.
		for (const [k, v] of a.samples)
			if (k.startsWith('chat_fcgi_requests_total') ||
			    k.includes('_bucket') || k.includes('_total'))
				assert.ok(get(b, k) >= v, `${k} did not go down`);
	});

	test('a scraper that sends nothing does not hold up the next', async () => {
		const u = new URL(URL_);
		const sock = net.connect(Number(u.port), u.hostname);
		await new Promise((ok, ko) => {
			sock.once('connect', ok);
			sock.once('error', ko);
		});
		try {
			const t0 = Date.now();
			await scrape();
			assert.ok(Date.now() - t0 < 2000, 'answered at once');
		} finally {
			sock.destroy();
		}
	});

	test('other paths are 404 there', async () => {
		const r = await fetch(new URL('/nope', URL_),
		    { signal: AbortSignal.timeout(5000) });
		assert.equal(r.status, 404);
		await r.arrayBuffer();
	});

	test('nginx does not expose /metrics', async () => {
		const r = await fetch(`${BASE}/metrics`);
		assert.equal(r.status, 404);
		assert.doesNotMatch(await r.text(), /chat_fcgi_/);
	});
});
