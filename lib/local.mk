# lib/local.mk: libchat.a, the code both programs share.
noinst_LIBRARIES += lib/libchat.a
lib_libchat_a_SOURCES = \
	lib/conf.c lib/conf.h \
	lib/cors.c lib/cors.h \
	lib/hex.c lib/hex.h \
	lib/jwt_util.c lib/jwt_util.h \
	lib/log.c lib/log.h \
	lib/prom.c lib/prom.h \
	lib/redis_cluster.c lib/redis_cluster.h \
	lib/redis_util.c lib/redis_util.h \
	lib/ts.c lib/ts.h \
	lib/valid.c lib/valid.h
lib_libchat_a_CPPFLAGS = $(CHAT_CPPFLAGS)
lib_libchat_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(JWT_CFLAGS) \
	$(CRYPTO_CFLAGS) $(HIREDIS_CFLAGS)
# Link line for programs using libchat.a (with the libraries of what
# chat-realtime links besides: libpq, hiredis).
CHAT_LIBS = lib/libchat.a $(PQ_LIBS) $(JANSSON_LIBS) $(JWT_LIBS) \
	$(HIREDIS_LIBS) $(CRYPTO_LIBS) $(LIBCRYPT_LIBS) $(M_LIBS)
