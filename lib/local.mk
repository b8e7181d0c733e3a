# lib/local.mk: libchat.a, the code both programs share.
noinst_LIBRARIES += lib/libchat.a
lib_libchat_a_SOURCES = \
	lib/conf.c lib/conf.h \
	lib/log.c lib/log.h \
	lib/jwt.c lib/jwt.h lib/jwt_libjwt.h \
	lib/valid.c lib/valid.h \
	lib/json_util.c lib/json_util.h \
	lib/crypto_util.c lib/crypto_util.h \
	lib/redis_util.c lib/redis_util.h \
	lib/rl.c lib/rl.h \
	lib/db.c lib/db.h
lib_libchat_a_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) \
	$(JWT_CFLAGS) $(HIREDIS_CFLAGS) $(CRYPTO_CFLAGS)
# Link line for programs using libchat.a.
CHAT_LIBS = lib/libchat.a $(PQ_LIBS) $(JANSSON_LIBS) $(JWT_LIBS) \
	$(HIREDIS_LIBS) $(CRYPTO_LIBS) $(LIBCRYPT_LIBS) $(M_LIBS)
