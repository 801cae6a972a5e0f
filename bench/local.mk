# Benchmarks against the peers (docs/BENCHMARKS.md). Not built by `make`
# or `make check`: `make bench` builds them (it needs libmosquitto for the
# storm's peer). They link the internal library and the test harness's
# real peers (fault proxy, mosquitto launcher, lws server) like demo/.
BENCH_PROGS = bench/storm bench/throughput bench/scale bench/detect
EXTRA_PROGRAMS += $(BENCH_PROGS)
CLEANFILES += $(BENCH_PROGS)
EXTRA_DIST += docs/BENCHMARKS.md

BENCH_CPPFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/tests/harness \
	-I$(top_srcdir)/bench $(LWS_CFLAGS) $(UV_CFLAGS)
BENCH_COMMON = bench/bench.c bench/bench.h \
	tests/harness/net.c tests/harness/net.h \
	tests/harness/proxy.c tests/harness/proxy.h \
	tests/harness/broker.c tests/harness/broker.h \
	tests/harness/ws_server.c tests/harness/ws_server.h \
	tests/harness/ws_server-int.h tests/harness/ws_resume.c \
	tests/harness/ws_history.c tests/harness/ws_history.h
# -lssl: ws_server.c hands lws a client SSL_CTX of its own
BENCH_LDADD = libtether-internal.la $(PAHO_LIBS) $(LWS_LIBS) $(UV_LIBS) -lssl -lm \
	$(PTHREAD_LIBS)

# N clients of one kind (tether, Paho, libmosquitto, lws, the WebSocket
# floor), optionally in a child process of their own.
BENCH_FLEETS = bench/fleet.c bench/fleet.h bench/fleet_tether.c \
	bench/fleet_mqtt.c bench/fleet_lws.c bench/fleet_floor.c \
	bench/child.c bench/child.h

bench_storm_SOURCES = bench/storm.c bench/storm-int.h bench/storm_report.c \
	bench/syncount.c bench/syncount.h $(BENCH_FLEETS) $(BENCH_COMMON)
bench_storm_CPPFLAGS = $(BENCH_CPPFLAGS)
bench_storm_LDADD = $(BENCH_LDADD) $(MOSQUITTO_LIBS)

bench_throughput_SOURCES = bench/throughput.c $(BENCH_COMMON)
bench_throughput_CPPFLAGS = $(BENCH_CPPFLAGS)
bench_throughput_LDADD = $(BENCH_LDADD)

bench_scale_SOURCES = bench/scale.c $(BENCH_FLEETS) $(BENCH_COMMON)
bench_scale_CPPFLAGS = $(BENCH_CPPFLAGS)
bench_scale_LDADD = $(BENCH_LDADD) $(MOSQUITTO_LIBS)

bench_detect_SOURCES = bench/detect.c $(BENCH_FLEETS) $(BENCH_COMMON)
bench_detect_CPPFLAGS = $(BENCH_CPPFLAGS)
bench_detect_LDADD = $(BENCH_LDADD) $(MOSQUITTO_LIBS)

if HAVE_MOSQUITTO
bench: $(BENCH_PROGS)
else
bench:
	@echo "make bench: libmosquitto not found at configure time" \
	  "(apt-get install libmosquitto-dev, then configure again)" >&2; exit 1
endif
.PHONY: bench
