# The demo (./scripts/demo.sh runs it): built with the tree, never
# installed. It runs the test harness's real peers (fault proxy, WebSocket
# server, mosquitto launcher), which stay out of installed binaries.
noinst_PROGRAMS += demo/tether-demo
demo_tether_demo_SOURCES = demo/tether-demo.c
demo_tether_demo_CPPFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/tests/harness
demo_tether_demo_LDADD = tests/harness/libharness.la libtether.la $(PTHREAD_LIBS)
