/*
 * sql.c: every SQL statement of the chat layer (enum stmt in state.h
 * says what each binds), prepared by pgq on each connection.  Chat
 * layer (realtime/chat/).  All parameters are bound ($1...), never
 * spliced; timestamps leave as ISO 8601 UTC with milliseconds
 * (TS_SQL, lib/ts.h).
 */
#include "config.h"

#include <stddef.h>

#include "lib/ts.h"
#include "realtime/chat/state.h"

const char *const chat_sql[S__MAX] = {
	[S_USER] = "SELECT username FROM users WHERE id = $1::bigint",
	[S_SEND] =
	"WITH conv_new AS ("
	" INSERT INTO conversations (user_one_id, user_two_id)"
	" SELECT least($1::bigint, $2::bigint),"
	" greatest($1::bigint, $2::bigint)"
	" WHERE EXISTS (SELECT 1 FROM users WHERE id = $2::bigint)"
	" AND NOT EXISTS (SELECT 1 FROM messages WHERE $4::text IS NOT NULL"
	" AND sender_id = $1::bigint AND client_message_id = $4::text)"
	" ON CONFLICT (user_one_id, user_two_id) DO NOTHING RETURNING id),"
	" conv AS (SELECT id FROM conv_new UNION ALL"
	" SELECT id FROM conversations WHERE user_one_id ="
	" least($1::bigint, $2::bigint) AND user_two_id ="
	" greatest($1::bigint, $2::bigint)),"
	" ins AS (INSERT INTO messages (conversation_id, sender_id, content,"
	" client_message_id) SELECT id, $1::bigint, $3::text, $4::text"
	" FROM conv LIMIT 1"
	" ON CONFLICT (sender_id, client_message_id)"
	" WHERE client_message_id IS NOT NULL DO NOTHING"
	" RETURNING id, conversation_id, content, created_at, read_at)"
	" SELECT id, conversation_id, content, " TS_SQL("created_at") ", "
	TS_SQL("read_at") ", 1, (SELECT count(*) FROM conv_new)::int"
	" FROM ins UNION ALL"
	" SELECT m.id, m.conversation_id, m.content, "
	TS_SQL("m.created_at") ", " TS_SQL("m.read_at") ", 0, 0"
	" FROM messages m"
	" WHERE $4::text IS NOT NULL AND m.sender_id = $1::bigint"
	" AND m.client_message_id = $4::text"
	" AND NOT EXISTS (SELECT 1 FROM ins)",
	[S_START] =
	"WITH u AS (SELECT id FROM users"
	" WHERE lower(username) = lower($2::text)),"
	" ins AS (INSERT INTO conversations (user_one_id, user_two_id)"
	" SELECT least($1::bigint, u.id), greatest($1::bigint, u.id) FROM u"
	" WHERE u.id <> $1::bigint ON CONFLICT (user_one_id, user_two_id)"
	" DO NOTHING RETURNING id)"
	" SELECT u.id, coalesce((SELECT id FROM ins), (SELECT c.id FROM"
	" conversations c WHERE c.user_one_id = least($1::bigint, u.id) AND"
	" c.user_two_id = greatest($1::bigint, u.id))),"
	" (SELECT count(*) FROM ins)::int FROM u",
	[S_CONVS] =
	"SELECT c.id, " TS_SQL("c.created_at") ","
	" u1.id, u1.username, u1.display_name, u1.avatar_url, u1.avatar_color,"
	" " TS_SQL("u1.last_seen_at") ","
	" u2.id, u2.username, u2.display_name, u2.avatar_url, u2.avatar_color,"
	" " TS_SQL("u2.last_seen_at") ","
	" (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id"
	" AND m.sender_id <> $1::bigint AND m.read_at IS NULL)"
	" FROM conversations c JOIN users u1 ON u1.id = c.user_one_id"
	" JOIN users u2 ON u2.id = c.user_two_id"
	" WHERE c.user_one_id = $1::bigint OR c.user_two_id = $1::bigint"
	" ORDER BY coalesce((SELECT m.created_at FROM messages m WHERE"
	" m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1), c.created_at)"
	" DESC, c.id DESC",
	[S_HISTORY] =
	"SELECT m.id, m.content, m.sender_id, u.username, "
	TS_SQL("m.created_at") ", " TS_SQL("m.read_at")
	" FROM conversations c LEFT JOIN LATERAL (SELECT * FROM messages x"
	" WHERE x.conversation_id = c.id AND ($3::bigint IS NULL OR"
	" x.id < $3::bigint) ORDER BY x.id DESC LIMIT $4::int) m ON true"
	" LEFT JOIN users u ON u.id = m.sender_id"
	" WHERE c.id = $1::bigint AND $2::bigint IN (c.user_one_id,"
	" c.user_two_id) ORDER BY m.id DESC",
	[S_MARKREAD] =
	"WITH c AS (SELECT id, user_one_id, user_two_id FROM conversations"
	" WHERE id = $1::bigint AND $2::bigint IN (user_one_id, user_two_id)),"
	" upd AS (UPDATE messages m SET read_at = now() FROM c"
	" WHERE m.conversation_id = c.id AND m.sender_id <> $2::bigint"
	" AND m.read_at IS NULL RETURNING 1)"
	" SELECT c.user_one_id, c.user_two_id, " TS_SQL("now()") ","
	" (SELECT count(*) FROM upd) FROM c",
	[S_MEMBERS] = "SELECT user_one_id, user_two_id FROM conversations"
	" WHERE id = $1::bigint",
	[S_LASTSEEN] = "UPDATE users SET last_seen_at = now()"
	" WHERE id = $1::bigint",
	/*
	 * Many S_SEND in one statement: row n of the arrays is message n.
	 * Only messages whose recipient exists and whose clientMessageId
	 * is new get a conversation and a row; the ids are drawn first so
	 * that each inserted row maps back to its n.  A message with no
	 * row in the answer (unknown recipient, a race, a duplicate
	 * clientMessageId within the batch) is retried alone with S_SEND.
	 * Columns: n, then those of S_SEND ("created" set on the first
	 * message of each new conversation only).
	 */
	[S_SENDB] =
	"WITH t AS (SELECT * FROM unnest($1::bigint[], $2::bigint[],"
	" $3::text[], $4::text[])"
	" WITH ORDINALITY AS t(s, r, content, cmid, n)),"
	" i AS (SELECT t.*, least(t.s, t.r) AS lo, greatest(t.s, t.r) AS hi"
	" FROM t WHERE (SELECT u.id FROM users u WHERE u.id = t.r) IS NOT NULL"
	" AND NOT EXISTS (SELECT 1 FROM messages m WHERE t.cmid IS NOT NULL"
	" AND m.sender_id = t.s AND m.client_message_id = t.cmid)),"
	" cn AS (INSERT INTO conversations (user_one_id, user_two_id)"
	" SELECT DISTINCT lo, hi FROM i WHERE (SELECT c.id FROM"
	" conversations c WHERE c.user_one_id = lo AND c.user_two_id = hi)"
	" IS NULL ORDER BY lo, hi"
	" ON CONFLICT (user_one_id, user_two_id) DO NOTHING"
	" RETURNING id, user_one_id, user_two_id),"
	" cv AS (SELECT i.*, coalesce((SELECT c.id FROM conversations c"
	" WHERE c.user_one_id = i.lo AND c.user_two_id = i.hi), (SELECT"
	" cn.id FROM cn WHERE cn.user_one_id = i.lo AND cn.user_two_id ="
	" i.hi)) AS conv FROM i),"
	" x AS MATERIALIZED (SELECT nextval('messages_id_seq') AS id, n,"
	" s, content, cmid, conv FROM cv WHERE conv IS NOT NULL ORDER BY n),"
	" ins AS (INSERT INTO messages (id, conversation_id, sender_id,"
	" content, client_message_id) SELECT id, conv, s, content, cmid"
	" FROM x ORDER BY n ON CONFLICT (sender_id, client_message_id)"
	" WHERE client_message_id IS NOT NULL DO NOTHING"
	" RETURNING id, created_at)"
	" SELECT x.n, x.id, x.conv, x.content, "
	TS_SQL("ins.created_at") ","
	" NULL::text, 1, CASE WHEN x.conv IN (SELECT id FROM cn) AND"
	" x.n = (SELECT min(y.n) FROM ins i2 JOIN x y ON y.id = i2.id"
	" WHERE y.conv = x.conv) THEN 1 ELSE 0 END"
	" FROM ins JOIN x ON x.id = ins.id UNION ALL"
	" SELECT t.n, m.id, m.conversation_id, m.content, "
	TS_SQL("m.created_at") ", " TS_SQL("m.read_at") ","
	" 0, 0 FROM t JOIN messages m"
	" ON m.sender_id = t.s AND m.client_message_id = t.cmid"
	" WHERE t.cmid IS NOT NULL",
	/* PRESENCE_SCOPE=contacts: a BitmapOr of the two indexes. */
	[S_CONTACTS] = "SELECT CASE WHEN user_one_id = $1::bigint"
	" THEN user_two_id ELSE user_one_id END FROM conversations"
	" WHERE user_one_id = $1::bigint OR user_two_id = $1::bigint",
	/* The connects of one loop pass: one index probe per id. */
	[S_USERB] = "SELECT id, username FROM users"
	" WHERE id = ANY($1::bigint[])",
	/* The transitions of one loop pass: both indexes again. */
	[S_CONTACTSB] = "SELECT user_one_id, user_two_id FROM conversations"
	" WHERE user_one_id = ANY($1::bigint[]) UNION ALL"
	" SELECT user_two_id, user_one_id FROM conversations"
	" WHERE user_two_id = ANY($1::bigint[])",
};
