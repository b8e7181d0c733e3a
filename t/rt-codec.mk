# t/rt-codec.mk: build rules for this part (see Makefile.am).
