# t/rt-codec.mk: unit tests (TAP) of the realtime protocol codecs
# (realtime/codec/local.mk).  Fuzz targets t/fuzz/{http,ws,eio,sio}.c are built
# by t/fuzz/run.
RT_CODEC_TESTS = t/http-test t/ws-test t/eio-test t/sio-test
check_PROGRAMS += $(RT_CODEC_TESTS)
TESTS += $(RT_CODEC_TESTS)

t_http_test_SOURCES = t/http.c $(RT_CODEC_SOURCES)
t_http_test_CFLAGS = $(AM_CFLAGS) $(RT_CODEC_CFLAGS)
t_http_test_LDADD = $(RT_CODEC_LIBS)

t_ws_test_SOURCES = t/ws.c $(RT_CODEC_SOURCES)
t_ws_test_CFLAGS = $(AM_CFLAGS) $(RT_CODEC_CFLAGS)
t_ws_test_LDADD = $(RT_CODEC_LIBS)

t_eio_test_SOURCES = t/eio.c $(RT_CODEC_SOURCES)
t_eio_test_CFLAGS = $(AM_CFLAGS) $(RT_CODEC_CFLAGS)
t_eio_test_LDADD = $(RT_CODEC_LIBS)

t_sio_test_SOURCES = t/sio.c $(RT_CODEC_SOURCES)
t_sio_test_CFLAGS = $(AM_CFLAGS) $(RT_CODEC_CFLAGS)
t_sio_test_LDADD = $(RT_CODEC_LIBS)

EXTRA_DIST += t/fuzz/http.c t/fuzz/ws.c t/fuzz/eio.c t/fuzz/sio.c
EXTRA_DIST += t/fuzz/corpus/http t/fuzz/corpus/ws t/fuzz/corpus/eio \
	t/fuzz/corpus/sio
