# fcgi/local.mk: chat-fcgi, the REST half (see Makefile.am).
bin_PROGRAMS += fcgi/chat-fcgi
fcgi_chat_fcgi_SOURCES = \
	fcgi/main.c \
	fcgi/app.h \
	fcgi/route.c \
	fcgi/http.c fcgi/http.h \
	fcgi/dto.c fcgi/dto.h \
	fcgi/auth.c \
	fcgi/users.c \
	fcgi/avatar.c \
	fcgi/multipart.c fcgi/multipart.h \
	fcgi/metrics.c fcgi/metrics.h
fcgi_chat_fcgi_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) \
	$(HIREDIS_CFLAGS) $(FCGI_CFLAGS) $(LIBCRYPT_CFLAGS)
fcgi_chat_fcgi_LDADD = $(CHAT_LIBS) $(FCGI_LIBS)
