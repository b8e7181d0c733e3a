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

const URLS = (process.env.FCGI_METRICS_URL || '').split(',')
    .map((u) => u.trim()).filter(Boolean);
const URL_ = URLS[0] || '';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(${LABEL}(?:,${LABEL})*)?\\})? ` +
    '(-?[0-9]+(?:\\.[0-9]+)?(?:e[+-]?[0-9]+)?|\\+Inf|-Inf|NaN)$');
const SUFFIXES = ['_bucket', '_sum', '_count'];

// Parse the text format strictly; returns { types, samples: Map key ->
// value } with key = name{sorted labels}. Throws on any bad line.
function parse(text) {
	const types = new Map();
	const samples = new Map();
	assert.ok(text.endsWith('\n'), 'ends with a newline');
	for (const line of text.slice(0, -1).split('\n')) {
		let m;
		if ((m = /^# HELP (\S+) .+$/.exec(line))) {
			assert.match(m[1], new RegExp(`^${NAME}$`), line);
			continue;
		}
		if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) {
			assert.ok(['counter', 'gauge', 'histogram', 'summary',
			    'untyped'].includes(m[2]), line);
			assert.ok(!types.has(m[1]), `one TYPE for ${m[1]}`);
			types.set(m[1], m[2]);
			continue;
		}
		m = SAMPLE.exec(line);
		assert.ok(m, `a sample line: ${JSON.stringify(line)}`);
		const [, name, labels = '', value] = m;
		let family = name;
		for (const s of SUFFIXES)
			if (name.endsWith(s) &&
			    types.get(name.slice(0, -s.length)) === 'histogram')
				family = name.slice(0, -s.length);
		assert.ok(types.has(family), `TYPE before ${name}`);
		const key = `${name}{${labels.split(/,(?=[a-zA-Z_])/)
		    .filter(Boolean).sort().join(',')}}`;
		assert.ok(!samples.has(key), `one sample ${key}`);
		samples.set(key, Number(value.replace('Inf', 'Infinity')));
	}
	return { types, samples };
}

async function scrapeOne(url) {
	const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
	assert.equal(r.status, 200);
	assert.match(r.headers.get('content-type') || '',
	    /^text\/plain; ?version=0\.0\.4/);
	return parse(await r.text());
}

// Every instance's figures, added up.
async function scrape() {
	const all = await Promise.all(URLS.map(scrapeOne));
	const sum = { types: all[0].types, samples: new Map() };
	for (const m of all)
		for (const [k, v] of m.samples)
			sum.samples.set(k, (sum.samples.get(k) ?? 0) + v);
	return sum;
}

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
