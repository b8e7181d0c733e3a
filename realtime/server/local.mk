# realtime/server/local.mk: the Socket.IO / Engine.IO server layer over the
# codecs (realtime/codec/local.mk): connections and the two transports,
# Engine.IO sessions, the Socket.IO server, and the node's /metrics and
# /healthz endpoint.  Programs add $(RT_SERVER_SOURCES) and
# $(RT_CODEC_SOURCES) to their _SOURCES and link with RT_SERVER_LIBS.
RT_SERVER_SOURCES = \
	realtime/server/conn.c realtime/server/conn.h \
	realtime/server/linger.c realtime/server/linger.h \
	realtime/server/tr.h realtime/server/tr_poll.c realtime/server/tr_ws.c \
	realtime/server/eio_server.c realtime/server/eio_server.h \
	realtime/server/eio_send.c realtime/server/eio_http.c \
	realtime/server/eio_private.h \
	realtime/server/sio_server.c realtime/server/sio_server.h \
	realtime/server/sio_socket.c realtime/server/sio_input.c \
	realtime/server/sio_private.h \
	realtime/server/metrics.c realtime/server/metrics.h
RT_SERVER_LIBS = $(EV_LIBS) $(JANSSON_LIBS)
