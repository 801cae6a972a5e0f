# Everything goes into one convenience library: the installed libtether is
# built from it (exporting only TETHER_EXPORT symbols) and the unit suites
# link it statically to reach the internal modules.
noinst_LTLIBRARIES += libtether-internal.la
libtether_internal_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(YAML_CFLAGS) $(LWS_CFLAGS) $(UV_CFLAGS)
libtether_internal_la_LIBADD = $(YAML_LIBS) $(UV_LIBS) $(PTHREAD_LIBS)
libtether_internal_la_SOURCES = \
	core/errors.c \
	core/reason.c core/reason-int.h \
	core/rng.c \
	core/params.c core/params_get.c core/params-int.h core/params_yaml.c \
	core/timer_heap.c core/timer_heap-int.h \
	core/queue.c core/queue-int.h \
	core/spool.c core/spool_open.c core/spool-int.h \
	core/limiter.c core/limiter-int.h \
	core/machine.c core/machine-int.h \
	core/engine.c core/engine-int.h core/coord.c \
	core/sim.c \
	core/loop.c core/mailbox.c core/mailbox-int.h core/report.c \
	core/conn.c core/conn_io.c core/heartbeat.c core/mgr-int.h \
	core/reload.c core/outbox.c core/conn_coord.c \
	core/metrics.c \
	core/linkmon.c core/linkmon-int.h \
	core/registry.c core/registry-int.h core/builtins.c \
	core/policy_registry.c core/transport_registry.c \
	core/secret.c core/secret-int.h \
	core/config.c core/config_conn.c core/config_apply.c core/config_dump.c \
	core/config-int.h \
	core/util-int.h

# The built-in policies and transports are plug-ins like a third party's:
# they build against include/ alone (config.h aside), in a library of
# their own whose include path has no core/, so a core header does not
# compile there; tests/plugins_include_only.sh catches a header named by
# path ("../core/..."), which no include path can stop.
noinst_LTLIBRARIES += libtether-plugins.la
libtether_plugins_la_CPPFLAGS = -I$(top_srcdir)/include -I$(top_builddir)
libtether_plugins_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(LWS_CFLAGS) $(UV_CFLAGS)
libtether_plugins_la_SOURCES =
libtether_plugins_la_LIBADD =
libtether_internal_la_LIBADD += libtether-plugins.la

lib_LTLIBRARIES += libtether.la
libtether_la_SOURCES =
libtether_la_LIBADD = libtether-internal.la
libtether_la_LDFLAGS = $(AM_LDFLAGS) -version-info $(TETHER_LT_VERSION) -no-undefined

tetherincludedir = $(includedir)/tether
tetherinclude_HEADERS = \
	include/tether/tether.h \
	include/tether/policy.h \
	include/tether/sim.h \
	include/tether/config.h \
	include/tether/transport.h
