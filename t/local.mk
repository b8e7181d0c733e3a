# t/local.mk: shared test helpers.
EXTRA_DIST += t/tap.h
# Fuzzer crash inputs replayed by t/fuzz/run (t/fuzz/regress/README.md).
EXTRA_DIST += t/fuzz/regress
# The e2e runner (node --test with the flags the running node has) and
# the node:test wrapper every e2e file imports (per-test timeouts).
EXTRA_DIST += t/e2e/run t/e2e/lib/node-test.mjs t/e2e/package.json \
	t/e2e/package-lock.json
