/*
 * avatar.c: POST and DELETE /users/me/avatar.  The multipart body is
 * streamed from FastCGI stdin through fcgi/multipart.c straight into a
 * temporary file (never held in memory), capped at 2 MB, checked by its
 * magic bytes (the client's name and type are not trusted), renamed
 * into place under a random name, then recorded; the replaced file (or
 * the removed one) is unlinked only after the database says so.  Both
 * handlers have the layout every handler shares (fcgi/handlers.h).
 * Spec: docs/api.md §2.7, §2.8, §3.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "fcgi/app.h"
#include "fcgi/crypto_util.h"
#include "fcgi/db.h"
#include "fcgi/handlers.h"
#include "fcgi/http.h"
#include "fcgi/multipart.h"
#include "lib/hex.h"
#include "lib/log.h"

#define AVATAR_PREFIX	"/uploads/avatars/"
#define AVATAR_FIELD	"avatar"
#define AVATAR_CHUNK	16384	/* bytes read from stdin at a time */

/*
 * Clear the avatar and return the URL it had.  FOR UPDATE serialises
 * this against uploads of the same user, so each sees the URL the other
 * left and removes exactly the file it replaced.
 */
static const char SQL_AVATAR_CLEAR[] =
    "WITH old AS (SELECT id, avatar_url FROM users WHERE id = $1"
    " FOR UPDATE)"
    " UPDATE users u SET avatar_url = NULL FROM old WHERE u.id = old.id"
    " RETURNING old.avatar_url";
/* Set the new avatar and return the old one, under the row lock. */
static const char SQL_AVATAR_SET[] =
    "WITH old AS (SELECT id, avatar_url FROM users WHERE id = $1"
    " FOR UPDATE)"
    " UPDATE users u SET avatar_url = $2 FROM old WHERE u.id = old.id"
    " RETURNING old.avatar_url";

struct	upload {
	struct app	*app;
	int		 fd;		/* temp file, -1 if none */
	char		 tmp[PATH_MAX];	/* its path */
	int		 in_file;	/* inside the avatar part */
	int		 have_file;	/* an avatar part was seen */
	int		 done_file;	/* ... and ended properly */
	int		 jpeg_name;	/* client's name ends in ".jpeg" */
	int		 bad_type;	/* declared type not one we take */
	size_t		 size;		/* file bytes so far */
	unsigned char	 head[12];	/* first bytes, for the magic */
	int		 too_big;	/* over APP_AVATAR_MAX */
	int		 io_err;	/* write failed (logged) */
};

/* Is the part's Content-Type image/jpeg, image/png or image/webp? */
static int
type_allowed(const char *t)
{
	static const char *const	 types[] = { "image/jpeg", "image/png",
	    "image/webp", "image/jpg" };
	size_t				 i, n;

	while (*t == ' ')
		t++;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		n = strlen(types[i]);
		if (strncasecmp(t, types[i], n) == 0 &&
		    (t[n] == '\0' || t[n] == ';' || t[n] == ' '))
			return 1;
	}
	return 0;
}

/*
 * multipart callback: a part begins; the first "avatar" file part opens
 * the temp file.
 */
static int
part_begin(void *arg, const struct multipart_part *p)
{
	struct upload	*u = arg;
	size_t		 n;

	/* Like multer: the first file part named "avatar" is the file. */
	if (u->have_file || strcmp(p->name, AVATAR_FIELD) != 0 ||
	    p->filename == NULL)
		return 0;
	u->have_file = 1;
	n = strlen(p->filename);
	u->jpeg_name = n >= 5 && strcasecmp(p->filename + n - 5, ".jpeg") == 0;
	/*
	 * The declared type must be allowed too (the original's file
	 * filter); the bytes decide in the end.  No type: bytes only.
	 */
	u->bad_type = p->type != NULL && !type_allowed(p->type);
	if (snprintf(u->tmp, sizeof(u->tmp), "%s/.tmp-XXXXXX",
	    u->app->avatar_dir) >= (int)sizeof(u->tmp)) {
		u->tmp[0] = '\0';
		u->io_err = 1;
		return 1;
	}
	if ((u->fd = mkstemp(u->tmp)) == -1) {
		log_warn("mkstemp %s", u->tmp);
		u->tmp[0] = '\0';
		u->io_err = 1;
		return 1;
	}
	u->in_file = 1;
	return 0;
}

/*
 * multipart callback: part data.  The file's bytes go to the temp file,
 * within APP_AVATAR_MAX, and its first bytes are kept for sniff().
 */
static int
part_data(void *arg, const char *buf, size_t len)
{
	struct upload	*u = arg;
	ssize_t		 w;
	size_t		 off = 0, k;

	if (!u->in_file)
		return 0;
	if (len > (size_t)APP_AVATAR_MAX - u->size) {
		u->too_big = 1;
		return 1;
	}
	if (u->size < sizeof(u->head)) {
		k = sizeof(u->head) - u->size;
		memcpy(u->head + u->size, buf, k < len ? k : len);
	}
	u->size += len;
	while (off < len) {
		if ((w = write(u->fd, buf + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("write %s", u->tmp);
			u->io_err = 1;
			return 1;
		}
		off += (size_t)w;
	}
	return 0;
}

/* multipart callback: a part ended; the file is complete if it was ours. */
static int
part_end(void *arg)
{
	struct upload	*u = arg;

	if (u->in_file) {
		u->in_file = 0;
		u->done_file = 1;
	}
	return 0;
}

/* The extension the magic bytes call for, or NULL if not allowed. */
static const char *
sniff(const struct upload *u)
{
	const unsigned char	*h = u->head;

	if (u->size >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
		return u->jpeg_name ? "jpeg" : "jpg";
	if (u->size >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "png";
	if (u->size >= 12 && memcmp(h, "RIFF", 4) == 0 &&
	    memcmp(h + 8, "WEBP", 4) == 0)
		return "webp";
	return NULL;
}

/*
 * Does "name" look like a file we wrote (32 hex digits and one of our
 * extensions)?  Only such names are ever unlinked.
 */
static int
our_name(const char *name)
{
	if (strnlen(name, 32) != 32 || !hex_is_lower(name, 32))
		return 0;
	return strcmp(name + 32, ".png") == 0 ||
	    strcmp(name + 32, ".jpg") == 0 ||
	    strcmp(name + 32, ".jpeg") == 0 ||
	    strcmp(name + 32, ".webp") == 0;
}

/* Remove the file an avatarUrl names, if it is one of ours. */
static void
avatar_unlink(struct app *a, const char *url)
{
	char		 path[PATH_MAX];
	const char	*name;
	int		 n;

	if (strncmp(url, AVATAR_PREFIX, sizeof(AVATAR_PREFIX) - 1) != 0)
		return;
	name = url + sizeof(AVATAR_PREFIX) - 1;
	if (!our_name(name))
		return;
	n = snprintf(path, sizeof(path), "%s/%s", a->avatar_dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return;
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("unlink %s", path);
}

/*
 * Stream the body through the parser.  Returns 0 when the body was
 * well-formed, else the HTTP status to answer (the rest is drained).
 */
static int
stream_body(struct http_req *r, struct multipart *mp, struct upload *u)
{
	char	 buf[AVATAR_CHUNK];
	long	 n;
	int	 e;

	for (;;) {
		if ((n = http_read(r, buf, sizeof(buf))) < 0)
			return 400;
		if (n == 0)
			break;
		if ((e = multipart_feed(mp, buf, (size_t)n)) != MULTIPART_OK) {
			http_drain(r);
			return u->too_big ? 413 : u->io_err ? 500 : 400;
		}
	}
	if (multipart_finish(mp) != MULTIPART_OK)
		return 400;
	return 0;
}

/*
 * POST /users/me/avatar: stream the file to a temp file, check it,
 * rename it into place, record it, then remove the file it replaced.
 */
void
avatar_upload(struct app *a, struct http_req *r)
{
	struct app_user		 au;
	struct upload		 u;
	struct multipart	*mp = NULL;
	struct multipart_cb	 cb = { part_begin, part_data, part_end };
	PGresult		*res = NULL;
	enum db_err		 err;
	char			 boundary[MULTIPART_BOUNDARY_MAX + 1];
	char			 hex[33], final[PATH_MAX], url[128], id[32];
	const char		*ext, *args[2];
	int			 st, renamed = 0;

	memset(&u, 0, sizeof(u));
	u.app = a;
	u.fd = -1;
	if (app_auth(a, r, &au) == -1) {
		http_drain(r);
		return;
	}
	if (r->ctype == NULL ||
	    multipart_boundary(r->ctype, boundary, sizeof(boundary)) < 0) {
		http_drain(r);
		http_send_error(r, 400, "No file uploaded", 0);
		goto out;
	}
	if ((mp = multipart_new(boundary, &cb, &u)) == NULL) {
		http_drain(r);
		app_fail(r);
		goto out;
	}
	if ((st = stream_body(r, mp, &u)) != 0) {
		if (st == 413)
			http_send_error(r, 413, "File too large", 0);
		else if (st == 500)
			app_fail(r);
		else
			http_send_error(r, 400, "Malformed multipart body", 0);
		goto out;
	}
	if (!u.done_file) {
		http_send_error(r, 400, "No file uploaded", 0);
		goto out;
	}
	if (u.bad_type || (ext = sniff(&u)) == NULL) {
		http_send_error(r, 400, "Only jpg, png, webp allowed", 0);
		goto out;
	}
	if (fchmod(u.fd, 0644) == -1 || fsync(u.fd) == -1) {
		log_warn("fchmod/fsync %s", u.tmp);
		app_fail(r);
		goto out;
	}
	if (crypto_random_hex(16, hex, sizeof(hex)) == -1 ||
	    snprintf(final, sizeof(final), "%s/%s.%s", a->avatar_dir, hex,
	    ext) >= (int)sizeof(final)) {
		app_fail(r);
		goto out;
	}
	if (rename(u.tmp, final) == -1) {
		log_warn("rename %s", final);
		app_fail(r);
		goto out;
	}
	renamed = 1;
	snprintf(url, sizeof(url), AVATAR_PREFIX "%s.%s", hex, ext);
	snprintf(id, sizeof(id), "%lld", au.id);
	args[0] = id;
	args[1] = url;
	res = db_exec(&a->db, SQL_AVATAR_SET, 2, args, &err);
	if (err != DB_OK || PQntuples(res) != 1) {
		if (unlink(final) == -1)
			log_warn("unlink %s", final);
		if (err != DB_OK)
			app_fail(r);
		else	/* the user was deleted since the token */
			http_send_error(r, 401, "Unauthorized", 1);
		goto out;
	}
	if (!PQgetisnull(res, 0, 0))
		avatar_unlink(a, PQgetvalue(res, 0, 0));
	if (app_wrote(a, au.id) == -1)
		app_fail(r);
	else
		http_send_json(r, 200, json_pack("{s:s}", "avatarUrl", url),
		    NULL);
out:
	if (u.fd != -1)
		close(u.fd);
	if (!renamed && u.tmp[0] != '\0' && unlink(u.tmp) == -1)
		log_warn("unlink %s", u.tmp);
	PQclear(res);
	multipart_free(mp);
}

/* DELETE /users/me/avatar: clear avatarUrl, then remove the file. */
void
avatar_delete(struct app *a, struct http_req *r)
{
	struct app_user	 u;
	PGresult	*res = NULL;
	enum db_err	 err;
	char		 id[32];
	const char	*args[1] = { id };

	http_drain(r);
	if (app_auth(a, r, &u) == -1)
		return;
	snprintf(id, sizeof(id), "%lld", u.id);
	res = db_exec(&a->db, SQL_AVATAR_CLEAR, 1, args, &err);
	if (err != DB_OK)
		app_fail(r);
	else if (PQntuples(res) != 1)
		http_send_error(r, 401, "Unauthorized", 1);
	else {
		/* The row is committed: now the file may go. */
		if (!PQgetisnull(res, 0, 0))
			avatar_unlink(a, PQgetvalue(res, 0, 0));
		if (app_wrote(a, u.id) == -1)
			app_fail(r);
		else
			http_send_json(r, 200, json_pack("{s:s}", "message",
			    "Avatar removed"), NULL);
	}
	PQclear(res);
}
