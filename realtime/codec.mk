# realtime/codec.mk: the pure protocol codecs of chat-realtime (HTTP/1.1
# request head, WebSocket, Engine.IO, Socket.IO).  No I/O: programs add
# $(RT_CODEC_SOURCES) to their _SOURCES, $(RT_CODEC_CFLAGS) to their
# _CFLAGS (or CPPFLAGS) and $(RT_CODEC_LIBS) to their LDADD.
RT_CODEC_SOURCES = \
	realtime/http.c realtime/http.h \
	realtime/ws.c realtime/ws.h \
	realtime/eio.c realtime/eio.h \
	realtime/sio.c realtime/sio.h
RT_CODEC_CFLAGS = $(JANSSON_CFLAGS) $(CRYPTO_CFLAGS)
RT_CODEC_LIBS = $(JANSSON_LIBS) $(CRYPTO_LIBS)
