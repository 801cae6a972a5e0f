/*
 * The transport ABI's option table (issue 11), proved from outside the
 * core: the "echo" test transport (tests/echo_transport.c, built against
 * include/ alone) declares its options and its YAML section, and the
 * configuration file, `tether check`'s dump, the load-time checks and a
 * reload go by them. Loopback-free: echo talks to nobody.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/config.h>
#include <tether/tether.h>
#include <tether/transport.h>

#include "check-int.h"
#include "echo_transport.h"
#include "engine-int.h"
#include "itest.h"

#define TOKEN "s3cr3t-t0ken"

static void registered(void)
{
	int rc = tether_transport_register(&th_echo_transport);

	ck_assert(rc == 0 || rc == TETHER_EEXIST);
	setenv("ECHO_TEST_TOKEN", TOKEN, 1);
}

/* A file with one echo connection; extra is its last lines. */
static char *yaml(const char *extra)
{
	char *s;

	ck_assert_int_ge(asprintf(&s,
				  "version: 1\n"
				  "connections:\n"
				  "  - name: e\n"
				  "    transport: echo\n"
				  "    endpoints: [ \"echo://127.0.0.1\" ]\n"
				  "%s",
				  extra),
			 0);
	return s;
}

static tether_config *load_ok(const char *extra)
{
	char *text = yaml(extra), *err = NULL;
	tether_config *cfg = NULL;
	int rc = tether_config_load_string(text, strlen(text), "gw.yaml", &cfg,
					   &err);

	ck_assert_msg(rc == 0, "%s", err ? err : "");
	free(text);
	return cfg;
}

static char *errors_of(const char *extra)
{
	char *text = yaml(extra), *err = NULL;
	tether_config *cfg = NULL;

	ck_assert_int_eq(tether_config_load_string(text, strlen(text),
						   "gw.yaml", &cfg, &err),
			 TETHER_ECONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(err);
	free(text);
	return err;
}

static void expect_error(const char *extra, const char *want)
{
	char *err = errors_of(extra);

	ck_assert_str_eq(err, want);
	free(err);
}

/* ------------------------------------------------------------ loading */

START_TEST(test_transport_options_section_loads_and_dumps)
{
	tether_config *cfg = load_ok(
	    "    echo: { greeting: hi, token_env: ECHO_TEST_TOKEN }\n");
	char *dump = tether_config_dump(cfg), *again;
	tether_config *cfg2;

	ck_assert_ptr_nonnull(dump);
	/* its section from its table: as written, defaults filled in, the
	   secret only as where it comes from */
	ck_assert_ptr_nonnull(strstr(dump, "    echo:\n"
					   "      greeting: hi\n"
					   "      mode: echo\n"
					   "      max_size: 64KiB\n"
					   "      token_env: ECHO_TEST_TOKEN\n"
					   "    tls:\n"
					   "      verify: true\n"));
	ck_assert_ptr_null(strstr(dump, TOKEN));
	/* and it loads again to the same dump */
	ck_assert_int_eq(tether_config_load_string(dump, strlen(dump), "d",
						   &cfg2, NULL),
			 0);
	again = tether_config_dump(cfg2);
	ck_assert_str_eq(again, dump);
	free(again);
	free(dump);
	tether_config_free(cfg2);
	tether_config_free(cfg);
}
END_TEST

START_TEST(test_transport_options_defaults_only)
{
	tether_config *cfg = load_ok("");
	char *dump = tether_config_dump(cfg);

	ck_assert_ptr_nonnull(strstr(dump, "    echo:\n"
					   "      greeting: hello\n"
					   "      mode: echo\n"
					   "      max_size: 64KiB\n"
					   "    tls:\n"));
	free(dump);
	tether_config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------- errors */

START_TEST(test_transport_options_typo_suggests)
{
	expect_error("    echo: { greting: hi }\n",
		     "gw.yaml:6:22: unknown key 'connections.0.echo.greting' "
		     "for the echo section (did you mean "
		     "'connections.0.echo.greeting'?)\n");
}
END_TEST

START_TEST(test_transport_options_bad_values_located)
{
	expect_error("    echo: { max_size: 1x }\n",
		     "gw.yaml:6:23: connections.0.echo.max_size: expected a "
		     "size between 16 and 1MiB (\"64KiB\", \"8MiB\"), found "
		     "'1x'\n");
	expect_error("    echo:\n"
		     "      mode: ecko\n",
		     "gw.yaml:7:13: connections.0.echo.mode: expected one of "
		     "echo, drop, found 'ecko' (did you mean 'echo'?)\n");
	expect_error("    tls: { verify: maybe }\n",
		     "gw.yaml:6:20: connections.0.tls.verify: expected true or "
		     "false (or yes/no, on/off), found 'maybe'\n");
	expect_error("    echo: { token: " TOKEN " }\n",
		     "gw.yaml:6:20: connections.0.echo.token: a secret is not "
		     "accepted inline: use token_env (an environment variable) "
		     "or token_file (a file only you can read)\n");
}
END_TEST

/* A rule over two options, the transport's check(): reported where the
 * option it names was written, with no manager involved. */
START_TEST(test_transport_options_cross_field_located)
{
	char *err = errors_of("    echo:\n"
			      "      mode: drop\n"
			      "      token_env: ECHO_TEST_TOKEN\n");

	ck_assert_str_eq(err, "gw.yaml:8:18: connections.0.echo.token_env: "
			      "not used in mode drop (nothing is sent "
			      "back)\n");
	ck_assert_ptr_null(strstr(err, TOKEN));
	free(err);
}
END_TEST

START_TEST(test_transport_options_other_sections_refused)
{
	expect_error("    mqtt: { keepalive: 5s }\n",
		     "gw.yaml:6:11: connections.0.mqtt: only for transport "
		     "mqtt (this connection's transport is 'echo')\n");
	expect_error("    tls: { ca_file: /x }\n",
		     "gw.yaml:6:21: connections.0.tls.ca_file: not supported "
		     "by transport 'echo'\n");
}
END_TEST

/* echo has no ping: tether's heartbeat does not apply to it. */
START_TEST(test_transport_options_heartbeat_needs_ping)
{
	expect_error("    heartbeat: { interval: 5s }\n",
		     "gw.yaml:6:16: connections.0.heartbeat: not for transport "
		     "echo: its protocol keeps the link alive\n");
}
END_TEST

/* The transports a file may name are the registry's. */
START_TEST(test_transport_options_registry_names_transports)
{
	char *text = strdup("version: 1\n"
			    "connections:\n"
			    "  - name: e\n"
			    "    transport: ecko\n"
			    "    endpoints: [ \"echo://h\" ]\n"),
	     *err = NULL;
	tether_config *cfg = NULL;

	ck_assert_int_eq(tether_config_load_string(text, strlen(text),
						   "gw.yaml", &cfg, &err),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "gw.yaml:4:16: connections.0.transport: "
			      "expected one of mqtt, ws, echo, found 'ecko' "
			      "(did you mean 'echo'?)\n");
	free(err);
	free(text);
}
END_TEST

/* Coordinated recovery groups by host:port, the port from the table. */
START_TEST(test_transport_options_default_port)
{
	char k[128];

	ck_assert_uint_eq(
	    tether_transport_default_port(&th_echo_transport, "ECHO", 4), 7);
	ck_assert_int_eq(tth_endpoint_key("echo", "echo://Host/x", k, sizeof k),
			 0);
	ck_assert_str_eq(k, "echo echo://host:7");
}
END_TEST

/* ------------------------------------------------------- at run time */

static char dir[64], path[128];

static void run_setup(void)
{
	registered();
	it_setup(0);
	snprintf(dir, sizeof dir, "/tmp/tether-echo-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/gw.yaml", dir);
}

static void run_teardown(void)
{
	int wrong = it_wrong_thread();

	it_teardown();
	unlink(path);
	rmdir(dir);
	ck_assert_int_eq(wrong, 0);
}

static void write_file(const char *greeting)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"version: 1\n"
		"connections:\n"
		"  - name: e\n"
		"    transport: echo\n"
		"    endpoints: [ \"echo://127.0.0.1\" ]\n"
		"    policy: { type: fixed, interval: 50ms }\n"
		"    echo: { greeting: %s }\n",
		greeting);
	ck_assert_int_eq(fclose(f), 0);
}

/* Up through the registry, and a changed option restarts the link, as
 * its table says (TETHER_OPTION_RESTART). */
START_TEST(test_transport_options_reload_restarts)
{
	tether_config *cfg = NULL;
	char *err = NULL, g[64];
	unsigned links;
	tether_conn *c;
	int i;

	write_file("hi");
	ck_assert_int_eq(tether_config_load_file(path, &cfg, &err), 0);
	ck_assert_int_eq(tether_config_apply(cfg, it_mgr, NULL), 0);
	tether_config_free(cfg);
	c = tether_conn_find(it_mgr, "e");
	ck_assert_ptr_nonnull(c);
	links = th_echo_links_made();
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 2000));
	ck_assert_uint_eq(th_echo_links_made(), links + 1);
	th_echo_greeting(g, sizeof g);
	ck_assert_str_eq(g, "hi");

	write_file("bye");
	ck_assert_int_eq(tether_mgr_reload(it_mgr, path, &err), 0);
	ck_assert(it_wait(c, TETHER_EV_RELOAD, 1, 2000));
	i = it_find(c, TETHER_EV_RELOAD, 0);
	ck_assert_str_eq(it_get(i).text, "restart");
	ck_assert(it_wait(c, TETHER_EV_UP, 2, 2000));
	ck_assert_uint_eq(th_echo_links_made(), links + 2);
	th_echo_greeting(g, sizeof g);
	ck_assert_str_eq(g, "bye");
}
END_TEST

/* What it sends comes back (mode echo), and is reported delivered. */
START_TEST(test_transport_options_echo_round_trip)
{
	struct tether_message msg = {.size = sizeof(msg), .payload = "ping",
				     .len = 4};
	tether_config *cfg = NULL;
	tether_conn *c;
	uint64_t id;
	int i;

	write_file("hi");
	ck_assert_int_eq(tether_config_load_file(path, &cfg, NULL), 0);
	ck_assert_int_eq(tether_config_apply(cfg, it_mgr, NULL), 0);
	tether_config_free(cfg);
	c = tether_conn_find(it_mgr, "e");
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 2000));
	ck_assert_int_eq(tether_conn_send(c, &msg, &id), 0);
	ck_assert(it_wait(c, TETHER_EV_MESSAGE, 1, 2000));
	i = it_find(c, TETHER_EV_MESSAGE, 0);
	ck_assert_str_eq(it_get(i).payload, "ping");
	ck_assert(it_wait(c, TETHER_EV_SENT, 1, 2000));
	i = it_find(c, TETHER_EV_SENT, 0);
	ck_assert_uint_eq(it_get(i).msg_id, id);
	ck_assert_int_eq(it_get(i).error, 0);
}
END_TEST

static Suite *transport_options_suite(void)
{
	Suite *s = suite_create("transport_options");
	TCase *tc = tcase_create("loading");

	tcase_add_checked_fixture(tc, registered, NULL);
	tcase_add_test(tc, test_transport_options_section_loads_and_dumps);
	tcase_add_test(tc, test_transport_options_defaults_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, registered, NULL);
	tcase_add_test(tc, test_transport_options_typo_suggests);
	tcase_add_test(tc, test_transport_options_bad_values_located);
	tcase_add_test(tc, test_transport_options_cross_field_located);
	tcase_add_test(tc, test_transport_options_other_sections_refused);
	tcase_add_test(tc, test_transport_options_registry_names_transports);
	tcase_add_test(tc, test_transport_options_heartbeat_needs_ping);
	tcase_add_test(tc, test_transport_options_default_port);
	suite_add_tcase(s, tc);

	tc = it_tcase(s, "reload", run_setup, run_teardown, 20);
	tcase_add_test(tc, test_transport_options_reload_restarts);
	tcase_add_test(tc, test_transport_options_echo_round_trip);
	return s;
}

TTH_CHECK_MAIN(transport_options_suite)
