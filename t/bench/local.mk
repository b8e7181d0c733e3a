# t/bench/local.mk: benchmark programs (owned by the bench engineer).
