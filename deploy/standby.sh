#!/usr/bin/env bash
# deploy/standby.sh: a streaming hot standby of a local stack's PostgreSQL
# (the one deploy/up runs on DB_PORT), for DB_READ_HOST (README.md
# "Configuration") and its tests.  Same settings as deploy/up (CHAT_VAR,
# PORT, DB_*; see common.sh); the standby listens on 127.0.0.1:STANDBY_PORT
# (default PORT+3), keeps its data in PG_HOME/standby and logs to
# CHAT_VAR/log/postgres-standby.log.  Run as root, like deploy/up.
#
#   deploy/standby.sh up	make it (pg_basebackup -R) if needed, start it,
#				wait until it streams; prints the DB_READ_*
#				settings for chat-realtime
#   deploy/standby.sh stop	stop it (fast shutdown)
#   deploy/standby.sh kill	stop it at once (immediate: as a crash)
#   deploy/standby.sh start	start it again (data kept)
#   deploy/standby.sh status	running and streaming?  (exit 0 if so)
#   deploy/standby.sh destroy	stop it and delete its data
#
# The primary needs nothing more than deploy/up gives it: PostgreSQL 15
# defaults to wal_level=replica and max_wal_senders=10, and initdb's
# pg_hba.conf allows replication from 127.0.0.1 with scram-sha-256.
# Sourceable too (. deploy/standby.sh, then standby_up ...): deploy/cluster
# and deploy/test may reuse the functions.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

standby_settings() {
	load_dotenv
	set_defaults
	set_pg_home
	export STANDBY_PORT=${STANDBY_PORT:-$((PORT + 3))}
	SB_DATA=$PG_HOME/standby
	SB_LOG=$PG_HOME/standby.log
	SB_PID=$RUN/postgres-standby.pid
	PG_BIN=$(find_pg_bin)
	[ -n "$PG_BIN" ] || die "PostgreSQL server binaries not found"
	mkdir -p "$RUN" "$LOGDIR"
}

# psql on the standby (or, with -p, elsewhere).
sb_psql() {
	PGPASSWORD=$DB_PASS psql -X -q -tA -h 127.0.0.1 -p "$STANDBY_PORT" \
		-U "$DB_USER" -d "$DB_NAME" "$@"
}

standby_running() {
	as_postgres "$PG_BIN/pg_ctl" -D "$SB_DATA" status >/dev/null 2>&1
}

# Streaming from the primary, and answering queries?
standby_streaming() {
	[ "$(sb_psql -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null)" = streaming ]
}

standby_start() {
	local i
	if ! standby_running; then
		log "starting the standby on 127.0.0.1:$STANDBY_PORT (data in $SB_DATA)"
		as_postgres touch "$SB_LOG"
		ln -sfn "$SB_LOG" "$LOGDIR/postgres-standby.log"
		as_postgres "$PG_BIN/pg_ctl" -D "$SB_DATA" -w -t 60 -l "$SB_LOG" \
			-o "-p $STANDBY_PORT -k $PGSOCK -c listen_addresses=127.0.0.1 \
			-c max_connections=300 -c hot_standby=on \
			-c hot_standby_feedback=on" start \
			>>"$LOGDIR/pg_ctl-standby.log" 2>&1 ||
			{ show_tail "$SB_LOG"; die "the standby did not start"; }
	fi
	head -1 "$SB_DATA/postmaster.pid" > "$SB_PID"
	for ((i = 0; i < 100; i++)); do
		standby_streaming && return 0
		sleep 0.1
	done
	show_tail "$SB_LOG"
	die "the standby does not stream from 127.0.0.1:$DB_PORT"
}

standby_up() {
	local pwf
	if [ ! -f "$SB_DATA/PG_VERSION" ]; then
		log "pg_basebackup of 127.0.0.1:$DB_PORT into $SB_DATA"
		rm -rf "$SB_DATA"
		install -d -o postgres -g postgres -m 700 "$SB_DATA"
		# The password reaches pg_basebackup (and, through -R, the
		# standby's primary_conninfo) in a file only postgres reads.
		pwf=$PG_HOME/standby.pgpass
		printf '127.0.0.1:%s:*:%s:%s\n' "$DB_PORT" "$DB_USER" "$DB_PASS" > "$pwf"
		chown postgres:postgres "$pwf"
		chmod 600 "$pwf"
		as_postgres env PGPASSFILE="$pwf" "$PG_BIN/pg_basebackup" \
			-h 127.0.0.1 -p "$DB_PORT" -U "$DB_USER" -D "$SB_DATA" \
			-R -X stream -c fast >"$LOGDIR/pg_basebackup.log" 2>&1 ||
			{ show_tail "$LOGDIR/pg_basebackup.log"; die "pg_basebackup failed"; }
		# -R wrote primary_conninfo with the password; the pgpass
		# file is kept for the standby's reconnects anyway.
		printf "primary_conninfo = 'host=127.0.0.1 port=%s user=%s passfile=%s application_name=standby'\n" \
			"$DB_PORT" "$DB_USER" "$pwf" >> "$SB_DATA/postgresql.auto.conf"
	fi
	standby_start
	log "standby streaming on 127.0.0.1:$STANDBY_PORT"
	printf 'DB_READ_HOST=127.0.0.1\nDB_READ_PORT=%s\n' "$STANDBY_PORT"
}

standby_stop() {	# fast|immediate
	if standby_running; then
		log "stopping the standby ($1)"
		as_postgres "$PG_BIN/pg_ctl" -D "$SB_DATA" -m "$1" -w stop \
			>>"$LOGDIR/pg_ctl-standby.log" 2>&1
	fi
	rm -f "$SB_PID"
}

standby_main() {
	standby_settings
	case "${1:-}" in
	up) standby_up ;;
	start) standby_start ;;
	stop) standby_stop fast ;;
	kill) standby_stop immediate ;;
	status)
		if standby_running && standby_streaming; then
			echo "streaming on 127.0.0.1:$STANDBY_PORT"
		else
			echo "not streaming"; exit 1
		fi ;;
	destroy)
		standby_stop immediate
		rm -rf "$SB_DATA" "$PG_HOME/standby.pgpass" ;;
	*) die "usage: deploy/standby.sh up|start|stop|kill|status|destroy" ;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	trap_errors
	standby_main "$@"
fi
