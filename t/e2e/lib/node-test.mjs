// t/e2e/lib/node-test.mjs: node:test with timeouts, for every e2e test
// file to import instead of 'node:test' (same names, same signatures).
//
// Node 18 (Debian 12's) has no --test-timeout and no --test-force-exit, so
// on it a hung test or a client left open would keep a file, and the
// whole run, waiting forever.  Here:
//   - every test, suite and hook that sets no timeout of its own gets
//     DEFAULT_TIMEOUT ms: $E2E_TEST_TIMEOUT (t/e2e/run --test-timeout MS
//     sets it), else 180000.  A suite's timeout bounds all of it.
//   - once a file's tests and after hooks are done, a process that is
//     still alive EXIT_GRACE ms later (something left open) prints what
//     keeps it and exits with the code node:test chose.  Newer nodes do
//     the same at once with --test-force-exit.
// The cost: node takes a test's "location:" (in a failure's TAP YAML)
// from the caller of test(), which is now this file; the test's name and
// an error's stack still lead to the test.

import * as nt from 'node:test';

export * from 'node:test';

export const DEFAULT_TIMEOUT =
    Number(process.env.E2E_TEST_TIMEOUT) > 0 ?
    Number(process.env.E2E_TEST_TIMEOUT) : 180000;
export const EXIT_GRACE = 10000;

const withTimeout = (options) => (options && options.timeout != null ?
    options : { ...options, timeout: DEFAULT_TIMEOUT });

// test([name][, options][, fn]) as node:test parses it.
function wrapTest(real) {
	if (typeof real !== 'function')
		return real;
	return function (name, options, fn) {
		if (typeof name === 'function') {
			fn = name; options = undefined; name = undefined;
		} else if (name !== null && typeof name === 'object') {
			fn = options; options = name; name = undefined;
		} else if (typeof options === 'function') {
			fn = options; options = undefined;
		}
		if (options === null || typeof options !== 'object')
			options = undefined;
		return real(name, withTimeout(options), fn);
	};
}

function wrapAll(real) {
	const w = wrapTest(real);
	for (const k of ['skip', 'todo', 'only'])
		if (typeof real[k] === 'function')
			w[k] = wrapTest(real[k]);
	return w;
}

export const test = wrapAll(nt.test);
export const describe = wrapAll(nt.describe);
export const it = wrapAll(nt.it);

// Hooks: the default timeout, and a count of the ones running, so the
// exit safety net never cuts one short.
let hooksRunning = 0;

function track(fn) {
	if (typeof fn !== 'function')
		return fn;
	if (fn.length >= 2)	/* (t, done) callback style */
		return function (t, done) {
			hooksRunning++;
			let settled = false;
			const end = (...a) => {
				if (!settled) { settled = true; hooksRunning--; }
				return done(...a);
			};
			try {
				return fn.call(this, t, end);
			} catch (e) {
				if (!settled) { settled = true; hooksRunning--; }
				throw e;
			}
		};
	return async function (...a) {
		hooksRunning++;
		try {
			return await fn.apply(this, a);
		} finally {
			hooksRunning--;
		}
	};
}

const wrapHook = (real) => (fn, options) => real(track(fn), withTimeout(options));

export const before = wrapHook(nt.before);
export const after = wrapHook(nt.after);
export const beforeEach = wrapHook(nt.beforeEach);
export const afterEach = wrapHook(nt.afterEach);

// The safety net.  This module is imported before the file registers
// anything, so this root after hook runs first, when every test is done;
// the file's own after hooks run next and are waited for (up to their
// timeout).  The timer is unref'd: a process with nothing left open exits
// normally without waiting for it.
function net(start) {
	if (hooksRunning > 0 && Date.now() - start < DEFAULT_TIMEOUT) {
		setTimeout(net, EXIT_GRACE, start).unref();
		return;
	}
	const open = typeof process.getActiveResourcesInfo === 'function' ?
	    process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap')
		.join(', ') : '?';
	process.stderr.write(`# ${process.argv[1] || 'e2e'}: tests done, ` +
	    `still running ${Math.round((Date.now() - start) / 1000)} s later ` +
	    `(open: ${open}); exiting\n`);
	process.exit();
}

nt.after(() => {
	setTimeout(net, EXIT_GRACE, Date.now()).unref();
});
