EXTRA_DIST += examples/policy.yaml
noinst_PROGRAMS += examples/storm
examples_storm_SOURCES = examples/storm.c
examples_storm_CPPFLAGS = -I$(top_srcdir)/include
examples_storm_LDADD = libtether.la
