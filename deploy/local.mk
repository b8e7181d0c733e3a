# deploy/local.mk: stack scripts shipped in the tarball.
