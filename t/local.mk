# t/local.mk: shared test helpers.
EXTRA_DIST += t/tap.h
