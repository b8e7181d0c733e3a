/*
 * t/fuzz/json-body.c: chat-fcgi's JSON body reader and validator
 * (dto_parse: jansson, whitelist, field rules of lib/valid.c) on
 * hostile bytes, sent as JSON or as a form.  The first byte picks the
 * route's body kind and the Content-Type; the rest is the body.  Checks the
 * answer's shape: a valid body has its strings inside root and within
 * the limits, an invalid one yields a 400 error body that serialises.
 * fuzz-sources: fcgi/dto.c fcgi/json_util.c lib/hex.c lib/valid.c
 * fuzz-libs: -ljansson
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fcgi/dto.h"
#include "fcgi/json_util.h"
#include "lib/valid.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dto	 d;
	json_t		*err = NULL, *m;
	enum dto_kind	 kind;
	const char	*st;
	char		*s;
	size_t		 tl;
	enum dto_ctype	 ct;
	int		 rc;

	if (size < 1)
		return 0;
	kind = (enum dto_kind)(data[0] % DTO__MAX);
	ct = (data[0] >> 4) % 3 == 0 ? DTO_CT_JSON : (data[0] >> 4) % 3 == 1 ?
	    DTO_CT_FORM : DTO_CT_OTHER;
	rc = dto_parse(kind, (const char *)data + 1, size - 1, ct, &d, &err);
	if (rc == 0) {
		if (err != NULL || d.root == NULL)
			abort();
		if ((kind == DTO_REGISTER || kind == DTO_LOGIN) &&
		    (d.username == NULL || d.password == NULL))
			abort();
		if (kind == DTO_REGISTER &&
		    (valid_username(d.username, d.username_len) != 0 ||
		    valid_password(d.password, d.password_len) != 0))
			abort();
		if (d.display == DTO_SET && valid_display_name(d.display_name,
		    d.display_name_len) != 0)
			abort();
		if (kind == DTO_REFRESH && (d.refresh_token == NULL ||
		    d.refresh_token_len == 0))
			abort();
		dto_clear(&d);
	} else {
		if (rc != 400 || err == NULL || d.root != NULL)
			abort();
		if (json_integer_value(json_object_get(err, "statusCode")) !=
		    400)
			abort();
		m = json_object_get(err, "message");
		if (!json_is_string(m) && !(json_is_array(m) &&
		    json_array_size(m) > 0))
			abort();
		if ((s = json_util_dump(err)) == NULL)
			abort();
		free(s);
		json_decref(err);
	}
	/* The same bytes as message content (the chat layer's rule). */
	if (valid_content((const char *)data + 1, size - 1, &st, &tl) == 0 &&
	    (st < (const char *)data + 1 ||
	    st + tl > (const char *)data + size))
		abort();
	return 0;
}
