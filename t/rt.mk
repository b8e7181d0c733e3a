# t/rt.mk: build rules for this part (see Makefile.am).
