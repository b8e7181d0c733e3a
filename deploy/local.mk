# deploy/local.mk: the stack scripts, nginx template and CI entry in the tarball.
dist_noinst_SCRIPTS += deploy/up deploy/down deploy/test deploy/migrate deploy/restart \
	deploy/standby.sh \
	t/fuzz/run t/deploy-files.sh t/format-check .ci/run
EXTRA_DIST += deploy/common.sh nginx/chat.conf.in nginx/public \
	nginx/package.json nginx/package-lock.json deploy/systemd deploy/nginx \
	deploy/docker deploy/SCALING.md Dockerfile compose.yml docs
# deploy/cluster: the service on hosts simulated with network namespaces,
# its end-to-end run and its fault test.
dist_noinst_SCRIPTS += deploy/cluster t/cluster-e2e
EXTRA_DIST += deploy/cluster-lib.sh t/e2e/cluster-faults.test.mjs
