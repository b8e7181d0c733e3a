# realtime/chat/local.mk: the chat layer of chat-realtime, on top of the
# Socket.IO server (realtime/server/local.mk): chat events, async
# PostgreSQL (pgq; dbread: reads from a hot standby), Redis presence
# and fan-out (ps).  One file per concern; state.h holds what they
# share.  chat-realtime (realtime/local.mk) adds $(RT_CHAT_SOURCES) to
# its _SOURCES and $(RT_CHAT_CFLAGS) to its _CFLAGS.
RT_CHAT_SOURCES = \
	realtime/chat/chat.c realtime/chat/chat.h realtime/chat/state.h \
	realtime/chat/events.c realtime/chat/session.c realtime/chat/op.c \
	realtime/chat/users.c realtime/chat/presence.c \
	realtime/chat/typing.c realtime/chat/send.c realtime/chat/convs.c \
	realtime/chat/history.c realtime/chat/json.c realtime/chat/sql.c \
	realtime/chat/pgq.c realtime/chat/pgq.h \
	realtime/chat/dbread.c realtime/chat/dbread.h \
	realtime/chat/ps.c realtime/chat/ps.h \
	realtime/chat/rcluster.c realtime/chat/rcluster.h \
	realtime/chat/rconn.c realtime/chat/rconn.h
RT_CHAT_CFLAGS = $(PQ_CFLAGS) $(JANSSON_CFLAGS) $(HIREDIS_CFLAGS)
