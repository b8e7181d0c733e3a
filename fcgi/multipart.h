/*
 * multipart.h: a streaming multipart/form-data parser (RFC 7578, RFC 2046
 * section 5.1) for avatar uploads.  Pure code: the caller feeds the body
 * in chunks of any size and gets callbacks; memory use is fixed (it does
 * not grow with the body).
 */
#ifndef FCGI_MULTIPART_H
#define FCGI_MULTIPART_H

#include <stddef.h>	/* size_t */

#define MULTIPART_BOUNDARY_MAX	70	/* bytes in a boundary (RFC 2046) */
#define MULTIPART_HEADER_MAX	8192	/* bytes in one part's header block */
#define MULTIPART_HEADERS_MAX	16	/* header lines per part */
#define MULTIPART_PARTS_MAX	16	/* parts per body */
#define MULTIPART_PREAMBLE_MAX	16384	/* bytes before the first boundary */
#define MULTIPART_EPILOGUE_MAX	16384	/* bytes after the close boundary */
#define MULTIPART_PADDING_MAX	64	/* blanks after a boundary (RFC 2046) */

enum	multipart_err {
	MULTIPART_OK = 0,
	MULTIPART_ERR_MALFORMED,	/* syntax error, bad CRLF, caps above */
	MULTIPART_ERR_HEADER_SIZE,	/* headers > MULTIPART_HEADER_MAX */
	MULTIPART_ERR_HEADER_COUNT,	/* > MULTIPART_HEADERS_MAX lines */
	MULTIPART_ERR_PART_COUNT,	/* > MULTIPART_PARTS_MAX parts */
	MULTIPART_ERR_UNTERMINATED,	/* finish without "--boundary--" */
	MULTIPART_ERR_ABORTED,		/* a callback returned non-zero */
	MULTIPART_ERR_NOMEM,		/* multipart_new: out of memory */
	MULTIPART_ERR__MAX
};

/*
 * What part_begin is told about a part.  Strings are NUL-terminated,
 * contain no control bytes but may hold any other byte (UTF-8, "/", "\"),
 * and live only during the call: copy what you keep.
 */
struct	multipart_part {
	const char	*name;		/* the part's name= (never NULL) */
	const char	*filename;	/* filename= as sent, or NULL */
	const char	*type;		/* Content-Type value, or NULL */
	size_t		 index;		/* 0 for the first part */
};

/*
 * Callbacks; any may be NULL.  Return 0 to go on, non-zero to abort: the
 * parser then fails with MULTIPART_ERR_ABORTED and calls nothing more.
 * part_data is called zero or more times between part_begin and part_end
 * with the part's bytes in order (len > 0; "buf" lives during the call).
 * part_end is called only when the part's closing boundary was seen.
 * Callbacks must not call multipart_feed/finish/free on their parser.
 */
typedef int	 multipart_begin_cb(void *arg, const struct multipart_part *);
typedef int	 multipart_data_cb(void *arg, const char *buf, size_t len);
typedef int	 multipart_end_cb(void *arg);

struct	multipart_cb {
	multipart_begin_cb	*part_begin;
	multipart_data_cb	*part_data;
	multipart_end_cb	*part_end;
};

struct	multipart;

/*
 * Copy the boundary parameter of a Content-Type header value such as
 * "multipart/form-data; boundary=----x" (or boundary="a b") into out as
 * a NUL-terminated string.  Media type and parameter names are matched
 * case-insensitively.  Returns the boundary length (1-70), or -1 if the
 * type is not multipart/form-data, the boundary is missing, repeated or
 * invalid (RFC 2046 bchars), or does not fit in outsz bytes, or if the
 * header value is longer than 1023 bytes.
 */
int	 multipart_boundary(const char *content_type, char *out,
	    size_t outsz);

/*
 * Returns a new parser for bodies delimited by "boundary" (as returned by
 * multipart_boundary); free with multipart_free().  "cb" is copied;
 * "arg" is passed to every callback.  Returns NULL if the boundary is
 * invalid or memory is short.
 */
struct multipart	*multipart_new(const char *boundary,
			    const struct multipart_cb *cb, void *arg);

/*
 * Parse the next len bytes of the body; chunks may split the body at any
 * byte.  Returns MULTIPART_OK or an enum multipart_err.  Errors are
 * sticky: once one is returned, every later call returns it.  Bytes after
 * the close boundary (the epilogue) are ignored up to a cap.
 */
int	 multipart_feed(struct multipart *, const char *buf, size_t len);

/*
 * End of body.  Returns MULTIPART_OK if the close boundary was seen,
 * else the sticky error or MULTIPART_ERR_UNTERMINATED.
 */
int	 multipart_finish(struct multipart *);

/* The sticky error so far (MULTIPART_OK if none). */
int	 multipart_error(const struct multipart *);

/* Accepts NULL. */
void	 multipart_free(struct multipart *);

/* A static description of an enum multipart_err value; never NULL. */
const char	*multipart_strerror(int);

#endif /* !FCGI_MULTIPART_H */
