# t/rt.mk: unit test (TAP) of the Socket.IO server API (realtime/server/local.mk),
# in-process against raw client sockets.  The end-to-end tests with the
# official clients are t/e2e/sio-*.test.mjs (node --test, they spawn
# realtime/sio-conformance from $BUILD_DIR).
check_PROGRAMS += t/rt-server-test
TESTS += t/rt-server-test
t_rt_server_test_SOURCES = t/rt-server.c $(RT_SERVER_SOURCES) \
	$(RT_CODEC_SOURCES)
t_rt_server_test_CFLAGS = $(AM_CFLAGS) $(RT_CODEC_CFLAGS)
t_rt_server_test_LDADD = lib/libchat.a $(RT_SERVER_LIBS) $(RT_CODEC_LIBS)
EXTRA_DIST += t/e2e/sio-lib.mjs t/e2e/sio-protocol.test.mjs \
	t/e2e/sio-client.test.mjs t/e2e/sio-hostile.test.mjs \
	t/e2e/sio-bench.mjs t/e2e/rt-ops-metrics.test.mjs \
	t/e2e/eio-upgrade.test.mjs
