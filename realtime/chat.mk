# realtime/chat.mk: chat-realtime, the chat layer (chat.c: events; pgq.c:
# async PostgreSQL; ps.c: Redis presence and fan-out) linked with the
# Socket.IO server layer (realtime/local.mk) and the codecs
# (realtime/codec.mk).
bin_PROGRAMS += realtime/chat-realtime
realtime_chat_realtime_SOURCES = \
	realtime/main.c \
	realtime/chat.c realtime/chat.h \
	realtime/pgq.c realtime/pgq.h \
	realtime/ps.c realtime/ps.h \
	$(RT_SERVER_SOURCES) $(RT_CODEC_SOURCES)
realtime_chat_realtime_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) \
	$(HIREDIS_CFLAGS) $(RT_CODEC_CFLAGS)
realtime_chat_realtime_LDADD = $(CHAT_LIBS) $(RT_CODEC_LIBS) $(EV_LIBS)
