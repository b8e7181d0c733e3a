#!/usr/bin/env bash
# t/ps-cluster.sh: t/ps-test against a throwaway Redis Cluster (3 masters
# with a replica each, t/redis-cluster-up) on ports PS_CLUSTER_PORT..+5,
# with the slot move and the master kill of t/ps.c.  Skipped when
# PS_CLUSTER_PORT is unset (make check shares the machine: pick ports).
set -euo pipefail

if [ -z "${PS_CLUSTER_PORT:-}" ]; then
	echo "1..0 # SKIP PS_CLUSTER_PORT is not set"
	exit 0
fi
top=$(cd "$(dirname "$0")/.." && pwd)
# make runs this from the build tree, which holds t/ps-test; the source
# tree (top) holds t/ps-cluster-ctl, which t/ps-test runs by that path.
bin=$(pwd)/t/ps-test
dir=$(mktemp -d "${TMPDIR:-/tmp}/ps-cluster.XXXXXX")
trap '"$top/t/redis-cluster-up" down "$dir"; rm -rf "$dir"' EXIT
seeds=$(REDIS_CLUSTER_REPLICAS=1 "$top/t/redis-cluster-up" up \
	"$PS_CLUSTER_PORT" "$dir")
cd "$top"
REDIS_CLUSTER=$seeds PS_CLUSTER_DIR=$dir "$bin"
