bin_PROGRAMS += tools/tether
tools_tether_SOURCES = tools/tether.c tools/simulate.c tools/config_cmds.c tools/metrics_http.c tools/escape.c tools/cli-int.h
tools_tether_CPPFLAGS = -I$(top_srcdir)/include
tools_tether_LDADD = libtether.la -lm $(PTHREAD_LIBS)
