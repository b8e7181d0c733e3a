/*
 * t/redis-cluster.c: lib/redis_cluster.h: key slots against values a
 * real Redis 7 gave for CLUSTER KEYSLOT (hash tags included) and the
 * CRC16 check value, seed lists good and bad, slot maps read from
 * CLUSTER SLOTS replies (built from RESP text by hiredis's own reader,
 * as they arrive off the wire) before and after a slot moves, hostile
 * replies refused whole, and MOVED/ASK redirections.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "tap.h"
#include "lib/redis_cluster.h"

/* A reply parsed from RESP text, or NULL. */
static redisReply *
resp(const char *text)
{
	redisReader	*rd;
	void		*r = NULL;

	if ((rd = redisReaderCreate()) == NULL)
		return NULL;
	if (redisReaderFeed(rd, text, strlen(text)) != REDIS_OK ||
	    redisReaderGetReply(rd, &r) != REDIS_OK)
		r = NULL;
	redisReaderFree(rd);
	return r;
}

#define NODE(n, h, p)	"*3\r\n$" #n "\r\n" h "\r\n:" #p "\r\n$2\r\nid\r\n"
#define RANGE(lo, hi, node) "*3\r\n:" #lo "\r\n:" #hi "\r\n" node

static int
slot(const char *k)
{
	return (int)redis_key_slot(k, strlen(k));
}

static void
test_slots(void)
{
	tap_int(slot("123456789"), 0x31c3 & 16383, "CRC16-XMODEM check value");
	tap_int(slot("foo"), 12182, "foo");
	tap_int(slot("bar"), 5061, "bar");
	tap_int(slot("{user1000}.following"), 3443, "hash tag");
	tap_int(slot("foo{}{bar}"), 8363, "empty tag: whole key");
	tap_int(slot("foo{{bar}}zap"), 4015, "tag up to the first }");
	tap_int(slot("foo{bar}{zap}"), 5061, "first tag only");
	tap_int(slot("{"), 4092, "lone {");
	tap_int(slot("}"), 12090, "lone }");
	tap_int(slot("{}"), 15257, "{}");
	tap_int(slot("rt:{u:42}"), slot("u:42"), "tag slot = slot of tag");
	tap_int(slot(""), 0, "empty key");
	tap_int((int)redis_key_slot("a{b}\0c", 6), slot("b"),
	    "bytes after NUL count as key bytes");
}

static void
test_seeds(void)
{
	struct redis_addr	 s[3];
	const char		*why = NULL;

	tap_int(redis_seeds_parse("10.0.0.1:7000, host-b:7001 ,[::1]:7002",
	    s, 3, &why), 3, "three seeds");
	tap_ok(strcmp(s[0].host, "10.0.0.1") == 0 && s[0].port == 7000 &&
	    strcmp(s[1].host, "host-b") == 0 && s[1].port == 7001 &&
	    strcmp(s[2].host, "::1") == 0 && s[2].port == 7002,
	    "hosts and ports, v6 without brackets");
	tap_int(redis_seeds_parse("a:1,b:2,c:3,d:4", s, 3, &why), -1,
	    "more than max refused");
	tap_int(redis_seeds_parse("", s, 3, &why), -1, "empty");
	tap_int(redis_seeds_parse("host", s, 3, &why), -1, "no port");
	tap_int(redis_seeds_parse("host:0", s, 3, &why), -1, "port 0");
	tap_int(redis_seeds_parse("host:65536", s, 3, &why), -1, "port big");
	tap_int(redis_seeds_parse("host:12x", s, 3, &why), -1, "port junk");
	tap_int(redis_seeds_parse("a:1,", s, 3, &why), -1, "trailing comma");
	tap_int(redis_seeds_parse(":7000", s, 3, &why), -1, "no host");
	tap_int(redis_seeds_parse("::1:7000", s, 3, &why), -1,
	    "bare v6 refused");
	tap_int(redis_seeds_parse("[::1]7000", s, 3, &why), -1,
	    "v6 without colon");
	tap_ok(why != NULL, "why is set");
}

static void
test_map(void)
{
	static struct redis_slotmap	 m, m2;
	struct redis_addr		 a = { "h", 1 };
	redisReply			*r;
	const char			*why = NULL;
	int				 i0, i1, i2;

	r = resp("*3\r\n"
	    RANGE(0, 5460, NODE(8, "10.0.0.1", 7000))
	    RANGE(5461, 10922, NODE(8, "10.0.0.2", 7000))
	    RANGE(10923, 16383, NODE(0, "", 7002)));
	tap_int(redis_slotmap_parse(&m, r, "10.0.0.3", &why), 0,
	    "three ranges parse");
	freeReplyObject(r);
	tap_int((int)m.nmasters, 3, "three masters");
	i0 = redis_slotmap_find(&m, "10.0.0.1", 7000);
	i1 = redis_slotmap_find(&m, "10.0.0.2", 7000);
	i2 = redis_slotmap_find(&m, "10.0.0.3", 7002);
	tap_ok(i0 >= 0 && i1 >= 0 && i2 >= 0, "empty host is the answerer");
	tap_ok(m.node[0] == i0 && m.node[5460] == i0 && m.node[5461] == i1 &&
	    m.node[16383] == i2, "range edges");
	tap_int(m.node[redis_key_slot("foo", 3)], i2, "foo at the third");
	tap_ok(redis_slotmap_complete(&m), "complete");
	tap_int(redis_slotmap_find(&m, "10.0.0.1", 7001), -1, "find: port");

	/* The slot of "foo" moved to the first master; a range is lost. */
	r = resp("*4\r\n"
	    RANGE(0, 5460, NODE(8, "10.0.0.1", 7000))
	    RANGE(12182, 12182, NODE(8, "10.0.0.1", 7000))
	    RANGE(10923, 12181, NODE(8, "10.0.0.3", 7002))
	    RANGE(12183, 16383, NODE(8, "10.0.0.3", 7002)));
	tap_int(redis_slotmap_parse(&m2, r, NULL, &why), 0, "map after a move");
	freeReplyObject(r);
	tap_int(m2.node[12182], redis_slotmap_find(&m2, "10.0.0.1", 7000),
	    "moved slot follows");
	tap_int(m2.node[6000], REDIS_NO_NODE, "unserved slot");
	tap_ok(!redis_slotmap_complete(&m2), "incomplete");

	r = resp("*1\r\n" RANGE(0, 16384, NODE(1, "x", 1)));
	tap_int(redis_slotmap_parse(&m2, r, NULL, &why), -1, "slot 16384");
	freeReplyObject(r);
	tap_int(m2.node[0], REDIS_NO_NODE, "refused map is empty");
	r = resp("*1\r\n" RANGE(9, 8, NODE(1, "x", 1)));
	tap_int(redis_slotmap_parse(&m2, r, NULL, &why), -1, "hi < lo");
	freeReplyObject(r);
	r = resp("*1\r\n" RANGE(0, 8, NODE(1, "x", 0)));
	tap_int(redis_slotmap_parse(&m2, r, NULL, &why), -1, "port 0");
	freeReplyObject(r);
	r = resp("*1\r\n*3\r\n:0\r\n:8\r\n*2\r\n:1\r\n:1\r\n");
	tap_int(redis_slotmap_parse(&m2, r, NULL, &why), -1, "host not text");
	freeReplyObject(r);
	r = resp("*1\r\n" RANGE(0, 8, NODE(0, "", 1)));
	tap_int(redis_slotmap_parse(&m2, r, NULL, &why), -1,
	    "empty host with no answerer");
	freeReplyObject(r);
	r = resp("-ERR This instance has cluster support disabled\r\n");
	tap_int(redis_slotmap_parse(&m2, r, NULL, &why), -1, "error reply");
	freeReplyObject(r);
	tap_int(redis_slotmap_parse(&m2, NULL, NULL, &why), -1, "no reply");
	r = resp("*0\r\n");
	tap_int(redis_slotmap_parse(&m2, r, NULL, &why), 0, "no slots yet");
	freeReplyObject(r);
	tap_ok(!redis_slotmap_complete(&m2) && m2.nmasters == 0, "empty map");

	redis_slotmap_single(&m2, &a);
	tap_ok(redis_slotmap_complete(&m2) && m2.nmasters == 1 &&
	    m2.node[16383] == 0, "single node serves all");
}

static void
test_redirect(void)
{
	struct redis_addr	 to;
	unsigned int		 s = 0;
	const char		*e;

	e = "MOVED 3999 127.0.0.1:6381";
	tap_int(redis_redirect_parse(e, strlen(e), NULL, &s, &to),
	    REDIS_REDIRECT_MOVED, "MOVED");
	tap_ok(s == 3999 && strcmp(to.host, "127.0.0.1") == 0 &&
	    to.port == 6381, "MOVED slot and node");
	e = "ASK 12182 10.1.2.3:7002";
	tap_int(redis_redirect_parse(e, strlen(e), NULL, &s, &to),
	    REDIS_REDIRECT_ASK, "ASK");
	tap_ok(s == 12182 && to.port == 7002, "ASK slot and node");
	e = "MOVED 1 :7005";
	tap_int(redis_redirect_parse(e, strlen(e), "10.9.9.9", &s, &to),
	    REDIS_REDIRECT_MOVED, "MOVED to the answerer's host");
	tap_ok(strcmp(to.host, "10.9.9.9") == 0 && to.port == 7005,
	    "answerer's host");
	e = "MOVED 16384 h:1";
	tap_int(redis_redirect_parse(e, strlen(e), NULL, &s, &to),
	    REDIS_REDIRECT_NONE, "slot out of range");
	e = "MOVED 12 h";
	tap_int(redis_redirect_parse(e, strlen(e), NULL, &s, &to),
	    REDIS_REDIRECT_NONE, "no port");
	e = "MOVED x1 h:1";
	tap_int(redis_redirect_parse(e, strlen(e), NULL, &s, &to),
	    REDIS_REDIRECT_NONE, "slot not a number");
	e = "ERR unknown command";
	tap_int(redis_redirect_parse(e, strlen(e), NULL, &s, &to),
	    REDIS_REDIRECT_NONE, "other errors");
	e = "MOVED 1 h:1";
	tap_int(redis_redirect_parse(e, 9, NULL, &s, &to),
	    REDIS_REDIRECT_NONE, "cut short");
}

int
main(void)
{
	tap_plan(13 + 13 + 22 + 11);
	test_slots();
	test_seeds();
	test_map();
	test_redirect();
	return tap_failed != 0;
}
