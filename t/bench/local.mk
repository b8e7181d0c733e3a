# t/bench/local.mk: benchmark programs (owned by the bench engineer).
# Not installed; t/bench/README.md says how to run them.  The scripts also
# build the standalone ones with plain gcc (command atop each .c file).
noinst_PROGRAMS += t/bench/sio-load t/bench/fcgi-minimal \
	t/bench/bcrypt-rate
t_bench_sio_load_SOURCES = t/bench/sio-load.c
t_bench_fcgi_minimal_SOURCES = t/bench/fcgi-minimal.c
t_bench_fcgi_minimal_LDADD = $(FCGI_LIBS)
t_bench_bcrypt_rate_SOURCES = t/bench/bcrypt-rate.c
t_bench_bcrypt_rate_CFLAGS = $(AM_CFLAGS) -pthread
t_bench_bcrypt_rate_LDADD = $(LIBCRYPT_LIBS) -lpthread
dist_noinst_SCRIPTS += t/bench/rest t/bench/run-realtime t/bench/run-chat \
	t/bench/run-all t/bench/nginx-idle t/bench/run-cluster
EXTRA_DIST += t/bench/README.md t/bench/common.sh t/bench/wrk.lua \
	t/bench/node-echo.mjs t/bench/node-relay.mjs t/bench/gen-tokens.mjs
