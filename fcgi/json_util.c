/*
 * json_util.c: the jansson helpers of json_util.h.  json_util_parse
 * reads untrusted request bodies (chat-fcgi) and is reached by the
 * json-body fuzz target.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "fcgi/json_util.h"

json_t *
json_util_parse(const char *buf, size_t len, char *err, size_t errsz)
{
	json_error_t	 e;
	json_t		*j;
	size_t		 pos, i;
	unsigned char	 c;

	j = json_loadb(buf, len, JSON_ALLOW_NUL, &e);
	if (j != NULL)
		return j;
	/*
	 * Blanks only: like JSON.parse(""), the end came too soon.  Else
	 * name the byte jansson stopped at when it is printable.
	 */
	for (i = 0; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' &&
		    buf[i] != '\r')
			break;
	pos = e.position > 0 ? (size_t)e.position - 1 : 0;
	if (i == len || pos >= len || strstr(e.text, "end of file") != NULL)
		snprintf(err, errsz, "Unexpected end of JSON input");
	else if ((c = (unsigned char)buf[pos]) > ' ' && c < 0x7f)
		snprintf(err, errsz, "Unexpected token %c in JSON at "
		    "position %zu", c, pos);
	else
		snprintf(err, errsz, "Unexpected token in JSON at position %zu",
		    pos);
	return NULL;
}

char *
json_util_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);
}
