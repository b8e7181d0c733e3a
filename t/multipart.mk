# t/multipart.mk: the multipart/form-data parser's unit test and fuzz
# target (see Makefile.am).  fcgi/local.mk links fcgi/multipart.c into
# chat-fcgi.
check_PROGRAMS += t/multipart-test
TESTS += t/multipart-test
t_multipart_test_SOURCES = t/multipart.c fcgi/multipart.c fcgi/multipart.h
EXTRA_DIST += t/fuzz/multipart.c t/fuzz/corpus/multipart
