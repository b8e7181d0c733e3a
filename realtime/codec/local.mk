# realtime/codec/local.mk: the pure protocol codecs of chat-realtime (HTTP/1.1
# request head, WebSocket, Engine.IO, Socket.IO), the lowest layer.  No I/O:
# programs add $(RT_CODEC_SOURCES) to their _SOURCES, $(RT_CODEC_CFLAGS) to
# their _CFLAGS (or CPPFLAGS) and $(RT_CODEC_LIBS) to their LDADD (with
# lib/libchat.a, for lib/hex.c).
RT_CODEC_SOURCES = \
	realtime/codec/http.c realtime/codec/http.h \
	realtime/codec/ws.c realtime/codec/ws.h \
	realtime/codec/eio.c realtime/codec/eio.h \
	realtime/codec/sio.c realtime/codec/sio.h
RT_CODEC_CFLAGS = $(JANSSON_CFLAGS) $(CRYPTO_CFLAGS)
RT_CODEC_LIBS = lib/libchat.a $(JANSSON_LIBS) $(CRYPTO_LIBS)
