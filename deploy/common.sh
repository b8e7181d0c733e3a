# deploy/common.sh: settings and helpers shared by deploy/up, down and test.
# Sourced, not run.  Every setting comes from the environment (or .env for
# deploy/up), with the local-stack defaults below.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Packages a fresh Debian 12 machine needs to build, run and test the stack.
DEB_PACKAGES="build-essential autoconf automake pkg-config clang libclang-rt-14-dev
 libpq-dev libjansson-dev libjwt-dev libhiredis-dev libssl-dev libcrypt-dev
 libfcgi-dev libev-dev postgresql redis-server nginx-light curl ca-certificates
 nodejs npm"
# And what only the tests need: a real browser for the web client's tests.
TEST_PACKAGES="chromium fonts-dejavu-core"

log() { printf 'deploy: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

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
	export BUILD_DIR=${BUILD_DIR:-$ROOT/build}
	export PORT=${PORT:-3000}
	export LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1}
	export DB_HOST=${DB_HOST:-127.0.0.1}
	export DB_PORT=${DB_PORT:-5432}
	export DB_USER=${DB_USER:-postgres}
	export DB_PASS=${DB_PASS:-postgres}
	export DB_NAME=${DB_NAME:-chatdb}
	export REDIS_PORT=${REDIS_PORT:-6379}
	export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}
	export RT_PORT_BASE=${RT_PORT_BASE:-3010}
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
	local missing="" p
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
	log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || log "apt-get update failed; trying the install anyway"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		die "apt-get install failed"
}

# Configure (once) and build into BUILD_DIR with CONFIGURE_FLAGS.
build() {
	if [ ! -x "$ROOT/configure" ]; then
		( cd "$ROOT" && autoreconf -fi >/dev/null 2>&1 ) || die "autoreconf failed"
	fi
	mkdir -p "$BUILD_DIR"
	if [ ! -f "$BUILD_DIR/Makefile" ]; then
		# shellcheck disable=SC2086
		( cd "$BUILD_DIR" && "$ROOT/configure" -q ${CONFIGURE_FLAGS:-} ) ||
			die "configure failed (see $BUILD_DIR/config.log)"
	fi
	make -C "$BUILD_DIR" -j"$(nproc)" -s >/dev/null 2>"$BUILD_DIR/build-errors.txt" || {
		tail -30 "$BUILD_DIR/build-errors.txt" >&2
		die "build failed"
	}
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stop the process named in pid file $1: SIGTERM, wait up to $2 s, SIGKILL.
stop_pid() {
	local pf=$1 wait=${2:-10} pid i
	[ -f "$pf" ] || return 0
	pid=$(cat "$pf")
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

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

# PostgreSQL refuses to run as root and needs a data dir its user can
# reach; a checkout under /root is not, so the cluster lives under
# /var/tmp, named after CHAT_VAR, with a link from CHAT_VAR/pg.
pg_datadir() {
	printf '/var/tmp/chat-pg-%s' "$(printf '%s' "$CHAT_VAR" | md5sum | cut -c1-12)"
}
