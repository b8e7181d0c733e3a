# t/lib.mk: unit tests (TAP) of lib/'s modules that both programs use.
check_PROGRAMS += t/cors-test
TESTS += t/cors-test
t_cors_test_SOURCES = t/cors.c
t_cors_test_LDADD = lib/libchat.a

check_PROGRAMS += t/prom-test
TESTS += t/prom-test
t_prom_test_SOURCES = t/prom.c
t_prom_test_LDADD = lib/libchat.a

check_PROGRAMS += t/ts-test t/hex-test t/conf-test t/log-test
TESTS += t/ts-test t/hex-test t/conf-test t/log-test
t_log_test_SOURCES = t/log.c
t_log_test_LDADD = lib/libchat.a
t_ts_test_SOURCES = t/ts.c
t_ts_test_LDADD = lib/libchat.a
t_hex_test_SOURCES = t/hex.c
t_hex_test_LDADD = lib/libchat.a
t_conf_test_SOURCES = t/conf.c
t_conf_test_LDADD = lib/libchat.a

check_PROGRAMS += t/redis-cluster-test
TESTS += t/redis-cluster-test
t_redis_cluster_test_SOURCES = t/redis-cluster.c
t_redis_cluster_test_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS)
t_redis_cluster_test_LDADD = lib/libchat.a $(HIREDIS_LIBS)
