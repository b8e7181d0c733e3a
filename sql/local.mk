# sql/local.mk: migrations shipped in the tarball (applied by deploy/migrate).
EXTRA_DIST += sql
