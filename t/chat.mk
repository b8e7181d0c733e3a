# t/chat.mk: unit tests of chat-realtime's own modules against the real
# services: t/pgq-test (realtime/chat/pgq.c; PostgreSQL from DB_HOST, DB_PORT,
# DB_USER, DB_PASS, DB_NAME), t/ps-test (realtime/chat/ps.c; Redis from
# REDIS_URL, or a cluster from REDIS_CLUSTER) and t/dbread-test
# (realtime/chat/dbread.c; the same PostgreSQL, and a standby of it on
# DB_READ_PORT if set); t/ps-cluster.sh runs t/ps-test on a throwaway cluster
# it starts on PS_CLUSTER_PORT (skipped if unset), moving a slot and
# killing a master (t/ps-cluster-ctl; t/redis-cluster-up is chat-fcgi's
# too).  The end-to-end tests are t/e2e/chat-*.test.mjs and
# db-standby.test.mjs.
check_PROGRAMS += t/pgq-test t/ps-test
TESTS += t/pgq-test t/ps-test t/ps-cluster.sh
EXTRA_DIST += t/ps-cluster.sh t/ps-cluster-ctl
t_pgq_test_SOURCES = t/pgq.c realtime/chat/pgq.c realtime/chat/pgq.h
t_pgq_test_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS)
t_pgq_test_LDADD = $(CHAT_LIBS) $(EV_LIBS)
t_ps_test_SOURCES = t/ps.c realtime/chat/ps.c realtime/chat/ps.h \
	realtime/chat/rcluster.c realtime/chat/rcluster.h \
	realtime/chat/rconn.c realtime/chat/rconn.h
t_ps_test_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS)
t_ps_test_LDADD = $(CHAT_LIBS) $(EV_LIBS)
EXTRA_DIST += t/e2e/lib/chat.mjs t/e2e/chat-auth.test.mjs \
	t/e2e/chat-messages.test.mjs t/e2e/chat-presence.test.mjs \
	t/e2e/chat-faults.test.mjs t/e2e/db-standby.test.mjs
check_PROGRAMS += t/dbread-test
TESTS += t/dbread-test
t_dbread_test_SOURCES = t/dbread.c realtime/chat/dbread.c \
	realtime/chat/dbread.h realtime/chat/pgq.c realtime/chat/pgq.h
t_dbread_test_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS)
t_dbread_test_LDADD = $(CHAT_LIBS) $(EV_LIBS)
