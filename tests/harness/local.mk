# The test harness: real peers on loopback (docs/architecture.md). Built
# for the tests and for demo/tether-demo, never installed; each piece has
# its own Check suite.
noinst_LTLIBRARIES += tests/harness/libharness.la
tests_harness_libharness_la_SOURCES = \
	tests/harness/net.c tests/harness/net.h \
	tests/harness/proxy.c tests/harness/proxy.h \
	tests/harness/broker.c tests/harness/broker.h \
	tests/harness/mqtt_peer.c tests/harness/mqtt_peer.h \
	tests/harness/ws_server.c tests/harness/ws_server.h \
	tests/harness/ws_server-int.h tests/harness/ws_resume.c \
	tests/harness/ws_history.c tests/harness/ws_history.h \
	tests/harness/ws_gen.c \
	tests/harness/tls.c tests/harness/tls.h \
	tests/harness/haproxy.c tests/harness/haproxy.h
tests_harness_libharness_la_CFLAGS = $(AM_CFLAGS) $(LWS_CFLAGS)
# -lssl: ws_server.c hands lws a client SSL_CTX of its own (see there)
tests_harness_libharness_la_LIBADD = $(LWS_LIBS) -lssl $(PTHREAD_LIBS)

HARNESS_SUITES = \
	tests/check_proxy \
	tests/check_broker \
	tests/check_mqtt_peer \
	tests/check_ws_server

if HAVE_CHECK
check_PROGRAMS += $(HARNESS_SUITES)
TESTS += $(HARNESS_SUITES)
endif

HARNESS_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -I$(top_srcdir)/tests/harness
HARNESS_LDADD = tests/harness/libharness.la $(CHECK_LIBS) $(PAHO_LIBS) $(LWS_LIBS) $(PTHREAD_LIBS) -lm

tests_check_proxy_SOURCES = tests/check_proxy.c tests/check-int.h
tests_check_proxy_CFLAGS = $(HARNESS_CFLAGS)
tests_check_proxy_LDADD = $(HARNESS_LDADD)
tests_check_broker_SOURCES = tests/check_broker.c tests/harness/paho_client.c tests/harness/paho_client.h tests/check-int.h
tests_check_broker_CFLAGS = $(HARNESS_CFLAGS)
tests_check_broker_LDADD = $(HARNESS_LDADD)
tests_check_mqtt_peer_SOURCES = tests/check_mqtt_peer.c tests/harness/paho_client.c tests/harness/paho_client.h tests/check-int.h
tests_check_mqtt_peer_CFLAGS = $(HARNESS_CFLAGS)
tests_check_mqtt_peer_LDADD = $(HARNESS_LDADD)
tests_check_ws_server_SOURCES = tests/check_ws_server.c tests/check-int.h
tests_check_ws_server_CFLAGS = $(HARNESS_CFLAGS) $(LWS_CFLAGS)
tests_check_ws_server_LDADD = $(HARNESS_LDADD)

# A fault proxy to run by hand: tests/harness/faultproxy --help
check_PROGRAMS += tests/harness/faultproxy
tests_harness_faultproxy_SOURCES = tests/harness/faultproxy.c
tests_harness_faultproxy_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/tests/harness
tests_harness_faultproxy_LDADD = tests/harness/libharness.la $(PTHREAD_LIBS)

# The WebSocket test server to run from scripts: tests/harness/wsserver --help
check_PROGRAMS += tests/harness/wsserver
tests_harness_wsserver_SOURCES = tests/harness/wsserver.c
tests_harness_wsserver_CFLAGS = $(AM_CFLAGS) $(LWS_CFLAGS) -I$(top_srcdir)/tests/harness
tests_harness_wsserver_LDADD = tests/harness/libharness.la $(LWS_LIBS) $(PTHREAD_LIBS)
