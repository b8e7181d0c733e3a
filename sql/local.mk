# sql/local.mk: migrations shipped in the tarball.
