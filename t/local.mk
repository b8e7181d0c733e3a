# t/local.mk: shared test helpers.
EXTRA_DIST += t/tap.h
# ... and end-to-end ones (node --test; npm ci from the lockfile):
# HTTP helpers, waits, reading /metrics, making PNG files.
EXTRA_DIST += t/e2e/package.json t/e2e/package-lock.json \
	t/e2e/lib/api.mjs t/e2e/lib/ops.mjs t/e2e/lib/prom.mjs \
	t/e2e/lib/png.mjs
# Fuzzer crash inputs replayed by t/fuzz/run (t/fuzz/regress/README.md).
EXTRA_DIST += t/fuzz/regress
# The e2e runner (node --test with the flags the running node has) and
# the node:test wrapper every e2e file imports (per-test timeouts).
EXTRA_DIST += t/e2e/run t/e2e/lib/node-test.mjs
# The fuzz target of the Socket.IO server layer (t/rt-server-test's
# code) and its seeds, which t/fuzz/run builds from the tarball too.
EXTRA_DIST += t/fuzz/rt-server.c t/fuzz/corpus/rt-server
