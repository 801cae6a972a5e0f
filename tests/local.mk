# One Check suite per module (unit tests on virtual time), plus CLI checks.
# check_config_scale and check_queue first: under valgrind they are the
# long ones (make valgrind runs two at a time, in this order).
UNIT_SUITES = \
	tests/check_config_scale \
	tests/check_queue \
	tests/check_errors \
	tests/check_reason \
	tests/check_rng \
	tests/check_params \
	tests/check_timer_heap \
	tests/check_spool \
	tests/check_limiter \
	tests/check_machine \
	tests/check_engine \
	tests/check_registry \
	tests/check_fixed \
	tests/check_exponential \
	tests/check_adaptive \
	tests/check_breaker \
	tests/check_sim \
	tests/check_mgr \
	tests/check_config \
	tests/check_config_files

if HAVE_CHECK
check_PROGRAMS += $(UNIT_SUITES)
# the integration suites (below) go first: they are the long ones
TESTS += $(INTEGRATION_SUITES) $(UNIT_SUITES)
endif
# Crash test for the spool: child processes killed with SIGKILL.
CRASH_SUITES = tests/spool_crash
if HAVE_CHECK
check_PROGRAMS += $(CRASH_SUITES)
TESTS += $(CRASH_SUITES)
endif
tests_spool_crash_SOURCES = tests/spool_crash.c tests/check-int.h
tests_spool_crash_CFLAGS = $(TEST_COMMON_CFLAGS) -I$(top_srcdir)/tests/harness
tests_spool_crash_LDADD = $(TEST_COMMON_LDADD) tests/harness/libharness.la
# The spool on a full disk: mounts a 1 MiB tmpfs (root; else SKIP, 77).
DISKFULL_SUITES = tests/check_spool_diskfull
if HAVE_CHECK
check_PROGRAMS += $(DISKFULL_SUITES)
TESTS += $(DISKFULL_SUITES)
endif
tests_check_spool_diskfull_SOURCES = tests/check_spool_diskfull.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_spool_diskfull_CFLAGS = $(ITEST_CFLAGS)
tests_check_spool_diskfull_LDADD = $(ITEST_LDADD)
# Integration suites: real peers (tests/harness) on loopback, real time.
# The longest first (make check -j2 runs tests in this order, and the
# short ones fill the other slot while check_zeroloss runs).
INTEGRATION_SUITES = tests/check_zeroloss tests/check_zeroloss_ws tests/check_mqtt \
	tests/check_coord tests/check_tls tests/check_ws tests/check_mqtt_gateway \
	tests/check_zeroloss_spool tests/check_link tests/check_metrics tests/check_reload \
	tests/check_ws_resume tests/check_transport_options tests/check_interop \
	tests/check_log tests/check_credentials \
	tests/check_tls_front tests/check_http_proxy tests/check_inbound
if HAVE_CHECK
check_PROGRAMS += $(INTEGRATION_SUITES)
endif
ITEST_CFLAGS = $(TEST_COMMON_CFLAGS) $(LWS_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/tests/harness
ITEST_LDADD = libtether-internal.la tests/harness/libharness.la $(CHECK_LIBS) $(PAHO_LIBS) $(LWS_LIBS) $(UV_LIBS) -lm
tests_check_ws_SOURCES = tests/check_ws.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_ws_CFLAGS = $(ITEST_CFLAGS)
tests_check_ws_LDADD = $(ITEST_LDADD)
# Interop: peers from Debian packages (python3-websockets, mosquitto-clients).
tests_check_interop_SOURCES = tests/check_interop.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_interop_CFLAGS = $(ITEST_CFLAGS) -I$(top_srcdir)/transports -DTTH_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_check_interop_LDADD = $(ITEST_LDADD)
EXTRA_DIST += tests/interop_ws_server.py
tests_check_ws_resume_SOURCES = tests/check_ws_resume.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_ws_resume_CFLAGS = $(ITEST_CFLAGS)
tests_check_ws_resume_LDADD = $(ITEST_LDADD)
tests_check_link_SOURCES = tests/check_link.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_link_CFLAGS = $(ITEST_CFLAGS)
tests_check_link_LDADD = $(ITEST_LDADD)
tests_check_mqtt_SOURCES = tests/check_mqtt.c tests/itest.c tests/itest.h tests/check-int.h \
	tests/harness/paho_client.c tests/harness/paho_client.h
tests_check_mqtt_CFLAGS = $(ITEST_CFLAGS)
tests_check_mqtt_LDADD = $(ITEST_LDADD)
tests_check_mqtt_gateway_SOURCES = tests/check_mqtt_gateway.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_mqtt_gateway_CFLAGS = $(ITEST_CFLAGS)
tests_check_mqtt_gateway_LDADD = $(ITEST_LDADD)
tests_check_credentials_SOURCES = tests/check_credentials.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_credentials_CFLAGS = $(ITEST_CFLAGS)
tests_check_credentials_LDADD = $(ITEST_LDADD)
tests_check_tls_front_SOURCES = tests/check_tls_front.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_tls_front_CFLAGS = $(ITEST_CFLAGS)
tests_check_tls_front_LDADD = $(ITEST_LDADD)
tests_check_http_proxy_SOURCES = tests/check_http_proxy.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_http_proxy_CFLAGS = $(ITEST_CFLAGS)
tests_check_http_proxy_LDADD = $(ITEST_LDADD)
tests_check_log_SOURCES = tests/check_log.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_log_CFLAGS = $(ITEST_CFLAGS)
tests_check_log_LDADD = $(ITEST_LDADD)
tests_check_inbound_SOURCES = tests/check_inbound.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_inbound_CFLAGS = $(ITEST_CFLAGS)
tests_check_inbound_LDADD = $(ITEST_LDADD)
tests_check_tls_SOURCES = tests/check_tls.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_tls_CFLAGS = $(ITEST_CFLAGS)
tests_check_tls_LDADD = $(ITEST_LDADD)
# The "echo" test transport builds against include/ alone, as a third
# party's would (tests/plugins_include_only.sh checks its includes too).
noinst_LTLIBRARIES += tests/libecho-transport.la
tests_libecho_transport_la_SOURCES = tests/echo_transport.c tests/echo_transport.h
tests_libecho_transport_la_CPPFLAGS = -I$(top_srcdir)/include -I$(top_builddir)
tests_libecho_transport_la_CFLAGS = $(AM_CFLAGS)
tests_check_transport_options_SOURCES = tests/check_transport_options.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_transport_options_CFLAGS = $(ITEST_CFLAGS)
tests_check_transport_options_LDADD = tests/libecho-transport.la $(ITEST_LDADD)
tests_check_reload_SOURCES = tests/check_reload.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_reload_CFLAGS = $(ITEST_CFLAGS)
tests_check_reload_LDADD = $(ITEST_LDADD)
tests_check_metrics_SOURCES = tests/check_metrics.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_metrics_CFLAGS = $(ITEST_CFLAGS)
tests_check_metrics_LDADD = $(ITEST_LDADD)
tests_check_coord_SOURCES = tests/check_coord.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_coord_CFLAGS = $(ITEST_CFLAGS)
tests_check_coord_LDADD = $(ITEST_LDADD)

TESTS += tests/cli_simulate.sh tests/cli_config.sh tests/cli_metrics.sh tests/cli_output.sh
TESTS += tests/cli_demo.sh tests/cli_run.sh
EXTRA_DIST += tests/cli_simulate.sh tests/cli_config.sh tests/cli_metrics.sh tests/cli_output.sh tests/ws_raw_peer.py
EXTRA_DIST += tests/cli_demo.sh tests/cli_run.sh
# The built-in plug-ins include no core header (see core/local.mk).
TESTS += tests/plugins_include_only.sh tests/core_layers.sh
# Prometheus itself scraping tether run --metrics, and the alerting rules
# in contrib/prometheus under promtool (Debian's prometheus package).
TESTS += tests/prometheus_scrape.sh tests/prometheus_rules.sh
EXTRA_DIST += tests/prometheus_scrape.sh tests/prometheus_rules.sh \
	contrib/prometheus/tether.rules.yml contrib/prometheus/tether.rules.test.yml
EXTRA_DIST += tests/plugins_include_only.sh tests/core_layers.sh
TESTS_ENVIRONMENT = top_builddir=$(top_builddir) top_srcdir=$(top_srcdir); export top_builddir top_srcdir;

TEST_COMMON_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
TEST_COMMON_LDADD = libtether-internal.la $(CHECK_LIBS) -lm

tests_check_errors_SOURCES = tests/check_errors.c tests/check-int.h
tests_check_errors_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_errors_LDADD = $(TEST_COMMON_LDADD)
tests_check_reason_SOURCES = tests/check_reason.c tests/check-int.h
tests_check_reason_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_reason_LDADD = $(TEST_COMMON_LDADD)
tests_check_rng_SOURCES = tests/check_rng.c tests/check-int.h
tests_check_rng_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_rng_LDADD = $(TEST_COMMON_LDADD)
tests_check_params_SOURCES = tests/check_params.c tests/check-int.h
tests_check_params_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_params_LDADD = $(TEST_COMMON_LDADD)
tests_check_timer_heap_SOURCES = tests/check_timer_heap.c tests/check-int.h
tests_check_timer_heap_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_timer_heap_LDADD = $(TEST_COMMON_LDADD)
tests_check_queue_SOURCES = tests/check_queue.c tests/check-int.h
tests_check_queue_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_queue_LDADD = $(TEST_COMMON_LDADD)
tests_check_spool_SOURCES = tests/check_spool.c tests/check_spool_segments.c tests/check_spool_hardening.c \
	tests/spool-test.c tests/spool-test.h tests/check-int.h
tests_check_spool_CFLAGS = $(TEST_COMMON_CFLAGS) -I$(top_srcdir)/tests/harness
tests_check_spool_LDADD = $(TEST_COMMON_LDADD) tests/harness/libharness.la
tests_check_limiter_SOURCES = tests/check_limiter.c tests/check-int.h
tests_check_limiter_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_limiter_LDADD = $(TEST_COMMON_LDADD)
tests_check_machine_SOURCES = tests/check_machine.c tests/check-int.h
tests_check_machine_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_machine_LDADD = $(TEST_COMMON_LDADD)
tests_check_engine_SOURCES = tests/check_engine.c tests/check-int.h
tests_check_engine_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_engine_LDADD = $(TEST_COMMON_LDADD)
tests_check_registry_SOURCES = tests/check_registry.c tests/policy-test.c tests/policy-test.h tests/check-int.h
tests_check_registry_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_registry_LDADD = $(TEST_COMMON_LDADD)
tests_check_fixed_SOURCES = tests/check_fixed.c tests/policy-test.c tests/policy-test.h tests/check-int.h
tests_check_fixed_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_fixed_LDADD = $(TEST_COMMON_LDADD)
tests_check_exponential_SOURCES = tests/check_exponential.c tests/policy-test.c tests/policy-test.h tests/check-int.h
tests_check_exponential_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_exponential_LDADD = $(TEST_COMMON_LDADD)
tests_check_adaptive_SOURCES = tests/check_adaptive.c tests/policy-test.c tests/policy-test.h tests/check-int.h
tests_check_adaptive_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_adaptive_LDADD = $(TEST_COMMON_LDADD)
tests_check_breaker_SOURCES = tests/check_breaker.c tests/policy-test.c tests/policy-test.h tests/check-int.h
tests_check_breaker_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_breaker_LDADD = $(TEST_COMMON_LDADD)
tests_check_mgr_SOURCES = tests/check_mgr.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_mgr_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_mgr_LDADD = $(TEST_COMMON_LDADD)
tests_check_sim_SOURCES = tests/check_sim.c tests/check-int.h
tests_check_sim_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_sim_LDADD = $(TEST_COMMON_LDADD)
tests_check_config_SOURCES = tests/check_config.c tests/check-int.h
tests_check_config_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_config_LDADD = $(TEST_COMMON_LDADD)
tests_check_config_scale_SOURCES = tests/check_config_scale.c tests/check-int.h
tests_check_config_scale_CFLAGS = $(TEST_COMMON_CFLAGS)
tests_check_config_scale_LDADD = $(TEST_COMMON_LDADD)
# The configuration files of tests/data/config (invalid/ with their expected
# errors, valid/); found under $top_srcdir, else the configured source dir.
tests_check_config_files_SOURCES = tests/check_config_files.c tests/check-int.h
tests_check_config_files_CFLAGS = $(TEST_COMMON_CFLAGS) -DTTH_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_check_config_files_LDADD = $(TEST_COMMON_LDADD)
EXTRA_DIST += tests/data

# What `make distcheck` runs from the tarball (scripts/test.sh).
DISTCHECK_TESTS = $(UNIT_SUITES) $(CRASH_SUITES) tests/cli_simulate.sh \
	tests/cli_config.sh tests/plugins_include_only.sh tests/core_layers.sh \
	tests/check_transport_options tests/check_interop

# Developer targets: the unit suites under valgrind, and cppcheck.
VALGRIND_FLAGS = --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --quiet
# Two suites at a time (CI's machine has two cores); each one's output
# goes to tests/NAME.valgrind.log and is shown when it fails.
valgrind: $(UNIT_SUITES)
	@printf '%s\n' $(UNIT_SUITES) | xargs -P 2 -n 1 sh -c \
	  'echo "valgrind $$0"; CK_FORK=no TETHER_TEST_SLOW=1 $(LIBTOOL) --mode=execute $(VALGRIND) $(VALGRIND_FLAGS) ./$$0 >$$0.valgrind.log 2>&1 || { cat $$0.valgrind.log; echo "valgrind: $$0 failed"; exit 1; }'
CLEANFILES += tests/*.valgrind.log

cppcheck:
	$(CPPCHECK) --enable=warning,performance,portability --error-exitcode=1 \
	  --inline-suppr --quiet -I$(top_srcdir)/include $(CORE_CPPFLAGS) \
	  $(top_srcdir)/core $(top_srcdir)/policies $(top_srcdir)/tools \
	  $(top_srcdir)/demo

.PHONY: valgrind cppcheck
tests_check_zeroloss_SOURCES = tests/check_zeroloss.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_zeroloss_CFLAGS = $(ITEST_CFLAGS)
tests_check_zeroloss_LDADD = $(ITEST_LDADD)
tests_check_zeroloss_ws_SOURCES = tests/check_zeroloss_ws.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_zeroloss_ws_CFLAGS = $(ITEST_CFLAGS)
tests_check_zeroloss_ws_LDADD = $(ITEST_LDADD)
tests_check_zeroloss_spool_SOURCES = tests/check_zeroloss_spool.c tests/itest.c tests/itest.h tests/check-int.h
tests_check_zeroloss_spool_CFLAGS = $(ITEST_CFLAGS)
tests_check_zeroloss_spool_LDADD = $(ITEST_LDADD)
# The sender process of check_zeroloss_spool (killed and restarted by it).
check_PROGRAMS += tests/spool_sender tests/mqtt_holder
tests_mqtt_holder_SOURCES = tests/mqtt_holder.c
tests_mqtt_holder_CFLAGS = $(AM_CFLAGS)
tests_mqtt_holder_LDADD = libtether-internal.la $(PAHO_LIBS) $(LWS_LIBS) -lm
tests_spool_sender_SOURCES = tests/spool_sender.c
tests_spool_sender_CFLAGS = $(AM_CFLAGS)
tests_spool_sender_LDADD = libtether-internal.la $(PAHO_LIBS) $(LWS_LIBS) -lm
