# fcgi/local.mk: chat-fcgi, the REST half (see Makefile.am).
bin_PROGRAMS += fcgi/chat-fcgi
fcgi_chat_fcgi_SOURCES = \
	fcgi/main.c \
	fcgi/listen.c fcgi/listen.h \
	fcgi/route.c fcgi/route.h \
	fcgi/handlers.h \
	fcgi/auth.c \
	fcgi/users.c \
	fcgi/avatar.c \
	fcgi/app.c fcgi/app.h \
	fcgi/http.c fcgi/http.h \
	fcgi/dto.c fcgi/dto.h \
	fcgi/json_util.c fcgi/json_util.h \
	fcgi/db.c fcgi/db.h \
	fcgi/redis.c fcgi/redis.h \
	fcgi/rl.c fcgi/rl.h \
	fcgi/pcache.c fcgi/pcache.h \
	fcgi/crypto_util.c fcgi/crypto_util.h \
	fcgi/multipart.c fcgi/multipart.h \
	fcgi/metrics.c fcgi/metrics.h
fcgi_chat_fcgi_CPPFLAGS = $(CHAT_CPPFLAGS)
fcgi_chat_fcgi_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) \
	$(HIREDIS_CFLAGS) $(FCGI_CFLAGS) $(LIBCRYPT_CFLAGS) $(CRYPTO_CFLAGS)
fcgi_chat_fcgi_LDADD = $(CHAT_LIBS) $(FCGI_LIBS)
