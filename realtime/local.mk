# realtime/local.mk: the programs of realtime/, each linking the layers it
# needs from the folders below (codec/ <- server/ <- chat/; a layer never
# names the one above it).
#  chat-realtime: main.c wires the chat layer to the Socket.IO server.
#  sio-conformance: a bare Socket.IO server for the official test suites.
bin_PROGRAMS += realtime/chat-realtime
realtime_chat_realtime_SOURCES = realtime/main.c \
	$(RT_CHAT_SOURCES) $(RT_SERVER_SOURCES) $(RT_CODEC_SOURCES)
realtime_chat_realtime_CFLAGS = $(AM_CFLAGS) $(RT_CHAT_CFLAGS) \
	$(RT_CODEC_CFLAGS)
realtime_chat_realtime_LDADD = $(CHAT_LIBS) $(RT_CODEC_LIBS) $(EV_LIBS)

noinst_PROGRAMS += realtime/sio-conformance
realtime_sio_conformance_SOURCES = realtime/sio_conformance.c \
	$(RT_SERVER_SOURCES) $(RT_CODEC_SOURCES)
realtime_sio_conformance_CFLAGS = $(AM_CFLAGS) $(RT_CODEC_CFLAGS)
realtime_sio_conformance_LDADD = lib/libchat.a $(RT_SERVER_LIBS) \
	$(RT_CODEC_LIBS)
