# fcgi/local.mk: chat-fcgi, the REST half (see Makefile.am).
bin_PROGRAMS += fcgi/chat-fcgi
fcgi_chat_fcgi_SOURCES = \
	fcgi/main.c \
	fcgi/route.c fcgi/route.h \
	fcgi/auth.c fcgi/auth.h \
	fcgi/users.c fcgi/users.h \
	fcgi/avatar.c fcgi/avatar.h \
	fcgi/app.c fcgi/app.h \
	fcgi/http.c fcgi/http.h \
	fcgi/dto.c fcgi/dto.h \
	fcgi/multipart.c fcgi/multipart.h \
	fcgi/metrics.c fcgi/metrics.h
fcgi_chat_fcgi_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) \
	$(HIREDIS_CFLAGS) $(FCGI_CFLAGS) $(LIBCRYPT_CFLAGS)
fcgi_chat_fcgi_LDADD = $(CHAT_LIBS) $(FCGI_LIBS)
