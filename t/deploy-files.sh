#!/usr/bin/env bash
# t/deploy-files.sh: the deployment files a sysadmin uses are valid:
# systemd units (systemd-analyze verify), the production nginx config and
# the container's nginx config (nginx -t), with paths pointed at this
# build.  Usage: t/deploy-files.sh BUILD_DIR.  Prints TAP.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$ROOT/build}
tmp=$(mktemp -d)
cp /etc/nginx/fastcgi_params /etc/nginx/mime.types "$tmp"/
trap 'rm -rf "$tmp"' EXIT
n=0 fail=0
check() {	# description command...
	local what=$1; shift
	n=$((n + 1))
	if "$@" >"$tmp/out" 2>&1; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"; sed 's/^/# /' "$tmp/out"; fail=$((fail + 1))
	fi
}
echo "1..3"

# systemd: verify the units with ExecStart pointing at the built programs.
mkdir -p "$tmp/units"
for u in "$ROOT"/deploy/systemd/*.service "$ROOT"/deploy/systemd/*.target; do
	sed -e "s|/usr/local/bin/chat-fcgi|$build/fcgi/chat-fcgi|" \
	    -e "s|/usr/local/bin/chat-realtime|$build/realtime/chat-realtime|" \
	    "$u" > "$tmp/units/$(basename "$u")"
done
verify_units() {
	local out
	out=$(cd "$tmp/units" && systemd-analyze verify --man=no ./*.service ./*.target 2>&1)
	echo "$out"
	[ -z "$out" ]
}
check "systemd units pass systemd-analyze verify" verify_units

# Production nginx: a throwaway certificate, paths moved into $tmp.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=chat.example.com \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
sed -e "s|/etc/letsencrypt/live/chat.example.com/fullchain.pem|$tmp/cert.pem|" \
    -e "s|/etc/letsencrypt/live/chat.example.com/privkey.pem|$tmp/key.pem|" \
    "$ROOT/deploy/nginx/chat.conf" > "$tmp/site.conf"
cat > "$tmp/nginx.conf" <<EOC
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events {}
http { include /etc/nginx/mime.types; include $tmp/site.conf; }
EOC
check "deploy/nginx/chat.conf passes nginx -t" nginx -t -q -c "$tmp/nginx.conf" -p "$tmp"

# The container's nginx: service names resolved to loopback for the check.
sed -e 's/realtime[12]:/127.0.0.1:/g' -e 's/^user chat;/user root;/' \
    -e "s|/run/nginx.pid|$tmp/nginx2.pid|" "$ROOT/deploy/docker/nginx.conf" > "$tmp/docker.conf"
check "deploy/docker/nginx.conf passes nginx -t" nginx -t -q -c "$tmp/docker.conf" -p "$tmp"
exit $((fail > 0))
