#define _GNU_SOURCE
/*
 * The `proxy` option (an HTTP CONNECT proxy) of both transports through
 * Debian's tinyproxy on loopback, to a real mosquitto and the harness's
 * lws server; "env" reads http_proxy and no_proxy only when asked.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether/tether.h>

#include "broker.h"
#include "check-int.h"
#include "itest.h"
#include "net.h"
#include "ws_server.h"

static struct th_broker *broker;
static struct th_ws_server *srv;
static char *tp_dir;
static pid_t tp_pid = -1;
static uint16_t tp_port;

static char *in_dir(const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", tp_dir, name), 0);
	return p;
}

static void start_tinyproxy(void)
{
	char *exe = th_find_exe("tinyproxy"), *conf = in_dir("tp.conf"),
	     *log = in_dir("tp.log"), *out = in_dir("tp.out");
	FILE *f;

	ck_assert_ptr_nonnull(exe);
	tp_port = th_free_port();
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"Port %u\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\n"
		"LogFile \"%s\"\nLogLevel Info\nMaxClients 50\n",
		tp_port, log);
	ck_assert_int_eq(fclose(f), 0);
	char *argv[] = {exe, "-d", "-c", conf, NULL};
	tp_pid = th_spawn(argv, out);
	ck_assert_int_gt(tp_pid, 0);
	ck_assert_int_eq(th_wait_port(tp_port, 5000), 0);
	free(exe);
	free(conf);
	free(log);
	free(out);
}

/* CONNECT requests to 127.0.0.1:port in tinyproxy's log. */
static int proxied_to(uint16_t port)
{
	char *log = in_dir("tp.log"), line[1024], needle[64];
	FILE *f = fopen(log, "r");
	int n = 0;

	free(log);
	if (!f)
		return 0;
	snprintf(needle, sizeof needle, "CONNECT 127.0.0.1:%u ", port);
	while (fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void setup(void)
{
	broker = NULL;
	srv = NULL;
	tp_dir = th_mkdtemp("tether-tinyproxy");
	ck_assert_ptr_nonnull(tp_dir);
	start_tinyproxy();
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	it_setup(0);
}

static void teardown(void)
{
	int wrong = it_wrong_thread();

	it_teardown();
	if (tp_pid > 0) {
		kill(tp_pid, SIGTERM);
		if (!th_reap_within(tp_pid, 3000, NULL)) {
			kill(tp_pid, SIGKILL);
			waitpid(tp_pid, NULL, 0);
		}
		tp_pid = -1;
	}
	th_rm_rf(tp_dir);
	free(tp_dir);
	th_broker_free(broker);
	th_ws_server_free(srv);
	unsetenv("http_proxy");
	unsetenv("no_proxy");
	ck_assert_int_eq(wrong, 0);
}

static tether_conn *conn_to(const char *name, const char *transport,
			    uint16_t port, const char *proxy)
{
	tether_conn *c;
	char uri[80];

	snprintf(uri, sizeof uri, "%s://127.0.0.1:%u%s",
		 strcmp(transport, "ws") ? "tcp" : "ws", port,
		 strcmp(transport, "ws") ? "" : "/");
	ck_assert_int_eq(tether_conn_new(it_mgr, name, transport, &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	if (proxy)
		ck_assert_int_eq(tether_conn_set_option(c, "proxy", proxy), 0);
	ck_assert_int_eq(tether_conn_set_coordinated(c, 0), 0);
	it_use_fixed(c, "300ms");
	return c;
}

static char *proxy_uri(void)
{
	static char buf[64];

	snprintf(buf, sizeof buf, "http://127.0.0.1:%u", tp_port);
	return buf;
}

START_TEST(test_mqtt_through_an_http_connect_proxy)
{
	struct th_broker_opts bo = {0};

	ck_assert_int_eq(th_broker_start(&bo, &broker), 0);
	uint16_t bp = th_broker_port(broker);
	tether_conn *c = conn_to("mq", "mqtt", bp, proxy_uri());
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 10000));
	ck_assert_int_eq(proxied_to(bp), 1);
	/* a refused option is refused where it is set */
	tether_conn *d = conn_to("bad", "mqtt", bp, "socks5://127.0.0.1:1");
	ck_assert_int_eq(tether_conn_start(d), TETHER_ECONFIG);
	ck_assert_ptr_nonnull(strstr(tether_conn_error(d), "proxy"));
}
END_TEST

START_TEST(test_ws_through_an_http_connect_proxy)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO};

	ck_assert_int_eq(th_ws_server_start(&o, &srv), 0);
	uint16_t wp = th_ws_server_port(srv);
	tether_conn *c = conn_to("ws", "ws", wp, proxy_uri());
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 10000));
	ck_assert_int_eq(proxied_to(wp), 1);
	ck_assert_uint_eq(th_ws_server_upgrades(srv), 1);
}
END_TEST

START_TEST(test_env_proxy_only_when_asked_and_no_proxy_goes_direct)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO};

	ck_assert_int_eq(th_ws_server_start(&o, &srv), 0);
	uint16_t wp = th_ws_server_port(srv);
	setenv("http_proxy", proxy_uri(), 1);
	tether_conn *plain = conn_to("plain", "ws", wp, NULL);
	it_start(plain);
	ck_assert(it_wait(plain, TETHER_EV_UP, 1, 10000));
	ck_assert_int_eq(proxied_to(wp), 0); /* not asked: direct */
	tether_conn *env = conn_to("env", "ws", wp, "env");
	it_start(env);
	ck_assert(it_wait(env, TETHER_EV_UP, 1, 10000));
	ck_assert_int_eq(proxied_to(wp), 1);
	setenv("no_proxy", "example.org, 127.0.0.1", 1);
	tether_conn *direct = conn_to("direct", "ws", wp, "env");
	it_start(direct);
	ck_assert(it_wait(direct, TETHER_EV_UP, 1, 10000));
	ck_assert_int_eq(proxied_to(wp), 1);
}
END_TEST

static Suite *http_proxy_suite(void)
{
	Suite *s = suite_create("http_proxy");
	TCase *tc = it_tcase(s, "tinyproxy", setup, teardown, 60);

	tcase_add_test(tc, test_mqtt_through_an_http_connect_proxy);
	tcase_add_test(tc, test_ws_through_an_http_connect_proxy);
	tcase_add_test(tc, test_env_proxy_only_when_asked_and_no_proxy_goes_direct);
	return s;
}

int main(void)
{
	char *tp = th_find_exe("tinyproxy");

	if (!tp || (access("/usr/sbin/mosquitto", X_OK) != 0 &&
		    access("/usr/bin/mosquitto", X_OK) != 0)) {
		fprintf(stderr, "tinyproxy or mosquitto not installed: "
				"skipping\n");
		free(tp);
		return 77;
	}
	free(tp);
	SRunner *sr = srunner_create(http_proxy_suite());
	srunner_run_all(sr, CK_NORMAL);
	int nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
