# t/local.mk: shared test helpers.
EXTRA_DIST += t/tap.h
# Fuzzer crash inputs replayed by t/fuzz/run (t/fuzz/regress/README.md).
EXTRA_DIST += t/fuzz/regress
