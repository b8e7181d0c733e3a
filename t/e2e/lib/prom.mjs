// t/e2e/lib/prom.mjs: reading the programs' /metrics endpoints
// (chat-fcgi's and chat-realtime's), for fcgi-metrics.test.mjs and
// rt-ops-metrics.test.mjs: a strict parser of the Prometheus text format
// 0.0.4 and scrapes of one or several instances.

import assert from 'node:assert/strict';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(${LABEL}(?:,${LABEL})*)?\\})? ` +
    '(-?[0-9]+(?:\\.[0-9]+)?(?:e[+-]?[0-9]+)?|\\+Inf|-Inf|NaN)$');
const SUFFIXES = ['_bucket', '_sum', '_count'];

// Strict text format 0.0.4: every sample after its TYPE, one TYPE per
// family, one sample per name and label set; throws on any bad line.
// Returns { types, samples: Map key -> value } with key = name{sorted
// labels}.
export function parse(text) {
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

// One instance's /metrics, parsed: a 200 in the text format.
export async function scrapeOne(url) {
	const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
	assert.equal(r.status, 200, url);
	assert.match(r.headers.get('content-type') || '',
	    /^text\/plain; ?version=0\.0\.4/);
	return parse(await r.text());
}

// Every instance's figures (urls), added up sample by sample.
export async function scrape(urls) {
	const all = await Promise.all(urls.map(scrapeOne));
	const sum = { types: all[0].types, samples: new Map() };
	for (const m of all)
		for (const [k, v] of m.samples)
			sum.samples.set(k, (sum.samples.get(k) ?? 0) + v);
	return sum;
}
