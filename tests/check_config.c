/* The configuration loader: schema, located errors, secrets, dump, apply. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tether/config.h>
#include <tether/policy.h>
#include <tether/tether.h>

#include "check-int.h"

static const char good[] =
    "version: 1\n"
    "limits:  { connects_per_second: 200, burst: 50, max_connecting: 64 }\n"
    "policies:\n"
    "  fast:    { type: exponential, initial: 1s, multiplier: 2, max: 30s, "
    "jitter: full }\n"
    "  guarded: { type: breaker, failures: 5, open_for: 60s, inner: fast }\n"
    "connections:\n"
    "  - name: telemetry\n"
    "    transport: mqtt\n"
    "    endpoints: [ \"tcp://127.0.0.1:1883\", \"ws://127.0.0.1:9001\" ]\n"
    "    mqtt: { version: 5, client_id: gw-01, clean_start: false, "
    "keepalive: 15s,\n"
    "            subscriptions: [ { topic: \"cmd/gw-01/#\", qos: 1 } ] }\n"
    "    policy: guarded\n"
    "  - name: events\n"
    "    transport: ws\n"
    "    endpoints: [ \"ws://127.0.0.1:8080/events\" ]\n"
    "    heartbeat: { interval: 10s, timeout: 3s, misses: 2 }\n"
    "    policy: { type: adaptive }\n";

/* Load text; expect failure; return the errors (caller frees). */
static char *errors_of(const char *text)
{
	tether_config *cfg = (tether_config *)1;
	char *errors = NULL;
	int rc = tether_config_load_string(text, strlen(text), "gw.yaml", &cfg,
					   &errors);

	ck_assert_int_eq(rc, TETHER_ECONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(errors);
	return errors;
}

static tether_config *load_ok(const char *text)
{
	tether_config *cfg = NULL;
	char *errors = NULL;
	int rc = tether_config_load_string(text, strlen(text), "gw.yaml", &cfg,
					   &errors);

	if (rc != 0)
		ck_abort_msg("load failed: %s", errors ? errors : "?");
	ck_assert_ptr_null(errors);
	return cfg;
}

/* A one-connection file with `extra` lines added to the connection. */
static char *one(const char *transport, const char *uri, const char *extra)
{
	char *t;

	ck_assert_int_ge(asprintf(&t,
				  "version: 1\n"
				  "connections:\n"
				  "  - name: c1\n"
				  "    transport: %s\n"
				  "    endpoints: [\"%s\"]\n"
				  "%s",
				  transport, uri, extra),
			 0);
	return t;
}

static void expect_one(const char *transport, const char *uri,
		       const char *extra, const char *line)
{
	char *text = one(transport, uri, extra), *e = errors_of(text);
	char want[1024];

	snprintf(want, sizeof(want), "%s\n", line);
	ck_assert_str_eq(e, want);
	free(e);
	free(text);
}

/* ------------------------------------------------------------- valid */

START_TEST(test_config_valid_example)
{
	tether_config *cfg = load_ok(good);
	char *dump = tether_config_dump(cfg);

	ck_assert_uint_eq(tether_config_count(cfg), 2);
	ck_assert_str_eq(tether_config_name(cfg, 0), "telemetry");
	ck_assert_str_eq(tether_config_name(cfg, 1), "events");
	ck_assert_ptr_null(tether_config_name(cfg, 2));
	ck_assert_ptr_null(tether_config_warnings(cfg));
	ck_assert_ptr_nonnull(strstr(dump, "  connects_per_second: 200\n"
					   "  burst: 50\n"
					   "  max_connecting: 64\n"));
	ck_assert_ptr_nonnull(strstr(
	    dump, "  guarded: {type: breaker, failures: 5, failure_rate: 0, "
		  "window: 20, min_samples: 10, open_for: 1m, "
		  "half_open_probes: 1, inner: fast}\n"));
	ck_assert_ptr_nonnull(strstr(dump, "    policy: guarded\n"
					   "    connect_timeout: 10s\n"));
	ck_assert_ptr_nonnull(strstr(dump, "      version: 5\n"
					   "      client_id: gw-01\n"));
	ck_assert_ptr_nonnull(
	    strstr(dump, "        - {topic: \"cmd/gw-01/#\", qos: 1}\n"));
	ck_assert_ptr_nonnull(strstr(
	    dump, "    heartbeat: {interval: 10s, timeout: 3s, misses: 2}\n"));
	ck_assert_ptr_nonnull(strstr(dump, "      max_message: 1MiB\n"));
	free(dump);
	tether_config_free(cfg);
}
END_TEST

START_TEST(test_config_defaults_filled_in)
{
	char *text = one("mqtt", "tcp://127.0.0.1:1883", "");
	tether_config *cfg = load_ok(text);
	char *dump = tether_config_dump(cfg);

	ck_assert_ptr_nonnull(strstr(dump, "  connects_per_second: 1000\n"
					   "  burst: 1\n"
					   "  max_connecting: 0\n"
					   "policies: {}\n"));
	ck_assert_ptr_nonnull(strstr(
	    dump, "    policy: {type: exponential, initial: 1s, multiplier: 2, "
		  "max: 1m, jitter: full, max_attempts: 0, max_elapsed: 0}\n"
		  "    connect_timeout: 10s\n    close_timeout: 2s\n"
		  "    stable_after: 5s\n    overload_floor: 5s\n"
		  "    failback_after: 0\n    probe_interval: 1s\n"
		  "    flap_window: 10s\n    retry_after_max: 1m\n"
		  "    coordinated: true\n"));
	ck_assert_ptr_nonnull(strstr(dump, "      version: 3.1.1\n"
					   "      client_id: tether-c1\n"
					   "      clean_start: true\n"
					   "      keepalive: 30s\n"));
	ck_assert_ptr_nonnull(strstr(dump, "    tls:\n      verify: true\n"));
	free(dump);
	tether_config_free(cfg);
	free(text);
}
END_TEST

START_TEST(test_config_dump_round_trip)
{
	tether_config *a = load_ok(good), *b;
	char *d1 = tether_config_dump(a), *d2;

	b = load_ok(d1);
	d2 = tether_config_dump(b);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	tether_config_free(a);
	tether_config_free(b);
}
END_TEST

START_TEST(test_config_load_file_missing)
{
	tether_config *cfg = (tether_config *)1;
	char *errors = NULL;

	ck_assert_int_eq(tether_config_load_file("/nonexistent/gw.yaml", &cfg,
						 &errors),
			 TETHER_EIO);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(errors, "/nonexistent/gw.yaml: cannot read: No such "
				 "file or directory\n");
	free(errors);
}
END_TEST

/* ------------------------------------------------------------ errors */

START_TEST(test_config_unknown_key_suggests)
{
	expect_one("mqtt", "tcp://h:1", "    polcy: fast\n",
		   "gw.yaml:6:12: unknown key 'connections.0.polcy' for a "
		   "connection (did you mean 'connections.0.policy'?)");
	expect_one("mqtt", "tcp://h:1", "    mqtt: { keepaliv: 5s }\n",
		   "gw.yaml:6:23: unknown key 'connections.0.mqtt.keepaliv' for "
		   "the mqtt section (did you mean "
		   "'connections.0.mqtt.keepalive'?)");
}
END_TEST

START_TEST(test_config_wrong_type)
{
	expect_one("mqtt", "tcp://h:1", "    connect_timeout: [1s]\n",
		   "gw.yaml:6:22: connections.0.connect_timeout: expected a "
		   "duration such as 250ms, 10s, 5m or 1h, found a sequence");
	expect_one("ws", "ws://h/", "    heartbeat: [1]\n",
		   "gw.yaml:6:16: connections.0.heartbeat: expected a mapping "
		   "{interval, timeout, misses}, found a sequence");
}
END_TEST

START_TEST(test_config_coordinated_switch)
{
	char *text = one("mqtt", "tcp://127.0.0.1:1883",
			 "    coordinated: false\n    probe_interval: 500ms\n");
	tether_config *cfg = load_ok(text);
	char *dump = tether_config_dump(cfg);

	ck_assert_ptr_nonnull(strstr(dump, "    probe_interval: 500ms\n"
					   "    flap_window: 10s\n"
					   "    retry_after_max: 1m\n"
					   "    coordinated: false\n"));
	free(dump);
	tether_config_free(cfg);
	free(text);
	expect_one("mqtt", "tcp://h:1", "    coordinated: maybe\n",
		   "gw.yaml:6:18: connections.0.coordinated: expected true or "
		   "false (or yes/no, on/off), found 'maybe'");
}
END_TEST

START_TEST(test_config_bad_duration)
{
	expect_one("mqtt", "tcp://h:1", "    stable_after: 5 s\n",
		   "gw.yaml:6:19: connections.0.stable_after: expected a "
		   "duration such as 250ms, 10s, 5m or 1h, found '5 s'");
	expect_one("mqtt", "tcp://h:1", "    mqtt: { keepalive: 15x }\n",
		   "gw.yaml:6:24: connections.0.mqtt.keepalive: expected a "
		   "duration such as 250ms, 10s, 5m or 1h, found '15x'");
}
END_TEST

START_TEST(test_config_unknown_policy_name)
{
	char *e = errors_of("version: 1\n"
			    "policies:\n"
			    "  fast: { type: fixed }\n"
			    "connections:\n"
			    "  - name: a\n"
			    "    transport: ws\n"
			    "    endpoints: [\"ws://h/\"]\n"
			    "    policy: fsat\n");

	ck_assert_str_eq(e, "gw.yaml:8:13: connections.0.policy: expected a "
			    "name from policies: (fast), a policy type (fixed, "
			    "exponential, adaptive, breaker) or a mapping, "
			    "found 'fsat' (did you mean 'fast'?)\n");
	free(e);
}
END_TEST

START_TEST(test_config_breaker_cycle)
{
	char *e = errors_of("version: 1\n"
			    "policies:\n"
			    "  a: { type: breaker, inner: b }\n"
			    "  b: { type: breaker, inner: c }\n"
			    "  c: { type: breaker, inner: a }\n"
			    "connections: []\n");

	ck_assert_str_eq(e, "gw.yaml:5:30: policies.c.inner: policy "
			    "references make a cycle: a -> b -> c -> a\n");
	free(e);
}
END_TEST

START_TEST(test_config_duplicate_name)
{
	char *e = errors_of("version: 1\n"
			    "connections:\n"
			    "  - { name: a, transport: ws, endpoints: [\"ws://h/\"] }\n"
			    "  - { name: a, transport: ws, endpoints: [\"ws://h/\"] }\n");

	ck_assert_str_eq(e, "gw.yaml:4:13: connections.1.name: duplicate "
			    "connection name 'a' (first at gw.yaml:3:13)\n");
	free(e);
}
END_TEST

START_TEST(test_config_scheme_mismatch)
{
	expect_one("ws", "tcp://h:1", "",
		   "gw.yaml:5:17: connections.0.endpoints.0: expected a URI for "
		   "transport 'ws' (ws://, wss://), found 'tcp://h:1'");
}
END_TEST

START_TEST(test_config_heartbeat_on_mqtt)
{
	expect_one("mqtt", "tcp://h:1", "    heartbeat: { interval: 5s }\n",
		   "gw.yaml:6:16: connections.0.heartbeat: not for transport "
		   "mqtt: its protocol keeps the link alive (set mqtt.keepalive)");
}
END_TEST

START_TEST(test_config_missing_required)
{
	char *e = errors_of("connections:\n  - { transport: ws }\n");

	ck_assert_str_eq(
	    e, "gw.yaml:1:1: version: missing, expected 1 (the version of the "
	       "file format)\n"
	       "gw.yaml:2:5: connections.0.name: missing, expected the "
	       "connection's name\n"
	       "gw.yaml:2:5: connections.0.endpoints: missing, expected a "
	       "sequence of URIs\n");
	free(e);
	e = errors_of("version: 1\n");
	ck_assert_str_eq(e, "gw.yaml:1:1: connections: missing, expected a "
			    "sequence of connections\n");
	free(e);
}
END_TEST

START_TEST(test_config_version_log_and_metrics)
{
	char *e = errors_of("version: 2\nconnections: []\nlog: {level: loud, "
			    "format: xml}\nmetrics: {}\n");
	tether_config *cfg;
	char *dump;

	ck_assert_str_eq(
	    e, "gw.yaml:1:10: version: expected 1 (the only version this "
	       "tether supports), found '2'\n"
	       "gw.yaml:3:14: log.level: expected one of info, debug, warn, "
	       "found 'loud'\n"
	       "gw.yaml:3:28: log.format: expected one of text, json, found "
	       "'xml'\n"
	       "gw.yaml:4:10: metrics.listen: missing, expected an address: "
	       "PORT or HOST:PORT (127.0.0.1:9464)\n");
	free(e);
	e = errors_of("version: 1\nconnections: []\nmetrics: {listen: "
		      "\"a:b:9\", port: 1}\n");
	ck_assert_str_eq(
	    e, "gw.yaml:3:19: metrics.listen: expected PORT or HOST:PORT "
	       "(127.0.0.1:9464, [::1]:9464), found 'a:b:9'\n"
	       "gw.yaml:3:34: unknown key 'metrics.port' for metrics\n");
	free(e);
	/* the defaults, then what the file says */
	cfg = load_ok("version: 1\nconnections: []\n");
	ck_assert_str_eq(tether_config_log_format(cfg), "text");
	ck_assert_str_eq(tether_config_log_level(cfg), "info");
	ck_assert_ptr_null(tether_config_metrics_listen(cfg));
	tether_config_free(cfg);
	cfg = load_ok("version: 1\nconnections: []\nlog: {format: json, "
		      "level: debug}\nmetrics: {listen: \"[::1]:0\"}\n");
	ck_assert_str_eq(tether_config_log_format(cfg), "json");
	ck_assert_str_eq(tether_config_log_level(cfg), "debug");
	ck_assert_str_eq(tether_config_metrics_listen(cfg), "[::1]:0");
	dump = tether_config_dump(cfg);
	ck_assert_ptr_nonnull(strstr(dump, "log: {format: json, level: debug}\n"
					   "metrics: {listen: \"[::1]:0\"}\n"));
	free(dump);
	tether_config_free(cfg);
}
END_TEST

START_TEST(test_config_queue)
{
	tether_config *cfg;
	char *dump, *again;

	expect_one("mqtt", "tcp://h:1", "    queue: { max_messages: 0 }\n",
		   "gw.yaml:6:28: connections.0.queue.max_messages: expected "
		   "a whole number between 1 and 100000000, found '0'");
	expect_one("mqtt", "tcp://h:1", "    queue: { max_bytes: 8MB0 }\n",
		   "gw.yaml:6:25: connections.0.queue.max_bytes: expected a "
		   "size between 1 and 1024GiB (\"64KiB\", \"8MiB\"), found "
		   "'8MB0'");
	expect_one("mqtt", "tcp://h:1", "    queue: { overflow: drop_newer }\n",
		   "gw.yaml:6:24: connections.0.queue.overflow: expected one "
		   "of drop_oldest, drop_newest, reject, found 'drop_newer' "
		   "(did you mean 'drop_newest'?)");
	expect_one("mqtt", "tcp://h:1", "    queue: { fsync: sometimes }\n",
		   "gw.yaml:6:21: connections.0.queue.fsync: expected one of "
		   "always, interval, never, found 'sometimes'");
	expect_one("mqtt", "tcp://h:1", "    queue: { spool: \"\" }\n",
		   "gw.yaml:6:21: connections.0.queue.spool: expected a "
		   "directory path, found an empty string");
	expect_one("mqtt", "tcp://h:1", "    queue: { ttl: 5 parsecs }\n",
		   "gw.yaml:6:19: connections.0.queue.ttl: expected a duration "
		   "such as 250ms, 10s, 5m or 1h, found '5 parsecs'");
	expect_one("mqtt", "tcp://h:1", "    queue: { maxmessages: 5 }\n",
		   "gw.yaml:6:27: unknown key 'connections.0.queue.maxmessages' "
		   "for queue (did you mean "
		   "'connections.0.queue.max_messages'?)");
	cfg = load_ok("version: 1\nconnections:\n  - name: a\n"
		      "    transport: mqtt\n    endpoints: [\"tcp://h:1\"]\n"
		      "    queue: { max_messages: 500, max_bytes: 64KiB, "
		      "overflow: reject, ttl: 30s, spool: /var/lib/x, fsync: "
		      "interval, fsync_interval: 250ms, spool_max_bytes: 1GiB }\n");
	dump = tether_config_dump(cfg);
	ck_assert_ptr_nonnull(strstr(dump, "    queue:\n"
					   "      max_messages: 500\n"
					   "      max_bytes: 64KiB\n"
					   "      overflow: reject\n"
					   "      ttl: 30s\n"
					   "      spool: /var/lib/x\n"
					   "      fsync: interval\n"
					   "      fsync_interval: 250ms\n"
					   "      spool_max_bytes: 1GiB\n"));
	tether_config_free(cfg);
	/* the dump loads again to the same dump */
	cfg = load_ok(dump);
	again = tether_config_dump(cfg);
	ck_assert_str_eq(again, dump);
	free(again);
	free(dump);
	tether_config_free(cfg);
}
END_TEST

START_TEST(test_config_inbound)
{
	tether_config *cfg;
	char *dump, *again;

	expect_one("mqtt", "tcp://h:1", "    inbound: { max_messages: 0 }\n",
		   "gw.yaml:6:30: connections.0.inbound.max_messages: expected "
		   "a whole number between 1 and 100000000, found '0'");
	expect_one("ws", "ws://h:1", "    inbound: { max_byte: 1MiB }\n",
		   "gw.yaml:6:26: unknown key 'connections.0.inbound.max_byte' "
		   "for inbound (did you mean "
		   "'connections.0.inbound.max_bytes'?)");
	cfg = load_ok("version: 1\nconnections:\n  - name: a\n"
		      "    transport: mqtt\n    endpoints: [\"tcp://h:1\"]\n"
		      "    inbound: { max_messages: 50, max_bytes: 64KiB }\n"
		      "    mqtt: { max_message: 4KiB }\n");
	dump = tether_config_dump(cfg);
	ck_assert_ptr_nonnull(
	    strstr(dump, "    inbound: {max_messages: 50, max_bytes: 64KiB}\n"));
	ck_assert_ptr_nonnull(strstr(dump, "max_message: 4KiB"));
	tether_config_free(cfg);
	cfg = load_ok(dump);
	again = tether_config_dump(cfg);
	ck_assert_str_eq(again, dump);
	free(again);
	free(dump);
	tether_config_free(cfg);
	/* the default is written out too */
	cfg = load_ok("version: 1\nconnections:\n  - name: a\n"
		      "    transport: ws\n    endpoints: [\"ws://h:1\"]\n");
	dump = tether_config_dump(cfg);
	ck_assert_ptr_nonnull(
	    strstr(dump, "    inbound: {max_messages: 1000, max_bytes: 8MiB}\n"));
	free(dump);
	tether_config_free(cfg);
}
END_TEST

START_TEST(test_config_transport_options_checked)
{
	expect_one("mqtt", "tcp://h:1", "    mqtt: { version: 7 }\n",
		   "gw.yaml:6:22: connections.0.mqtt.version: expected one of "
		   "3.1.1, 311, 4, 5, 5.0, found '7' (did you mean '4'?)");
	expect_one("ws", "ws://h/", "    tls: { ca_dir: /tmp }\n",
		   "gw.yaml:6:20: connections.0.tls.ca_dir: not supported by "
		   "transport 'ws'");
	expect_one("ws", "ws://h/", "    mqtt: { version: 5 }\n",
		   "gw.yaml:6:11: connections.0.mqtt: only for transport mqtt "
		   "(this connection's transport is 'ws')");
}
END_TEST

/* The last will and the subscription options: read from the mqtt
   section, printed by the dump, which loads again; misuse at its line. */
START_TEST(test_config_mqtt_will_and_subscription_options)
{
	char *text = one("mqtt", "tcp://h:1",
			 "    mqtt:\n"
			 "      version: 5\n"
			 "      session_expiry: 60s\n"
			 "      will_topic: gw/status\n"
			 "      will_payload: offline\n"
			 "      will_qos: 1\n"
			 "      will_retain: true\n"
			 "      will_delay: 5s\n"
			 "      will_content_type: text/plain\n"
			 "      will_user: { site: berlin }\n"
			 "      subscriptions:\n"
			 "        - { topic: a/#, qos: 1, no_local: true,"
			 " retain_handling: 2 }\n");
	tether_config *cfg = load_ok(text), *again;
	char *dump = tether_config_dump(cfg);

	ck_assert_ptr_nonnull(strstr(dump, "will_topic: gw/status"));
	ck_assert_ptr_nonnull(strstr(dump, "will_qos: 1"));
	ck_assert_ptr_nonnull(strstr(dump, "will_delay: 5s"));
	ck_assert_ptr_nonnull(strstr(dump, "site: berlin"));
	ck_assert_ptr_nonnull(strstr(dump, "{topic: \"a/#\", qos: 1, no_local: true, "
					   "retain_as_published: false, "
					   "retain_handling: 2}"));
	again = load_ok(dump);
	tether_config_free(again);
	tether_config_free(cfg);
	free(dump);
	free(text);
	expect_one("mqtt", "tcp://h:1", "    mqtt: { will_qos: 1 }\n",
		   "gw.yaml:6:23: connections.0.mqtt.will_qos: needs will_topic");
	expect_one("mqtt", "tcp://h:1",
		   "    mqtt: { will_topic: t, will_delay: 1s }\n",
		   "gw.yaml:6:40: connections.0.mqtt.will_delay: needs version 5");
	expect_one("mqtt", "tcp://h:1",
		   "    mqtt: { will_topic: t, will_payload_file: /nonexistent/x }\n",
		   "gw.yaml:6:47: connections.0.mqtt.will_payload_file: "
		   "/nonexistent/x: No such file or directory");
	expect_one("mqtt", "tcp://h:1",
		   "    mqtt: { subscriptions: [ { topic: a, retain_handling: 3 } ] }\n",
		   "gw.yaml:6:59: connections.0.mqtt.subscriptions.0.retain_handling: "
		   "expected a whole number between 0 and 2, found '3'");
}
END_TEST

START_TEST(test_config_several_errors)
{
	char *e = errors_of("version: 1\n"
			    "limits: { burst: 0, max_conecting: 3 }\n"
			    "policies:\n"
			    "  fast: { type: exponential, initial: 1x }\n"
			    "connections:\n"
			    "  - name: a\n"
			    "    transport: wss\n"
			    "    endpoints: []\n");

	ck_assert_str_eq(
	    e, "gw.yaml:2:18: limits.burst: expected a whole number between 1 "
	       "and 1000000, found '0'\n"
	       "gw.yaml:2:36: unknown key 'limits.max_conecting' for limits "
	       "(did you mean 'limits.max_connecting'?)\n"
	       "gw.yaml:4:39: policies.fast.initial: expected a duration such "
	       "as 250ms, 10s, 5m or 1h, found '1x'\n"
	       "gw.yaml:7:16: connections.0.transport: expected one of mqtt, "
	       "ws, found 'wss' (did you mean 'ws'?)\n"
	       "gw.yaml:8:16: connections.0.endpoints: expected at least one "
	       "URI, found an empty sequence\n");
	free(e);
}
END_TEST

/* ----------------------------------------------------------- secrets */

START_TEST(test_config_password_inline_refused)
{
	char *text = one("mqtt", "tcp://h:1",
			 "    mqtt: { username: u, password: hunter22 }\n");
	char *e = errors_of(text);

	ck_assert_str_eq(e, "gw.yaml:6:36: connections.0.mqtt.password: a "
			    "secret is not accepted inline: use password_env "
			    "(an environment variable) or password_file (a "
			    "file only you can read)\n");
	ck_assert_ptr_null(strstr(e, "hunter22"));
	free(e);
	free(text);
}
END_TEST

START_TEST(test_config_password_env)
{
	char *text = one("mqtt", "tcp://h:1",
			 "    mqtt: { username: u, password_env: "
			 "TETHER_TEST_PW }\n");
	tether_config *cfg;
	char *e, *dump;

	unsetenv("TETHER_TEST_PW");
	e = errors_of(text);
	ck_assert_str_eq(e, "gw.yaml:6:40: connections.0.mqtt.password_env: "
			    "environment variable 'TETHER_TEST_PW' is not "
			    "set\n");
	free(e);
	setenv("TETHER_TEST_PW", "s3cr3t-value", 1);
	cfg = load_ok(text);
	dump = tether_config_dump(cfg);
	ck_assert_ptr_null(strstr(dump, "s3cr3t-value"));
	ck_assert_ptr_nonnull(strstr(dump, "      password_env: TETHER_TEST_PW\n"));
	free(dump);
	tether_config_free(cfg);
	free(text);
	/* a secret never shows in errors either */
	text = one("mqtt", "tcp://h:1",
		   "    mqtt: { password_env: TETHER_TEST_PW, keepalive: 1x }\n");
	e = errors_of(text);
	ck_assert_ptr_null(strstr(e, "s3cr3t-value"));
	ck_assert_ptr_nonnull(strstr(e, "password_env: needs a username"));
	free(e);
	free(text);
	unsetenv("TETHER_TEST_PW");
}
END_TEST

START_TEST(test_config_password_file_warns)
{
	char dir[] = "/tmp/tether-cfg-XXXXXX", path[64], extra[200];
	tether_config *cfg;
	char *text, *dump;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pw", dir);
	f = fopen(path, "w");
	fputs("file-secret-1\nsecond line\n", f);
	fclose(f);
	chmod(path, 0644);
	snprintf(extra, sizeof(extra),
		 "    mqtt: { username: u, password_file: %s }\n", path);
	text = one("mqtt", "tcp://h:1", extra);
	cfg = load_ok(text);
	{
		char want[300];

		snprintf(want, sizeof(want),
			 "gw.yaml:6:41: connections.0.mqtt.password_file: '%s' "
			 "is readable by group or others (chmod 600 it)\n",
			 path);
		ck_assert_str_eq(tether_config_warnings(cfg), want);
	}
	dump = tether_config_dump(cfg);
	ck_assert_ptr_null(strstr(dump, "file-secret-1"));
	free(dump);
	tether_config_free(cfg);
	chmod(path, 0600);
	cfg = load_ok(text);
	ck_assert_ptr_null(tether_config_warnings(cfg));
	tether_config_free(cfg);
	free(text);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_config_credential_header_masked)
{
	char *text = one("ws", "ws://h/",
			 "    ws: { headers: { Authorization: \"Bearer abc123\", "
			 "X-Site: gw1 } }\n");
	tether_config *cfg = load_ok(text);
	char *dump = tether_config_dump(cfg);

	ck_assert_ptr_nonnull(strstr(
	    dump, "      headers: {Authorization: \"***\", X-Site: gw1}\n"));
	ck_assert_ptr_null(strstr(dump, "abc123"));
	free(dump);
	tether_config_free(cfg);
	free(text);
}
END_TEST

/* ------------------------------------------------------------- apply */

START_TEST(test_config_apply_creates_connections)
{
	tether_config *cfg = load_ok(good);
	tether_mgr *m;
	tether_conn *c;
	char *errors = (char *)1;

	ck_assert_int_eq(tether_mgr_new(&m), 0);
	ck_assert_int_eq(tether_config_apply(cfg, m, &errors), 0);
	ck_assert_ptr_null(errors);
	c = tether_conn_find(m, "telemetry");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(tether_conn_name(c), "telemetry");
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_IDLE);
	/* settings are in place: started, it is too late to change them */
	ck_assert_int_eq(tether_conn_check(c), 0);
	c = tether_conn_find(m, "events");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_IDLE);
	ck_assert_int_eq(tether_conn_add_endpoint(c, "tcp://h:1"),
			 TETHER_EINVAL);
	ck_assert_str_eq(tether_conn_error(c),
			 "endpoint 'tcp://h:1': expected a URI for transport "
			 "'ws' (ws://, wss://)");
	/* all or nothing: a second apply finds the names taken */
	ck_assert_int_eq(tether_config_apply(cfg, m, &errors), TETHER_EEXIST);
	ck_assert_str_eq(errors, "connection 'telemetry': a connection of that "
				 "name already exists");
	free(errors);
	tether_mgr_free(m);
	tether_config_free(cfg);
}
END_TEST

/* One client id twice on one server: the broker would let one in at a
 * time, so the load warns where the second is written; on another
 * server, or with the default ids, it says nothing. */
START_TEST(test_config_duplicate_client_id_warns)
{
	static const char same[] =
	    "version: 1\n"
	    "connections:\n"
	    "  - { name: a, transport: mqtt, endpoints: "
	    "[\"tcp://127.0.0.1:1883\"], mqtt: { client_id: gw-01 } }\n"
	    "  - { name: b, transport: mqtt, endpoints: "
	    "[\"tcp://127.0.0.1\"], mqtt: { client_id: gw-01 } }\n"
	    "  - { name: c, transport: mqtt, endpoints: "
	    "[\"tcp://127.0.0.1:1884\"], mqtt: { client_id: gw-01 } }\n"
	    "  - { name: d, transport: mqtt, endpoints: "
	    "[\"tcp://127.0.0.1:1883\"] }\n";
	tether_config *cfg = load_ok(same);
	const char *w = tether_config_warnings(cfg);

	ck_assert_ptr_nonnull(w);
	ck_assert_str_eq(w, "gw.yaml:4:84: connections.1.mqtt.client_id: "
			    "'gw-01' is also the client id of connection "
			    "'a' (gw.yaml:3:89): a broker lets one of them in "
			    "at a time, and they take the session from each "
			    "other\n");
	tether_config_free(cfg);
}
END_TEST

/* A long key ending in _env or _file under tls: or a transport section
 * is an unknown key, not a write past a buffer (ASan watches). */
START_TEST(test_config_long_secret_like_keys)
{
	char key[301], *text, *e;

	memset(key, 'k', 296);
	memcpy(key + 296, "_env", 5);
	ck_assert_int_ge(asprintf(&text,
				  "version: 1\n"
				  "connections:\n"
				  "  - name: a\n"
				  "    transport: ws\n"
				  "    endpoints: [\"ws://127.0.0.1:1/\"]\n"
				  "    tls: { %s: X }\n"
				  "    ws: { %s: Y }\n",
				  key, key),
			 0);
	e = errors_of(text);
	ck_assert_ptr_nonnull(strstr(e, "unknown key 'connections.0.tls.kkk"));
	ck_assert_ptr_nonnull(strstr(e, "unknown key 'connections.0.ws.kkk"));
	free(e);
	free(text);
}
END_TEST

/* A policy that counts how often it is made. */
static int counted_creates;

static int counted_create(tether_params *p, void **state)
{
	uint64_t ms;

	counted_creates++;
	if (tether_params_duration(p, "delay", 1000, 1, 60000, &ms))
		return TETHER_ECONFIG;
	*state = malloc(1);
	return *state ? 0 : TETHER_ENOMEM;
}

static void counted_destroy(void *state)
{
	free(state);
}

static void counted_next(void *state, const struct tether_policy_input *in,
			 struct tether_rng *rng,
			 struct tether_policy_decision *out)
{
	(void)state;
	(void)in;
	(void)rng;
	out->verdict = TETHER_VERDICT_RETRY;
	out->delay_ms = 1000;
	out->why = NULL;
}

static void counted_on_success(void *state, uint64_t now_ms)
{
	(void)state;
	(void)now_ms;
}

static const struct tether_policy_ops counted_ops = {
    .abi = TETHER_POLICY_ABI,
    .name = "counted",
    .summary = "counts its instances (tests)",
    .create = counted_create,
    .destroy = counted_destroy,
    .next = counted_next,
    .on_success = counted_on_success,
};

static int thread_count(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * A load checks each connection's settings as a value: no manager, no
 * transport context, no thread; each policy of the file is made once to
 * check it (a named one once, however many connections use it), and
 * applying makes none: a connection makes its own at its first start.
 */
START_TEST(test_config_load_makes_each_policy_once)
{
	static const char text[] =
	    "version: 1\n"
	    "policies:\n"
	    "  shared: { type: counted, delay: 2s }\n"
	    "connections:\n"
	    "  - { name: a, transport: ws, endpoints: [\"ws://127.0.0.1:1\"],"
	    " policy: shared }\n"
	    "  - { name: b, transport: ws, endpoints: [\"ws://127.0.0.1:1\"],"
	    " policy: shared }\n"
	    "  - { name: c, transport: mqtt, endpoints: [\"tcp://127.0.0.1:1\"],"
	    " policy: { type: counted, delay: 3s } }\n";
	tether_config *cfg;
	tether_mgr *m;
	int threads;
	char *errors = NULL;
	int rc = tether_policy_register(&counted_ops);

	ck_assert(rc == 0 || rc == TETHER_EEXIST);
	counted_creates = 0;
	threads = thread_count();
	cfg = load_ok(text);
	ck_assert_int_eq(counted_creates, 2);
	ck_assert_int_eq(thread_count(), threads);
	/* a bad value is found by that one check, where it was written */
	errors = errors_of("version: 1\n"
			   "connections:\n"
			   "  - { name: a, transport: ws, endpoints: "
			   "[\"ws://127.0.0.1:1\"], policy: { type: counted, "
			   "delay: 2x } }\n");
	ck_assert_ptr_nonnull(strstr(errors, "gw.yaml:3:"));
	ck_assert_ptr_nonnull(strstr(errors, "delay"));
	free(errors);
	counted_creates = 0;
	ck_assert_int_eq(tether_mgr_new(&m), 0);
	ck_assert_int_eq(tether_config_apply(cfg, m, &errors), 0);
	ck_assert_int_eq(counted_creates, 0);
	tether_mgr_free(m);
	tether_config_free(cfg);
}
END_TEST

START_TEST(test_config_check_conn_reports_options)
{
	tether_mgr *m;
	tether_conn *c;

	ck_assert_int_eq(tether_mgr_new(&m), 0);
	ck_assert_int_eq(tether_conn_new(m, "x", "mqtt", &c), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "keepalive", "1x"), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "bogus", "1"), 0);
	ck_assert_int_eq(tether_conn_check(c), TETHER_ECONFIG);
	ck_assert_str_eq(tether_conn_error(c),
			 "keepalive: expected a duration such as 250ms, 10s, "
			 "5m or 1h, found '1x'\n"
			 "unknown key 'bogus' for transport 'mqtt'");
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_IDLE);
	tether_mgr_free(m);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("valid");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_config_valid_example);
	tcase_add_test(tc, test_config_defaults_filled_in);
	tcase_add_test(tc, test_config_dump_round_trip);
	tcase_add_test(tc, test_config_load_file_missing);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_config_unknown_key_suggests);
	tcase_add_test(tc, test_config_wrong_type);
	tcase_add_test(tc, test_config_bad_duration);
	tcase_add_test(tc, test_config_coordinated_switch);
	tcase_add_test(tc, test_config_unknown_policy_name);
	tcase_add_test(tc, test_config_breaker_cycle);
	tcase_add_test(tc, test_config_duplicate_name);
	tcase_add_test(tc, test_config_scheme_mismatch);
	tcase_add_test(tc, test_config_heartbeat_on_mqtt);
	tcase_add_test(tc, test_config_missing_required);
	tcase_add_test(tc, test_config_version_log_and_metrics);
	tcase_add_test(tc, test_config_queue);
	tcase_add_test(tc, test_config_inbound);
	tcase_add_test(tc, test_config_transport_options_checked);
	tcase_add_test(tc, test_config_mqtt_will_and_subscription_options);
	tcase_add_test(tc, test_config_several_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("secrets");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_config_password_inline_refused);
	tcase_add_test(tc, test_config_password_env);
	tcase_add_test(tc, test_config_password_file_warns);
	tcase_add_test(tc, test_config_credential_header_masked);
	suite_add_tcase(s, tc);
	tc = tcase_create("apply");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_config_apply_creates_connections);
	tcase_add_test(tc, test_config_check_conn_reports_options);
	tcase_add_test(tc, test_config_load_makes_each_policy_once);
	tcase_add_test(tc, test_config_duplicate_client_id_warns);
	tcase_add_test(tc, test_config_long_secret_like_keys);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(config_suite)
