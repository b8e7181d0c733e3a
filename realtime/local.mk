# realtime/local.mk: the Socket.IO / Engine.IO server layer (event loop
# glue, transports, sessions) and realtime/sio-conformance.
# RT_SERVER_SOURCES is linked into chat-realtime by realtime/chat.mk,
# together with RT_CODEC_SOURCES (realtime/codec.mk); link with
# RT_SERVER_LIBS.
RT_SERVER_SOURCES = \
	realtime/conn.c realtime/conn.h \
	realtime/tr_poll.c realtime/tr_ws.c \
	realtime/eio_server.c realtime/eio_server.h \
	realtime/sio_server.c realtime/sio_server.h \
	realtime/metrics.c realtime/metrics.h
RT_SERVER_LIBS = $(EV_LIBS) $(JANSSON_LIBS)

noinst_PROGRAMS += realtime/sio-conformance
realtime_sio_conformance_SOURCES = realtime/sio_conformance.c \
	$(RT_SERVER_SOURCES) $(RT_CODEC_SOURCES)
realtime_sio_conformance_CFLAGS = $(AM_CFLAGS) $(RT_CODEC_CFLAGS)
realtime_sio_conformance_LDADD = lib/libchat.a $(RT_SERVER_LIBS) \
	$(RT_CODEC_LIBS)
