# t/bench/common.sh: helpers shared by t/bench/rest, run-realtime and
# run-chat.  Sourced, not run.  Builds the bench tools with plain gcc into
# $BENCH_OUT (default /tmp/chat-bench), starts and stops only processes
# it started, by pid (pid files under $BENCH_OUT/run).
BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/../.." && pwd)
BENCH_OUT=${BENCH_OUT:-/tmp/chat-bench}
BIN=$BENCH_OUT/bin
BRUN=$BENCH_OUT/run
BLOG=$BENCH_OUT/log
mkdir -p "$BIN" "$BRUN" "$BLOG"

blog() { printf 'bench: %s\n' "$*" >&2; }
bdie() { blog "$*"; exit 1; }

# Build one tool if its source is newer than the binary.
build_tool() {	# name extra-gcc-args...
	local name=$1; shift
	if [ ! -x "$BIN/$name" ] || [ "$BENCH_SRC/$name.c" -nt "$BIN/$name" ]; then
		gcc -O2 -Wall -Wextra -o "$BIN/$name" "$BENCH_SRC/$name.c" "$@" ||
			bdie "gcc $name.c failed"
	fi
}
build_tools() {
	build_tool sio-load
	build_tool fcgi-minimal -lfcgi
	build_tool bcrypt-rate -pthread -lcrypt
}

# Start a background process, remembering its pid in $BRUN/NAME.pid.
# The hard RLIMIT_NOFILE here may be low (no CAP_SYS_RESOURCE): raise
# the soft limit as far as the hard one allows.
bstart() {	# name command...
	local name=$1; shift
	bstop "$name"
	( ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@" ) \
		>"$BLOG/$name.log" 2>&1 &
	echo $! > "$BRUN/$name.pid"
}

# Stop what bstart started: SIGTERM, up to 10 s, then SIGKILL.
bstop() {	# name
	local pf=$BRUN/$1.pid pid i
	[ -f "$pf" ] || return 0
	pid=$(cat "$pf")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$pf"
}

bpid() { cat "$BRUN/$1.pid"; }

# Wait until host:port accepts TCP connections (up to $2 s).
wait_port() {	# port [secs]
	local i
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Sum of VmRSS (kB) over a list of pids.
rss_sum() {
	local s=0 p
	for p in "$@"; do s=$((s + $(rss_kb "$p"))); done
	echo "$s"
}

# Field NAME=value from a "RESULT ..." line.
field() {	# name line
	printf '%s\n' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# Run sio-load in idle mode, read the RSS of the server pids once all
# are connected, print "connected connects_per_s rss_before rss_after
# kb_per_conn client_cpu_s".  Extra args go to sio-load.
idle_rss() {	# "pids" port n [sio-load args...]
	local pids=$1 port=$2 n=$3; shift 3
	local out=$BLOG/idle-$port.out before after res conn i
	before=$(rss_sum $pids)
	rm -f "$out"	# a stale READY must not be read as this run's
	"$BIN/sio-load" -m idle -p "$port" -n "$n" -d "${IDLE_HOLD:-3}" \
		-T "${IDLE_TIMEOUT:-120}" -j "${LOAD_PROCS:-2}" -Q "$@" >"$out" 2>&1 &
	local lp=$!
	for ((i = 0; i < (${IDLE_TIMEOUT:-120} + 20) * 10; i++)); do
		grep -q '^READY' "$out" && break
		kill -0 "$lp" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1	# let the server settle (free handshake buffers)
	after=$(rss_sum $pids)
	wait "$lp"
	res=$(grep '^RESULT' "$out")
	conn=$(field connected "$res")
	[ -n "$conn" ] || { cat "$out" >&2; bdie "sio-load idle failed"; }
	awk -v c="$conn" -v r="$(field connects_per_s "$res")" -v b="$before" \
	    -v a="$after" -v cpu="$(field client_cpu_s "$res")" 'BEGIN {
		printf "%d %d %d %d %.1f %s\n", c, r, b, a,
		    (c > 0 ? (a - b) / c : 0), cpu }'
}

# CPU seconds (user+sys) a process has used so far.
cpu_s() {	# pid
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' \
		"/proc/$1/stat" 2>/dev/null || echo 0
}
