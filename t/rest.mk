# t/rest.mk: unit tests of the REST side's modules (lib/jwt, lib/valid,
# fcgi/rl, fcgi/pcache) and of chat-fcgi's process (t/fcgi-stop).
# t/rl-test and t/pcache-test need a real Redis: REDIS_URL in the
# environment.
check_PROGRAMS += t/jwt-test
TESTS += t/jwt-test
t_jwt_test_SOURCES = t/jwt.c
t_jwt_test_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
t_jwt_test_LDADD = $(CHAT_LIBS)

check_PROGRAMS += t/valid-test t/rl-test
TESTS += t/valid-test t/rl-test
t_valid_test_SOURCES = t/valid.c
t_valid_test_LDADD = $(CHAT_LIBS)
t_rl_test_SOURCES = t/rl.c fcgi/rl.c fcgi/rl.h fcgi/redis.c fcgi/redis.h
t_rl_test_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS) $(CRYPTO_CFLAGS)
t_rl_test_LDADD = $(CHAT_LIBS)

# The profile cache's races, played out in order (needs REDIS_URL too).
check_PROGRAMS += t/pcache-test
TESTS += t/pcache-test
t_pcache_test_SOURCES = t/pcache.c fcgi/pcache.c fcgi/pcache.h \
	fcgi/redis.c fcgi/redis.h
t_pcache_test_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS)
t_pcache_test_LDADD = $(CHAT_LIBS)

# chat-fcgi as a process, over TCP and a unix socket, with -m /metrics:
# SIGTERM with every worker busy and more requests queued than workers;
# the unix path must go at once and every request be answered (needs no
# database: see the file).
check_PROGRAMS += t/fcgi-stop-test
TESTS += t/fcgi-stop-test
t_fcgi_stop_test_SOURCES = t/fcgi-stop.c
# End-to-end test of /metrics (node --test; env FCGI_METRICS_URL).
EXTRA_DIST += t/e2e/fcgi-metrics.test.mjs
# The REST routes end to end, and the web client in a browser.
EXTRA_DIST += t/e2e/rest-auth.test.mjs t/e2e/rest-avatar.test.mjs \
	t/e2e/rest-expiry.test.mjs t/e2e/rest-misc.test.mjs \
	t/e2e/rest-ratelimit.test.mjs t/e2e/rest-users.test.mjs \
	t/e2e/browser.test.mjs
# GET /users/me from a standby (E2E_STANDBY=1: DB_READ_HOST is set).
EXTRA_DIST += t/e2e/rest-standby.test.mjs

# libFuzzer target of the JSON body reader (built by t/fuzz/run).
EXTRA_DIST += t/fuzz/json-body.c t/fuzz/corpus/json-body
# ... and of the access-token check (lib/jwt_util.c).
EXTRA_DIST += t/fuzz/jwt-verify.c t/fuzz/corpus/jwt-verify
# Both programs against a bad configuration (no JWT secret, a Redis that
# refuses the password): node --test, with a tiny FastCGI client.
EXTRA_DIST += t/e2e/ops-config.test.mjs t/e2e/lib/fcgi.mjs
# A throwaway Redis Cluster on 127.0.0.1 for the tests that need one
# (t/redis-cluster-up up BASEPORT DIR prints the seed list).
EXTRA_DIST += t/redis-cluster-up
# fcgi/redis.c's cluster client and the limiter on a real Redis Cluster
# (REDIS_CLUSTER seeds and REDIS_CLUSTER_PASSWORD in the environment:
# deploy/test starts one with t/redis-cluster-up).  Built always, run
# only when REDIS_CLUSTER_TEST=1 says a cluster is there (make time).
check_PROGRAMS += t/rl-cluster-test
# (A computed name, so automake leaves the choice to make.)
rl_cluster_tests_1 = t/rl-cluster-test
TESTS += $(rl_cluster_tests_$(REDIS_CLUSTER_TEST))
t_rl_cluster_test_SOURCES = t/rl-cluster.c fcgi/rl.c fcgi/rl.h \
	fcgi/redis.c fcgi/redis.h
t_rl_cluster_test_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS) $(CRYPTO_CFLAGS)
t_rl_cluster_test_LDADD = $(CHAT_LIBS)
