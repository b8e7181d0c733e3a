// t/e2e/lib/ops.mjs: helpers for the operations tests: run a deploy
// script with timestamped output, read what a log file gained since a
// mark, and small timing helpers.  Env: CHAT_ROOT (repo root), CHAT_VAR.

import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

export const ROOT = process.env.CHAT_ROOT || '';
export const VAR = process.env.CHAT_VAR || '';
export const LOG = VAR ? path.join(VAR, 'log') : '';

// Wall-clock time with milliseconds, as the logs print it (UTC).
export function stamp(t = Date.now()) {
	return new Date(t).toISOString();
}

// Run cmd args with process.env; every output line is kept with the time
// it arrived.  Returns {lines, done}: done resolves with {code, signal,
// t0, t1} (it never rejects; a spawn error is code -1), or after ms with
// the child killed and code 'timeout'.
export function runLogged(cmd, args = [], ms = 90000) {
	const lines = [];
	const t0 = Date.now();
	const child = spawn(cmd, args, { env: process.env,
	    stdio: ['ignore', 'pipe', 'pipe'] });
	for (const st of [child.stdout, child.stderr]) {
		let rest = '';
		st.setEncoding('utf8');
		st.on('data', (d) => {
			const parts = (rest + d).split('\n');
			rest = parts.pop();
			for (const l of parts)
				lines.push({ t: Date.now(), line: l });
		});
		st.on('end', () => {
			if (rest)
				lines.push({ t: Date.now(), line: rest });
		});
	}
	const done = new Promise((resolve) => {
		const timer = setTimeout(() => {
			child.kill('SIGTERM');
			resolve({ code: 'timeout', t0, t1: Date.now() });
		}, ms);
		child.on('error', (e) => {
			clearTimeout(timer);
			lines.push({ t: Date.now(), line: `spawn: ${e.message}` });
			resolve({ code: -1, t0, t1: Date.now() });
		});
		child.on('exit', (code, signal) => {
			clearTimeout(timer);
			resolve({ code, signal, t0, t1: Date.now() });
		});
	});
	return { lines, done };
}

// The size of every log file in LOG now, to read what they gain later.
export function logMark() {
	const m = new Map();
	if (!LOG || !fs.existsSync(LOG))
		return m;
	for (const f of fs.readdirSync(LOG))
		try {
			m.set(f, fs.statSync(path.join(LOG, f)).size);
		} catch {
			/* gone meanwhile */
		}
	return m;
}

// The lines log file name gained since mark (at most max bytes of them,
// the last ones), matching re if given.
export function logSince(mark, name, re, max = 1 << 20) {
	const file = path.join(LOG, name);
	let fd;
	try {
		fd = fs.openSync(file, 'r');
	} catch {
		return [];
	}
	try {
		const size = fs.fstatSync(fd).size;
		let from = mark.get(name) ?? 0;
		if (from > size)
			from = 0;	/* rotated or truncated */
		if (size - from > max)
			from = size - max;
		const buf = Buffer.alloc(size - from);
		fs.readSync(fd, buf, 0, buf.length, from);
		const lines = buf.toString('utf8').split('\n').filter(Boolean);
		return re ? lines.filter((l) => re.test(l)) : lines;
	} finally {
		fs.closeSync(fd);
	}
}

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// Poll fn (sync or async) every 100-200 ms until it returns something
// truthy, and return that; fail the test after ms with what it last
// returned or threw.
export async function until(what, fn, ms = 20000, every = 200) {
	const t0 = Date.now();
	let last;
	while (Date.now() - t0 < ms) {
		try {
			if ((last = await fn()))
				return last;
		} catch (e) {
			last = e;
		}
		await sleep(every);
	}
	throw new Error(`${what}: not within ${ms} ms (${last})`);
}
