# The core in layers, each a folder; a layer uses the ones above it in
# this list and never one below (tests/core_layers.sh checks the includes):
#   base     errors, parameters, secrets, the plug-in registries
#   sansio   the sans-I/O core: machine, engine, coordination, limiter,
#            timers, reasons, simulator
#   store    the message store: queue, spool
#   runtime  the loop, mailbox, connections, heartbeats, outbox, metrics,
#            link monitor, the loop's side of a reload
#   config   the configuration loader, and reloading a file
# Everything goes into one convenience library: the installed libtether is
# built from it (exporting only TETHER_EXPORT symbols) and the unit suites
# link it statically to reach the internal modules.
CORE_LAYERS = base sansio store runtime config
CORE_CPPFLAGS = -I$(top_srcdir)/core/base -I$(top_srcdir)/core/sansio \
	-I$(top_srcdir)/core/store -I$(top_srcdir)/core/runtime \
	-I$(top_srcdir)/core/config
noinst_LTLIBRARIES += libtether-internal.la
libtether_internal_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(YAML_CFLAGS) $(LWS_CFLAGS) $(UV_CFLAGS)
libtether_internal_la_LIBADD = $(YAML_LIBS) $(UV_LIBS) $(PTHREAD_LIBS)
libtether_internal_la_SOURCES = \
	core/base/errors.c core/base/log.c core/base/util-int.h core/base/rng.c \
	core/base/params.c core/base/params_get.c core/base/params_yaml.c \
	core/base/params-int.h core/base/secret.c core/base/secret-int.h \
	core/base/registry.c core/base/registry-int.h core/base/builtins.c \
	core/base/policy_registry.c core/base/transport_registry.c \
	core/sansio/reason.c core/sansio/reason-int.h \
	core/sansio/timer_heap.c core/sansio/timer_heap-int.h \
	core/sansio/limiter.c core/sansio/limiter-int.h \
	core/sansio/machine.c core/sansio/machine-int.h \
	core/sansio/engine.c core/sansio/engine-int.h core/sansio/coord.c \
	core/sansio/sim.c \
	core/store/queue.c core/store/queue-int.h \
	core/store/props.c core/store/props-int.h \
	core/store/spool.c core/store/spool_open.c core/store/spool-int.h \
	core/runtime/loop.c core/runtime/mailbox.c core/runtime/mailbox-int.h \
	core/runtime/report.c core/runtime/conn.c core/runtime/conn_io.c \
	core/runtime/heartbeat.c core/runtime/mgr-int.h \
	core/runtime/outbox.c core/runtime/conn_coord.c \
	core/runtime/metrics.c core/runtime/reload_live.c \
	core/runtime/settings.c core/runtime/settings-int.h \
	core/runtime/linkmon.c core/runtime/linkmon-int.h \
	core/config/config.c core/config/config_conn.c \
	core/config/config_apply.c core/config/config_dump.c \
	core/config/config-int.h core/config/reload.c

# The built-in policies and transports are plug-ins like a third party's:
# they build against include/ alone (config.h aside), in a library of
# their own whose include path has no core/, so a core header does not
# compile there; tests/plugins_include_only.sh catches a header named by
# path ("../core/..."), which no include path can stop.
noinst_LTLIBRARIES += libtether-plugins.la
libtether_plugins_la_CPPFLAGS = -I$(top_srcdir)/include -I$(top_builddir)
libtether_plugins_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(LWS_CFLAGS) $(UV_CFLAGS) \
	$(OPENSSL_CFLAGS)
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
