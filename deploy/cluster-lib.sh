# deploy/cluster-lib.sh: the functions of deploy/cluster, one group per
# kind of simulated host (network, redis, db, app, edge).  Sourced by
# deploy/cluster after common.sh, not run.  deploy/cluster's top comment
# gives the address plan; every name made here starts with "$PFX-".
# shellcheck shell=bash

# --- processes ---------------------------------------------------------------

# Is pid $1 running?  Not a zombie: what we start outlives this script and
# is reaped by init, which may take a second or two after a kill -9, and
# kill -0 succeeds on a zombie.  (Overrides common.sh's pid_alive and
# stop_pid, which use kill -0 alone.)
proc_alive() {
	local s
	kill -0 "$1" 2>/dev/null || return 1
	s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$s" ] && [ "$s" != Z ]
}
pid_alive() { [ -f "$1" ] && proc_alive "$(cat "$1")"; }

# The pid in pid file $1 if that process runs in host $2's namespace (so a
# stale file never names a stranger that got the pid).
host_pid() {	# pidfile host
	local pid
	pid_alive "$1" || return 1
	pid=$(cat "$1")
	[ "$(ip netns identify "$pid" 2>/dev/null)" = "$(ns_of "$2")" ] || return 1
	echo "$pid"
}

# Stop the process named in pid file $1: SIGTERM, wait up to $2 s, SIGKILL.
stop_pid() {
	local pf=$1 wait=${2:-10} pid i
	# The program may remove its pid file as it exits (nginx does).
	pid=$(cat "$pf" 2>/dev/null) || return 0
	if proc_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < wait * 10; i++)); do
			proc_alive "$pid" || break
			sleep 0.1
		done
		proc_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$pf"
}

# --- settings ----------------------------------------------------------------

# The stack's settings: the environment first, then what the last "up"
# saved in $CHAT_VAR/cluster.env, then the defaults below.
cluster_settings() {
	export CHAT_VAR=${CHAT_VAR:-$ROOT/var/cluster}
	local f=$CHAT_VAR/cluster.env line key val
	if [ -f "$f" ]; then
		while IFS= read -r line; do
			case "$line" in ''|'#'*) continue ;; esac
			key=${line%%=*}; val=${line#*=}
			[[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
			# Only what "up" chose; the test-facing URLs are derived.
			case "$key" in
			PORT|CLUSTER_*|JWT_*|ACCESS_TOKEN_TTL|REFRESH_TOKEN_TTL|\
			RATE_LIMIT_*|CORS_ORIGIN|FCGI_WORKERS|DB_USER|DB_PASS|\
			DB_NAME|UPLOAD_DIR|BUILD_DIR|REDIS_CLUSTER_PASSWORD) ;;
			*) continue ;;
			esac
			val=${val#\'}; val=${val%\'}; val=${val//\'\\\'\'/\'}
			[ -z "${!key+x}" ] && export "$key=$val"
		done < "$f"
	fi
	export CLUSTER_SUBNET=${CLUSTER_SUBNET:-10.231.0.0/24}
	[[ "$CLUSTER_SUBNET" =~ ^(10\.[0-9]+|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.[0-9]+\.0/24$ ]] ||
		die "CLUSTER_SUBNET must be a private A.B.C.0/24 ($CLUSTER_SUBNET)"
	NET=${CLUSTER_SUBNET%.0/24}
	export CLUSTER_APP_HOSTS=${CLUSTER_APP_HOSTS:-3}
	[[ "$CLUSTER_APP_HOSTS" =~ ^[1-9][0-9]?$ ]] && [ "$CLUSTER_APP_HOSTS" -le 30 ] ||
		die "CLUSTER_APP_HOSTS must be 1..30"
	export CLUSTER_REDIS_MODE=${CLUSTER_REDIS_MODE:-cluster}
	case "$CLUSTER_REDIS_MODE" in cluster|single) ;;
	*) die "CLUSTER_REDIS_MODE must be cluster or single" ;; esac
	# Names of our namespaces, veths and bridge: unique per CHAT_VAR, at
	# most 8 characters so "$PFX-redis6" fits IFNAMSIZ (15).
	PFX=${CLUSTER_PREFIX:-cl$(printf '%s' "$CHAT_VAR" | md5sum | cut -c1-5)}
	[[ "$PFX" =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "CLUSTER_PREFIX must be [a-z][a-z0-9]{0,7}"
	export CLUSTER_PREFIX=$PFX
	BRIDGE=$PFX-br
	EDGE_ADDR=$NET.1
	export FCGI_WORKERS=${FCGI_WORKERS:-4}
	# Every host has an address of its own: the same ports on each.
	export PORT=${PORT:-3000}
	export DB_PORT=$((PORT + 1))
	export REDIS_PORT=$((PORT + 2))
	FCGI_PORT=$((PORT + 3))
	FCGI_MPORT=$((PORT + 5))
	export RT_PORT_BASE=$((PORT + 10))
	[ "$PORT" -le 55000 ] || die "PORT must leave room for Redis's bus port (+10000)"
	export DB_HOST=$NET.61 DB_READ_HOST=$NET.62 DB_READ_PORT=$DB_PORT
	unset REDIS_URL LISTEN_ADDR
	set_defaults
	export LISTEN_ADDR=127.0.0.1 REALTIME_NODES=$CLUSTER_APP_HOSTS
	export TRUSTED_PROXIES=127.0.0.1
	export RATE_LIMIT_DEFAULT=${RATE_LIMIT_DEFAULT:-10/60}
	export RATE_LIMIT_AUTH=${RATE_LIMIT_AUTH:-5/60}
	export RATE_LIMIT_REFRESH=${RATE_LIMIT_REFRESH:-10/60}
	export ACCESS_TOKEN_TTL=${ACCESS_TOKEN_TTL:-900}
	export REFRESH_TOKEN_TTL=${REFRESH_TOKEN_TTL:-604800}
	CLUSTER_HOME=${CLUSTER_HOME:-/var/lib/chat/cluster-$(printf '%s' "$CHAT_VAR" | md5sum | cut -c1-12)}
	REDIS_SEEDS=""
	local j
	for j in 1 2 3 4 5 6; do
		REDIS_SEEDS+="${REDIS_SEEDS:+,}$(redis_addr "$j"):$REDIS_PORT"
	done
	if [ "$CLUSTER_REDIS_MODE" = cluster ]; then
		export REDIS_CLUSTER=$REDIS_SEEDS
		unset REDIS_URL
	else
		unset REDIS_CLUSTER
		REDIS_URL=redis://${REDIS_CLUSTER_PASSWORD:+:$REDIS_CLUSTER_PASSWORD@}$(redis_addr 1):$REDIS_PORT
		export REDIS_URL
	fi
	# The nodes ask for it (requirepass, and masterauth between them);
	# both programs read it with REDIS_CLUSTER.  Empty: no password.
	export REDIS_CLUSTER_PASSWORD=${REDIS_CLUSTER_PASSWORD:-}
}

app_addr() { printf '%s.%d' "$NET" $((10 + $1)); }
redis_addr() { printf '%s.%d' "$NET" $((50 + $1)); }
db_addr() { printf '%s.%d' "$NET" $((60 + $1)); }
ns_of() { printf '%s-%s' "$PFX" "$1"; }

# The hosts of this stack, by short name.
all_hosts() {
	local i
	for ((i = 1; i <= CLUSTER_APP_HOSTS; i++)); do echo "app$i"; done
	if [ "$CLUSTER_REDIS_MODE" = cluster ]; then
		for i in 1 2 3 4 5 6; do echo "redis$i"; done
	else
		echo redis1
	fi
	echo db1; echo db2
}
host_addr() {
	case $1 in
	app*) app_addr "${1#app}" ;;
	redis*) redis_addr "${1#redis}" ;;
	db*) db_addr "${1#db}" ;;
	esac
}

# --- network -----------------------------------------------------------------

# Our namespaces that exist now (also those a crashed run left).
our_netns() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PFX-[a-z]+[0-9]+\$" || true
}
# Our links in the root namespace (bridge and veth ends).
our_links() {
	ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
		grep -E "^$PFX-" || true
}

net_bridge() {
	local other
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		other=$(ip -o -4 addr show to "$CLUSTER_SUBNET" 2>/dev/null | awk '{print $2}' | head -1)
		[ -z "$other" ] || die "$CLUSTER_SUBNET is already on $other; choose another CLUSTER_SUBNET"
		ip link add "$BRIDGE" type bridge
		ip addr add "$EDGE_ADDR/24" dev "$BRIDGE"
	fi
	ip link set "$BRIDGE" up
}

# One namespace with lo up and eth0 (a veth whose other end, named like
# the namespace, is on the bridge) holding addr/24.
net_host() {	# host addr
	local ns veth
	ns=$(ns_of "$1"); veth=$ns
	[ -e "/run/netns/$ns" ] || ip netns add "$ns"
	if ! ip link show "$veth" >/dev/null 2>&1; then
		ip -n "$ns" link del eth0 2>/dev/null || true
		ip link add "$veth" type veth peer name eth0 netns "$ns"
	fi
	ip link set "$veth" master "$BRIDGE" up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr replace "$2/24" dev eth0
	ip -n "$ns" link set eth0 up
}

net_up() {
	local h
	mkdir -p /run/netns
	net_bridge
	for h in $(all_hosts); do
		net_host "$h" "$(host_addr "$h")"
	done
}

# Kill what is still running in our namespaces (after the orderly stops,
# or after a crash left them), then remove namespaces, veths and bridge.
net_down() {
	local ns pids l
	for ns in $(our_netns); do
		pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		if [ -n "${pids// /}" ]; then
			log "killing what is left in $ns: $pids"
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null || true
		fi
	done
	for ns in $(our_netns); do
		ip netns del "$ns" 2>/dev/null || log "could not remove namespace $ns"
	done
	for l in $(our_links); do
		ip link del "$l" 2>/dev/null || true
	done
}

# Run a command in host h's namespace, in the background, with its log and
# pid file ("ip netns exec" execs it: $! is the program's pid).
ns_bg() {	# host name command...
	local h=$1 name=$2
	shift 2
	raise_nofile
	nohup ip netns exec "$(ns_of "$h")" "$@" >>"$LOGDIR/$name.log" 2>&1 </dev/null &
	echo $! > "$RUN/$name.pid"
}

# Wait up to $3 s until addr:port accepts a connection.
wait_addr() {	# addr port [seconds]
	local i
	for ((i = 0; i < ${3:-10} * 20; i++)); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# --- redis -------------------------------------------------------------------

# redis-cli with the nodes' password, if any (an empty REDISCLI_AUTH is
# still sent as AUTH "", which a node without a password refuses).
rcli_auth() {
	if [ -n "${REDIS_CLUSTER_PASSWORD:-}" ]; then
		REDISCLI_AUTH=$REDIS_CLUSTER_PASSWORD redis-cli "$@"
	else
		env -u REDISCLI_AUTH redis-cli "$@"
	fi
}
rc_at() { rcli_auth -h "$1" -p "$REDIS_PORT" "${@:2}"; }

redis_start() {	# j
	local j=$1 dir=$CHAT_VAR/redis/redis$1 args
	pid_alive "$RUN/redis$j.pid" && return 0
	mkdir -p "$dir"
	args=(--bind "$(redis_addr "$j")" --port "$REDIS_PORT" --protected-mode no
		--save '' --appendonly no --daemonize no --dir "$dir"
		--maxclients 20000)
	if [ -n "${REDIS_CLUSTER_PASSWORD:-}" ]; then
		args+=(--requirepass "$REDIS_CLUSTER_PASSWORD" --masterauth "$REDIS_CLUSTER_PASSWORD")
	fi
	if [ "$CLUSTER_REDIS_MODE" = cluster ]; then
		args+=(--cluster-enabled yes --cluster-config-file "$dir/nodes.conf"
			--cluster-node-timeout "${CLUSTER_NODE_TIMEOUT:-2000}")
	fi
	ns_bg "redis$j" "redis$j" redis-server "${args[@]}"
	wait_addr "$(redis_addr "$j")" "$REDIS_PORT" 10 ||
		{ show_tail "$LOGDIR/redis$j.log"; die "redis$j did not start"; }
}

# cluster_state of the first node that answers, or "down".
redis_state() {
	local j s
	for j in 1 2 3 4 5 6; do
		s=$(rc_at "$(redis_addr "$j")" cluster info 2>/dev/null |
			tr -d '\r' | sed -n 's/^cluster_state://p')
		[ -n "$s" ] && { echo "$s"; return 0; }
	done
	echo down
}

# The cluster's masters: "addr:port slots pid-file-host" lines, for masters
# not flagged as failed, by the first node that answers.
redis_masters() {
	local j out
	for j in 1 2 3 4 5 6; do
		out=$(rc_at "$(redis_addr "$j")" cluster nodes 2>/dev/null | tr -d '\r') || continue
		[ -n "$out" ] || continue
		printf '%s\n' "$out" | awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {
			n = 0
			for (i = 9; i <= NF; i++) {
				if ($i ~ /^\[/) continue
				split($i, r, "-")
				n += (r[2] == "" ? 1 : r[2] - r[1] + 1)
			}
			split($2, a, "@")
			print a[1], n
		}'
		return 0
	done
}

# How many replicas the cluster counts (by the first node that answers).
redis_replicas() {
	local j out
	for j in 1 2 3 4 5 6; do
		out=$(rc_at "$(redis_addr "$j")" cluster nodes 2>/dev/null | tr -d '\r') || continue
		[ -n "$out" ] || continue
		printf '%s\n' "$out" | awk '$3 ~ /slave/ && $3 !~ /fail/' | wc -l
		return 0
	done
	echo 0
}

redis_up() {
	local j any=0 addrs=() i mf=$RUN/redis-mode
	# Another mode (single or cluster) than the running nodes': stop them.
	if [ -f "$mf" ] && [ "$(cat "$mf")" != "$CLUSTER_REDIS_MODE" ]; then
		log "Redis mode changes to $CLUSTER_REDIS_MODE: stopping the $(cat "$mf") nodes"
		for j in 1 2 3 4 5 6; do stop_pid "$RUN/redis$j.pid" 10; done
	fi
	echo "$CLUSTER_REDIS_MODE" > "$mf"
	for j in $(all_hosts | sed -n 's/^redis//p'); do
		pid_alive "$RUN/redis$j.pid" && any=1
	done
	# Nothing persists: with no node running, a new cluster is made
	# (also without the dump.rdb a replica's full sync leaves).
	if [ "$any" = 0 ]; then
		rm -rf "$CHAT_VAR"/redis/redis[1-6]
	fi
	for j in $(all_hosts | sed -n 's/^redis//p'); do
		redis_start "$j"
		addrs+=("$(redis_addr "$j"):$REDIS_PORT")
	done
	[ "$CLUSTER_REDIS_MODE" = cluster ] || return 0
	if [ "$any" = 0 ]; then
		log "creating the Redis Cluster (3 masters, 3 replicas)"
		run_step "redis-cli --cluster create" "$LOGDIR/redis-create.log" \
			rcli_auth --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes
	fi
	for ((i = 0; i < 300; i++)); do
		[ "$(redis_state)" = ok ] && [ "$(redis_masters | wc -l)" -ge 3 ] &&
			[ "$(redis_replicas)" -ge 3 ] && return 0
		sleep 0.1
	done
	die "the Redis Cluster is not ok after 30 s (state $(redis_state))"
}

# --- db (PostgreSQL primary db1, hot standby db2) ----------------------------

pg_data() { printf '%s/%s/data' "$CLUSTER_HOME" "$1"; }
pg_sock() { printf '%s/%s/sock' "$CLUSTER_HOME" "$1"; }
pg_log() { printf '%s/%s/postgres.log' "$CLUSTER_HOME" "$1"; }
ns_postgres() {	# host command...
	local ns
	ns=$(ns_of "$1"); shift
	( cd / && ip netns exec "$ns" runuser -u postgres -- "$@" )
}
pg_pid() {	# host: the postmaster's pid, if it runs
	local pf pid
	pf=$(pg_data "$1")/postmaster.pid
	[ -f "$pf" ] || return 1
	pid=$(head -1 "$pf")
	proc_alive "$pid" || return 1
	echo "$pid"
}
psql_at() {	# host psql-args...
	PGPASSWORD=$DB_PASS psql -X -q -h "$(db_addr "${1#db}")" -p "$DB_PORT" \
		-U "$DB_USER" -d "$DB_NAME" "${@:2}"
}

pg_prepare() {	# host
	install -d -o postgres -g postgres -m 700 "$CLUSTER_HOME" "$CLUSTER_HOME/$1"
	install -d -o postgres -g postgres -m 755 "$(pg_sock "$1")"
	as_postgres touch "$(pg_log "$1")"
	ln -sfn "$(pg_log "$1")" "$LOGDIR/$1.log"
}

pg_start() {	# host
	local h=$1
	pg_pid "$h" >/dev/null && return 0
	log "starting PostgreSQL $h on $(host_addr "$h"):$DB_PORT"
	if ! ns_postgres "$h" "$PG_BIN/pg_ctl" -D "$(pg_data "$h")" -w -t 60 \
		-l "$(pg_log "$h")" -o "-p $DB_PORT -k $(pg_sock "$h") \
		-c listen_addresses=$(host_addr "$h")" start >"$LOGDIR/pg_ctl-$h.log" 2>&1; then
		show_tail "$LOGDIR/pg_ctl-$h.log" 10
		show_tail "$(pg_log "$h")"
		die "PostgreSQL $h did not start"
	fi
}

db1_up() {
	local data pwf rc=0
	data=$(pg_data db1)
	pg_prepare db1
	if [ ! -f "$data/PG_VERSION" ]; then
		log "initialising PostgreSQL db1 in $data"
		rm -rf "$data"
		pwf=$(mktemp); printf '%s\n' "$DB_PASS" > "$pwf"; chmod 644 "$pwf"
		as_postgres "$PG_BIN/initdb" -D "$data" -U "$DB_USER" \
			--pwfile="$pwf" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 \
			>"$LOGDIR/initdb.log" 2>&1 || rc=$?
		rm -f "$pwf"
		[ "$rc" -eq 0 ] || { show_tail "$LOGDIR/initdb.log"; die "initdb failed (exit $rc)"; }
		# Settings both servers share (the standby copies this file);
		# address and port are given per server on pg_ctl's command line.
		cat >>"$data/postgresql.conf" <<-EOF
		# deploy/cluster
		max_connections = 300
		shared_buffers = 128MB
		synchronous_commit = on
		wal_level = replica
		max_wal_senders = 10
		wal_keep_size = 512MB
		hot_standby = on
		hot_standby_feedback = on
		EOF
		cat >>"$data/pg_hba.conf" <<-EOF
		# deploy/cluster: the simulated hosts
		host	all		all		$CLUSTER_SUBNET	scram-sha-256
		host	replication	replicator	$CLUSTER_SUBNET	scram-sha-256
		EOF
	fi
	pg_start db1
	if ! psql_at db1 -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'replicator'" | grep -q 1; then
		psql_at db1 -d postgres -v pw="$DB_REPL_PASS" >/dev/null \
			<<<"CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw';"
	fi
	if ! psql_at db1 -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
		psql_at db1 -d postgres -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
	fi
	run_step "migrations (deploy/migrate against db1)" "$LOGDIR/migrate.log" \
		env DB_HOST="$(db_addr 1)" "$ROOT/deploy/migrate"
}

db2_up() {
	local data
	data=$(pg_data db2)
	pg_prepare db2
	if [ ! -f "$data/standby.signal" ]; then
		log "making the standby db2 (pg_basebackup -R from db1)"
		rm -rf "$data"
		run_step "pg_basebackup" "$LOGDIR/basebackup.log" ns_postgres db2 \
			pg_basebackup -D "$data" -R -X stream -c fast \
			-d "host=$(db_addr 1) port=$DB_PORT user=replicator password=$DB_REPL_PASS"
	fi
	pg_start db2
}

# One line on the standby: its state as db1 sees it and as db2 says.
db_replication() {
	local p s
	p=$(psql_at db1 -d postgres -tAc "SELECT state || ', ' ||
		pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) || ' bytes not replayed, replay_lag ' ||
		coalesce(round(extract(epoch FROM replay_lag) * 1000)::text || ' ms', '0')
		FROM pg_stat_replication WHERE application_name <> 'pg_basebackup'" 2>/dev/null | head -1)
	s=$(psql_at db2 -d postgres -tAc "SELECT CASE WHEN pg_is_in_recovery()
		THEN 'in recovery, wal receiver ' ||
		coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')
		ELSE 'NOT in recovery' END" 2>/dev/null)
	printf 'standby: db1 streams to it: %s; db2: %s\n' "${p:-no}" "${s:-down}"
}

# --- app hosts (chat-fcgi and chat-realtime) -----------------------------------

# The environment both programs get on every app host.
app_env() {
	export FCGI_WEB_SERVER_ADDRS=$EDGE_ADDR
	export DB_HOST DB_PORT DB_READ_HOST DB_READ_PORT DB_USER DB_PASS DB_NAME
	export UPLOAD_DIR JWT_SECRET JWT_REFRESH_SECRET CORS_ORIGIN
	export RATE_LIMIT_DEFAULT RATE_LIMIT_AUTH RATE_LIMIT_REFRESH
	export ACCESS_TOKEN_TTL REFRESH_TOKEN_TTL FCGI_WORKERS REALTIME_NODES PORT
}

fcgi_start() {	# i
	local a
	pid_alive "$RUN/app$1-fcgi.pid" && return 0
	a=$(app_addr "$1")
	ns_bg "app$1" "app$1-fcgi" "$FCGI_BIN" -s "$a:$FCGI_PORT" -m "$a:$FCGI_MPORT"
}
rt_start() {	# i (the node id)
	local a
	pid_alive "$RUN/app$1-realtime.pid" && return 0
	a=$(app_addr "$1")
	ns_bg "app$1" "app$1-realtime" "$RT_BIN" --node-id "$1" --bind "$a" \
		--port "$((RT_PORT_BASE + $1))" --metrics "$a:$((RT_PORT_BASE + 50 + $1))"
}
# Wait until app host i's two programs accept connections.
app_wait() {	# i
	local a
	a=$(app_addr "$1")
	wait_addr "$a" "$FCGI_PORT" 20 ||
		{ show_tail "$LOGDIR/app$1-fcgi.log"; die "chat-fcgi on app$1 does not answer"; }
	wait_addr "$a" "$((RT_PORT_BASE + $1))" 20 ||
		{ show_tail "$LOGDIR/app$1-realtime.log"; die "chat-realtime on app$1 does not answer"; }
}
app_up() {	# i
	app_env
	fcgi_start "$1"
	rt_start "$1"
}

# --- the edge (nginx in the root namespace) ----------------------------------

edge_up() {
	local i a fcgi_servers="" rt_upstreams rt_map real_ip="" ip conf workers
	for ((i = 1; i <= CLUSTER_APP_HOSTS; i++)); do
		fcgi_servers+="		server $(app_addr "$i"):$FCGI_PORT max_fails=0;
"
	done
	rt_upstreams="	upstream rt_all {
"
	rt_map="	map \$arg_sid \$rt_upstream {
		default	rt_all;
"
	for ((i = 1; i <= CLUSTER_APP_HOSTS; i++)); do
		a=$(app_addr "$i"):$((RT_PORT_BASE + i))
		rt_upstreams+="		server $a max_fails=0;
"
		rt_map+=$(printf '\t\t"~^%02x"\trt_%d;\n' "$i" "$i")$'\n'
	done
	rt_upstreams+="	}
"
	for ((i = 1; i <= CLUSTER_APP_HOSTS; i++)); do
		rt_upstreams+="	upstream rt_$i { server $(app_addr "$i"):$((RT_PORT_BASE + i)); }
"
	done
	rt_map+="	}"
	if [ ! -f "$ROOT/nginx/node_modules/socket.io-client/dist/socket.io.min.js" ]; then
		run_step "npm ci in nginx/" "$LOGDIR/npm-nginx.log" \
			sh -c "cd '$ROOT/nginx' && npm ci --no-audit --no-fund"
	fi
	for ip in ${TRUSTED_PROXIES//,/ }; do real_ip+="	set_real_ip_from $ip;
"; done
	raise_nofile
	workers=$(nproc); [ "$workers" -ge 4 ] || workers=4
	conf=$CHAT_VAR/nginx/nginx.conf
	# As deploy/up fills nginx/chat.conf.in.
	FCGI_SERVERS="$fcgi_servers" RT_UPSTREAMS="$rt_upstreams$rt_map" REAL_IP_FROM="$real_ip" awk \
		-v var="$CHAT_VAR" -v port="$PORT" -v listen="$LISTEN_ADDR" \
		-v public="$ROOT/nginx/public" -v uploads="$UPLOAD_DIR" \
		-v webdeps="$ROOT/nginx/node_modules" -v nofile="$NOFILE" \
		-v workers="$workers" '
		{
			if ($0 == "@RT_UPSTREAMS@") { print ENVIRON["RT_UPSTREAMS"]; next }
			if ($0 == "@FCGI_SERVERS@") { printf "%s", ENVIRON["FCGI_SERVERS"]; next }
			if ($0 == "@REAL_IP_FROM@") { printf "%s", ENVIRON["REAL_IP_FROM"]; next }
			gsub(/@VAR@/, var); gsub(/@PORT@/, port); gsub(/@LISTEN@/, listen)
			gsub(/@PUBLIC@/, public); gsub(/@UPLOAD_DIR@/, uploads)
			gsub(/@NGINX_USER@/, "root"); gsub(/@WEBDEPS@/, webdeps)
			gsub(/@NOFILE@/, nofile); gsub(/@NGINX_WORKERS@/, workers)
			gsub(/@WORKER_CONNECTIONS@/, nofile > 1088 ? nofile - 64 : int(nofile / 2))
			print
		}' "$ROOT/nginx/chat.conf.in" > "$conf.new"
	mv "$conf.new" "$conf"
	nginx -t -q -c "$conf" -p "$CHAT_VAR/nginx" 2>"$LOGDIR/nginx-check.log" ||
		{ cat "$LOGDIR/nginx-check.log" >&2; die "nginx config is invalid"; }
	if pid_alive "$RUN/nginx.pid"; then
		run_step "nginx reload" "$LOGDIR/nginx-start.log" \
			nginx -c "$conf" -p "$CHAT_VAR/nginx" -s reload
	else
		log "starting the edge (nginx) on $LISTEN_ADDR:$PORT"
		run_step "nginx" "$LOGDIR/nginx-start.log" nginx -c "$conf" -p "$CHAT_VAR/nginx"
	fi
}

# --- the env file for tests ----------------------------------------------------

q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

write_env() {
	local f=$CHAT_VAR/cluster.env i rt="" rtm="" fm="" apps=""
	for ((i = 1; i <= CLUSTER_APP_HOSTS; i++)); do
		rt+="${rt:+,}http://$(app_addr "$i"):$((RT_PORT_BASE + i))"
		rtm+="${rtm:+,}http://$(app_addr "$i"):$((RT_PORT_BASE + 50 + i))/metrics"
		fm+="${fm:+,}http://$(app_addr "$i"):$FCGI_MPORT/metrics"
		apps+="${apps:+,}$(app_addr "$i")"
	done
	{
		echo "# deploy/cluster up: this stack, for tests (set -a; . this file)."
		for kv in "CHAT_URL=http://$LISTEN_ADDR:$PORT" "CHAT_RT_URLS=$rt" \
			"RT_METRICS_URLS=$rtm" "FCGI_METRICS_URL=$fm" \
			"CHAT_ROOT=$ROOT" "CHAT_VAR=$CHAT_VAR" "BUILD_DIR=$BUILD_DIR" \
			"CLUSTER_CMD=$ROOT/deploy/cluster" "CLUSTER_APP_ADDRS=$apps" \
			"PORT=$PORT" "CLUSTER_SUBNET=$CLUSTER_SUBNET" \
			"CLUSTER_PREFIX=$PFX" "CLUSTER_APP_HOSTS=$CLUSTER_APP_HOSTS" \
			"CLUSTER_REDIS_MODE=$CLUSTER_REDIS_MODE" \
			"REDIS_CLUSTER=${REDIS_CLUSTER:-}" "REDIS_URL=${REDIS_URL:-}" \
			"REDIS_SEEDS=$REDIS_SEEDS" "REDIS_CLUSTER_PASSWORD=$REDIS_CLUSTER_PASSWORD" \
			"DB_HOST=$DB_HOST" "DB_PORT=$DB_PORT" "DB_READ_HOST=$DB_READ_HOST" \
			"DB_READ_PORT=$DB_READ_PORT" "DB_USER=$DB_USER" "DB_PASS=$DB_PASS" \
			"DB_NAME=$DB_NAME" "UPLOAD_DIR=$UPLOAD_DIR" \
			"JWT_SECRET=$JWT_SECRET" "JWT_REFRESH_SECRET=$JWT_REFRESH_SECRET" \
			"ACCESS_TOKEN_TTL=$ACCESS_TOKEN_TTL" "REFRESH_TOKEN_TTL=$REFRESH_TOKEN_TTL" \
			"RATE_LIMIT_DEFAULT=$RATE_LIMIT_DEFAULT" "RATE_LIMIT_AUTH=$RATE_LIMIT_AUTH" \
			"RATE_LIMIT_REFRESH=$RATE_LIMIT_REFRESH" "CORS_ORIGIN=$CORS_ORIGIN" \
			"FCGI_WORKERS=$FCGI_WORKERS"; do
			printf '%s=%s\n' "${kv%%=*}" "$(q "${kv#*=}")"
		done
	} > "$f.new"
	chmod 600 "$f.new"
	mv "$f.new" "$f"
}
