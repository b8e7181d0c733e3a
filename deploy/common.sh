# deploy/common.sh: settings and helpers shared by deploy/up, down and test.
# Sourced, not run.  Every setting comes from the environment (or .env for
# deploy/up), with the local-stack defaults below.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Packages a fresh Debian 12 machine needs to build, run and test the stack
# (iproute2: deploy/cluster's network namespaces, veths and bridge).
DEB_PACKAGES="build-essential autoconf automake pkg-config clang libclang-rt-14-dev
 libpq-dev libjansson-dev libjwt-dev libhiredis-dev libssl-dev libcrypt-dev
 libfcgi-dev libev-dev postgresql redis-server nginx-light curl ca-certificates
 nodejs npm iproute2"
# And what only the tests need: a real browser for the web client's
# tests, and LLVM (clang's own version) for llvm-symbolizer, so that
# sanitizer reports name functions and lines.
TEST_PACKAGES="chromium fonts-dejavu-core llvm"

log() { printf 'deploy: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Print the last N (25) lines of a log, indented, if it exists.
show_tail() {	# file [lines]
	[ -f "$1" ] || return 0
	log "the last lines of $1:"
	tail -"${2:-25}" "$1" | sed 's/^/    /' >&2
}

# Run one step with its output in a log; on failure say which step
# failed, with its exit status and the last lines of that log, and exit.
run_step() {	# what logfile command...
	local what=$1 lf=$2 rc=0
	shift 2
	"$@" >>"$lf" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] && return 0
	log "$what failed (exit $rc)"
	show_tail "$lf"
	exit 1
}

# Under set -e, a command that fails outside run_step says where.
trap_errors() {
	set -E
	trap 'rc=$?; log "failed (exit $rc) at ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND"; exit $rc' ERR
}

# Load KEY=VALUE lines of .env for keys not already set in the environment.
load_dotenv() {
	local f="$ROOT/.env" line key val
	[ -f "$f" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in ''|'#'*) continue ;; esac
		key=${line%%=*}; val=${line#*=}
		key=$(printf '%s' "$key" | tr -d ' ')
		[[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
		val=${val%\"}; val=${val#\"}; val=${val%\'}; val=${val#\'}
		[ -z "${!key+x}" ] && export "$key=$val"
	done < "$f"
}

set_defaults() {
	export CHAT_VAR=${CHAT_VAR:-$ROOT/var}
	# A tree the user configured in place (./configure && make in the
	# checkout) is built there; otherwise out of tree in build/.
	if [ -z "${BUILD_DIR:-}" ]; then
		if tree_configured; then BUILD_DIR=$ROOT; else BUILD_DIR=$ROOT/build; fi
	fi
	export BUILD_DIR
	export PORT=${PORT:-3000}
	export LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1}
	export DB_HOST=${DB_HOST:-127.0.0.1}
	# The stack's own servers take the ports after PORT, so they never
	# meet the PostgreSQL (5432) and Redis (6379) that Debian's packages
	# start on install, or any other the machine runs.
	export DB_PORT=${DB_PORT:-$((PORT + 1))}
	export DB_USER=${DB_USER:-postgres}
	export DB_PASS=${DB_PASS:-postgres}
	export DB_NAME=${DB_NAME:-chatdb}
	export REDIS_PORT=${REDIS_PORT:-$((PORT + 2))}
	export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}
	# Our own Redis asks for the password REDIS_URL carries, if any.
	REDIS_PASS=$(redis_url_pass "$REDIS_URL")
	export RT_PORT_BASE=${RT_PORT_BASE:-$((PORT + 10))}
	export REALTIME_NODES=${REALTIME_NODES:-2}
	# Workers per instance: 2 x 8 measured best on 2 cores (t/bench/rest).
	export FCGI_WORKERS=${FCGI_WORKERS:-8}
	# Two chat-fcgi instances, so one can restart while the other serves.
	export FCGI_INSTANCES=${FCGI_INSTANCES:-2}
	export UPLOAD_DIR=${UPLOAD_DIR:-$CHAT_VAR/uploads}
	export CORS_ORIGIN=${CORS_ORIGIN:-*}
	export TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1}
	RUN=$CHAT_VAR/run
	LOGDIR=$CHAT_VAR/log
	FCGI_BIN=$BUILD_DIR/fcgi/chat-fcgi
	RT_BIN=$BUILD_DIR/realtime/chat-realtime
}

# Raise the open-files limit as far as the hard limit allows (a sandbox
# may cap it) and leave the result in NOFILE.
raise_nofile() {
	local hard
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && hard=1048576
	[ "$hard" -gt 1048576 ] && hard=1048576
	ulimit -n "$hard" 2>/dev/null || true
	NOFILE=$(ulimit -n)
}

# Run a program in the background with its log and pid file, replacing a
# running one of the same name.
start_bg() {	# name pidfile command...
	local name=$1 pf=$2; shift 2
	stop_pid "$pf" 15
	raise_nofile
	nohup "$@" >>"$LOGDIR/$name.log" 2>&1 &
	echo $! > "$pf"
}

# Instance i serves /metrics on 127.0.0.1:PORT+4+i (local only).
start_fcgi() {	# instance
	stop_pid "$RUN/chat-fcgi-$1.pid" 15
	rm -f "$RUN/fcgi-$1.sock"
	start_bg "chat-fcgi-$1" "$RUN/chat-fcgi-$1.pid" \
		"$FCGI_BIN" -s "$RUN/fcgi-$1.sock" -m "127.0.0.1:$((PORT + 4 + $1))"
}

# Node n listens on RT_PORT_BASE+n and serves /metrics on RT_PORT_BASE+50+n.
start_rt() {	# node id
	start_bg "chat-realtime-$1" "$RUN/chat-realtime-$1.pid" \
		"$RT_BIN" --node-id "$1" --port "$((RT_PORT_BASE + $1))" \
		--metrics "127.0.0.1:$((RT_PORT_BASE + 50 + $1))"
}

# Wait up to $2 s until $1 exists as a socket / answers on 127.0.0.1:$1.
wait_unix() {
	local i
	for ((i = 0; i < ${2:-10} * 20; i++)); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
wait_tcp() {
	local i
	for ((i = 0; i < ${2:-10} * 20; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# Install the Debian packages that are missing (as root, non-interactive).
install_packages() {
	local missing="" p lf=${LOGDIR:-/tmp}/apt.log
	for p in $DEB_PACKAGES ${1:-}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
	# nginx-light or any other nginx flavour will do.
	if command -v nginx >/dev/null 2>&1; then
		missing=$(printf '%s' "$missing" | sed 's/ nginx-light//')
	fi
	# Node.js: the machine's own (with npm) is fine when present.
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
		missing=$(printf '%s' "$missing" | sed 's/ nodejs//; s/ npm//')
	fi
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages:$missing (run as root to install)"
	mkdir -p "$(dirname "$lf")"
	log "installing:$missing (log: $lf)"
	export DEBIAN_FRONTEND=noninteractive
	run_step "apt-get update" "$lf" apt-get update
	# shellcheck disable=SC2086
	run_step "apt-get install" "$lf" apt-get install -y --no-install-recommends $missing
}

# Was the source tree itself configured (./configure run in the checkout)?
tree_configured() { [ -f "$ROOT/config.status" ]; }

# Configure (once) and build into BUILD_DIR with CONFIGURE_FLAGS.  The
# tree's own build (BUILD_DIR = ROOT) is only made, never reconfigured.
# Another build dir next to a configured tree (which autoconf refuses
# for VPATH builds) is configured from a clean copy of the distributed
# sources, BUILD_DIR-src, made by the tree's own "make distdir".
build() {
	local lf src=$ROOT
	mkdir -p "$BUILD_DIR"
	lf=$BUILD_DIR/deploy-build.log
	: > "$lf"
	if [ "$BUILD_DIR" = "$ROOT" ]; then
		log "building in the source tree (configured there)"
		run_step "make" "$lf" make -C "$ROOT" -j"$(nproc)"
		return 0
	fi
	if tree_configured; then
		src=$BUILD_DIR-src
		run_step "make distdir (a clean copy of the configured tree)" "$lf" \
			make -C "$ROOT" distdir distdir="$src"
	elif [ ! -x "$ROOT/configure" ]; then
		run_step "autoreconf" "$lf" sh -c "cd '$ROOT' && autoreconf -fi"
	fi
	# Configure once per source folder (remembered in .deploy-srcdir).
	if [ ! -f "$BUILD_DIR/Makefile" ] ||
	    [ "$(cat "$BUILD_DIR/.deploy-srcdir" 2>/dev/null)" != "$src" ]; then
		# shellcheck disable=SC2086
		run_step "configure" "$lf" sh -c "cd '$BUILD_DIR' && '$src/configure' ${CONFIGURE_FLAGS:-}"
		printf '%s\n' "$src" > "$BUILD_DIR/.deploy-srcdir"
	fi
	run_step "make" "$lf" make -C "$BUILD_DIR" -j"$(nproc)"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stop the process named in pid file $1: SIGTERM, wait up to $2 s, SIGKILL.
stop_pid() {
	local pf=$1 wait=${2:-10} pid i
	# The program may remove its pid file as it exits (nginx does).
	pid=$(cat "$pf" 2>/dev/null) || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < wait * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$pf"
}

# The newest PostgreSQL server installed, or "" (none yet: deploy/up
# installs it first, so this is looked up after install_packages).
find_pg_bin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/pg_ctl" ] && printf '%s\n' "$d"
	done | sort -V | tail -1
}

# PostgreSQL runs as the unprivileged "postgres" user, which cannot
# enter a checkout under /root (mode 0700): its data, socket and log live
# in PG_HOME (default /var/lib/chat/pg-<hash of CHAT_VAR>, so each stack
# has its own); CHAT_VAR/pg links to its data/, CHAT_VAR/log/postgres.log
# to its log.
set_pg_home() {
	PG_HOME=${PG_HOME:-/var/lib/chat/pg-$(printf '%s' "$CHAT_VAR" | md5sum | cut -c1-12)}
	PGDATA=$PG_HOME/data
	PGSOCK=$PG_HOME/sock
	PGLOG=$PG_HOME/postgres.log
}

# Run a PostgreSQL tool as postgres, from a folder it can enter.
as_postgres() { ( cd / && runuser -u postgres -- "$@" ); }

# The password in a redis:// URL (redis://[user:]pass@host...), or "".
redis_url_pass() {
	local u=${1#redis://} cred
	case "$1" in redis://*@*) ;; *) return 0 ;; esac
	u=${u%%/*}
	cred=${u%@*}
	case "$cred" in *:*) printf '%s' "${cred#*:}" ;; *) printf '%s' "$cred" ;; esac
}

# redis-cli against our Redis, with the password from REDIS_URL.
rcli() { REDISCLI_AUTH=${REDIS_PASS:-} redis-cli -p "$REDIS_PORT" "$@"; }

# Start our own Redis on 127.0.0.1:REDIS_PORT (requirepass when REDIS_URL
# has a password) and wait until it answers.
start_redis() {
	local args=(--port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no
		--daemonize yes --pidfile "$RUN/redis.pid" --logfile "$LOGDIR/redis.log"
		--dir "$CHAT_VAR/redis" --maxclients 20000) i
	[ -n "${REDIS_PASS:-}" ] && args+=(--requirepass "$REDIS_PASS")
	run_step "redis-server" "$LOGDIR/redis.log" redis-server "${args[@]}"
	for ((i = 0; i < 50; i++)); do
		rcli ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	log "Redis did not answer PING on 127.0.0.1:$REDIS_PORT"
	show_tail "$LOGDIR/redis.log"
	exit 1
}

# The LLVM symbolizer that clang brought (Debian puts it in
# /usr/lib/llvm-N/bin; /usr/bin/llvm-symbolizer only with the llvm
# package), so sanitizer reports come with function names and lines.
find_symbolizer() {
	command -v llvm-symbolizer 2>/dev/null && return 0
	ls /usr/lib/llvm-*/bin/llvm-symbolizer 2>/dev/null | sort -V | tail -1
}
