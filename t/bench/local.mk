# t/bench/local.mk: benchmark programs (owned by the bench engineer).
# Not installed; t/bench/README.md says how to run them.  The scripts also
# build the standalone ones with plain gcc (command atop each .c file).
noinst_PROGRAMS += t/bench/sio-load t/bench/fcgi-minimal \
	t/bench/bcrypt-rate t/bench/sio-echo
t_bench_sio_load_SOURCES = t/bench/sio-load.c
t_bench_fcgi_minimal_SOURCES = t/bench/fcgi-minimal.c
t_bench_fcgi_minimal_LDADD = $(FCGI_LIBS)
t_bench_bcrypt_rate_SOURCES = t/bench/bcrypt-rate.c
t_bench_bcrypt_rate_CFLAGS = $(AM_CFLAGS) -pthread
t_bench_bcrypt_rate_LDADD = $(LIBCRYPT_LIBS) -lpthread
# sio-echo links the realtime server layer (realtime/local.mk, codec.mk).
t_bench_sio_echo_SOURCES = t/bench/sio-echo.c $(RT_SERVER_SOURCES) \
	$(RT_CODEC_SOURCES)
t_bench_sio_echo_CFLAGS = $(AM_CFLAGS) $(RT_CODEC_CFLAGS)
t_bench_sio_echo_LDADD = lib/libchat.a $(RT_SERVER_LIBS) $(RT_CODEC_LIBS)
dist_noinst_SCRIPTS += t/bench/rest t/bench/run-realtime t/bench/run-chat \
	t/bench/run-all
EXTRA_DIST += t/bench/README.md t/bench/common.sh t/bench/wrk.lua \
	t/bench/node-echo.mjs t/bench/node-relay.mjs t/bench/gen-tokens.mjs
