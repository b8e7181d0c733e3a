# t/local.mk: shared test helpers.
EXTRA_DIST += t/tap.h
# ... and end-to-end ones: reading /metrics (fcgi-metrics and
# rt-ops-metrics), making PNG files (lib/api.mjs and browser).
EXTRA_DIST += t/e2e/lib/prom.mjs t/e2e/lib/png.mjs
# Fuzzer crash inputs replayed by t/fuzz/run (t/fuzz/regress/README.md).
EXTRA_DIST += t/fuzz/regress
