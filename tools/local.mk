bin_PROGRAMS += tools/tether
# tether demo runs the test harness's real peers (fault proxy, WebSocket
# server, mosquitto), so their sources are built into the tool too.
tools_tether_SOURCES = tools/tether.c tools/simulate.c tools/config_cmds.c \
	tools/demo.c tools/cli-int.h \
	tests/harness/net.c tests/harness/net.h \
	tests/harness/proxy.c tests/harness/proxy.h \
	tests/harness/broker.c tests/harness/broker.h \
	tests/harness/ws_server.c tests/harness/ws_server.h \
	tests/harness/ws_server-int.h tests/harness/ws_resume.c \
	tests/harness/ws_history.c tests/harness/ws_history.h
tools_tether_CPPFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/tests/harness $(LWS_CFLAGS)
# -lssl: ws_server.c hands lws a client SSL_CTX of its own (see there)
tools_tether_LDADD = libtether.la -lm $(LWS_LIBS) -lssl $(PTHREAD_LIBS)
