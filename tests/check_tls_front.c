/*
 * TLS options against a TLS server nobody here wrote: Debian's haproxy
 * ends TLS in front of a real mosquitto or the harness's lws server and
 * requires what a cloud endpoint requires: an ALPN protocol (AWS IoT's
 * x-amzn-mqtt-ca on port 443), a client certificate, or a TLS version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/tether.h>

#include "broker.h"
#include "check-int.h"
#include "haproxy.h"
#include "itest.h"
#include "net.h"
#include "tls.h"
#include "ws_server.h"

static struct th_tls *tls;
static struct th_broker *broker;
static struct th_ws_server *srv;
static struct th_haproxy *front;

static void setup(void)
{
	broker = NULL;
	srv = NULL;
	front = NULL;
	ck_assert_int_eq(th_tls_new(&tls), 0);
	it_setup(0);
}

static void teardown(void)
{
	int wrong = it_wrong_thread();

	it_teardown();
	th_haproxy_free(front);
	th_broker_free(broker);
	th_ws_server_free(srv);
	th_tls_free(tls);
	ck_assert_int_eq(wrong, 0);
}

static void start_front(const char *bind_opts, const char *rules,
			uint16_t backend)
{
	int rc = th_haproxy_start(th_tls_cert(tls), th_tls_key(tls), bind_opts,
				  rules, backend, &front);

	ck_assert_msg(rc == 0, "haproxy: %s", strerror(-rc));
}

static tether_conn *conn_to(const char *name, const char *transport,
			    const char *scheme)
{
	tether_conn *c;
	char uri[80];

	snprintf(uri, sizeof uri, "%s://127.0.0.1:%u%s", scheme,
		 th_haproxy_port(front), strcmp(transport, "ws") ? "" : "/");
	ck_assert_int_eq(tether_conn_new(it_mgr, name, transport, &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "ca_file", th_tls_ca(tls)), 0);
	ck_assert_int_eq(tether_conn_set_coordinated(c, 0), 0);
	it_use_fixed(c, "300ms");
	return c;
}

/* c came up within 10 s; d did not within the same time and failed. */
static void one_up_one_refused(tether_conn *c, tether_conn *d)
{
	it_start(c);
	it_start(d);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 10000));
	ck_assert(it_wait(d, TETHER_EV_RETRY, 2, 10000));
	ck_assert_int_eq(it_count(d, TETHER_EV_UP), 0);
}

START_TEST(test_mqtt_alpn_offered_to_a_front_that_requires_it)
{
	struct th_broker_opts bo = {0};

	ck_assert_int_eq(th_broker_start(&bo, &broker), 0);
	start_front("alpn x-amzn-mqtt-ca",
		    "  tcp-request content reject unless { ssl_fc_alpn -i "
		    "x-amzn-mqtt-ca }",
		    th_broker_port(broker));
	tether_conn *c = conn_to("alpn", "mqtt", "ssl");
	ck_assert_int_eq(tether_conn_set_option(c, "alpn", "x-amzn-mqtt-ca"), 0);
	tether_conn *d = conn_to("noalpn", "mqtt", "ssl");
	one_up_one_refused(c, d);
	/* a malformed list is refused where it is set */
	tether_conn *e = conn_to("badalpn", "mqtt", "ssl");
	ck_assert_int_eq(tether_conn_set_option(e, "alpn", "a,,b"), 0);
	ck_assert_int_eq(tether_conn_start(e), TETHER_ECONFIG);
	ck_assert_ptr_nonnull(strstr(tether_conn_error(e), "alpn"));
}
END_TEST

START_TEST(test_ws_alpn_offered_to_a_front_that_requires_it)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO};

	ck_assert_int_eq(th_ws_server_start(&o, &srv), 0);
	start_front("alpn x-tether-test,http/1.1",
		    "  tcp-request content reject unless { ssl_fc_alpn -i "
		    "x-tether-test }",
		    th_ws_server_port(srv));
	tether_conn *c = conn_to("alpn", "ws", "wss");
	ck_assert_int_eq(tether_conn_set_option(c, "alpn", "x-tether-test"), 0);
	tether_conn *d = conn_to("noalpn", "ws", "wss");
	one_up_one_refused(c, d);
}
END_TEST

START_TEST(test_ws_client_certificate_to_a_front_that_requires_one)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO};
	char bind[512];

	ck_assert_int_eq(th_ws_server_start(&o, &srv), 0);
	snprintf(bind, sizeof bind, "ca-file %s verify required",
		 th_tls_ca(tls));
	start_front(bind, NULL, th_ws_server_port(srv));
	tether_conn *c = conn_to("cert", "ws", "wss");
	ck_assert_int_eq(tether_conn_set_option(c, "cert_file",
						th_tls_cert(tls)), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "key_file",
						th_tls_key(tls)), 0);
	tether_conn *d = conn_to("nocert", "ws", "wss");
	one_up_one_refused(c, d);
	struct it_ev f = it_get(it_find(d, TETHER_EV_RETRY, 0));
	printf("without a client certificate: kind %d code %d (%s)\n", f.kind,
	       f.code, f.text);
	/* half a pair is refused at start */
	tether_conn *e = conn_to("half", "ws", "wss");
	ck_assert_int_eq(tether_conn_set_option(e, "cert_file",
						th_tls_cert(tls)), 0);
	ck_assert_int_eq(tether_conn_start(e), TETHER_ECONFIG);
	ck_assert_ptr_nonnull(strstr(tether_conn_error(e), "key_file"));
}
END_TEST

START_TEST(test_ws_min_tls_refuses_an_older_server)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO};

	ck_assert_int_eq(th_ws_server_start(&o, &srv), 0);
	start_front("ssl-max-ver TLSv1.2", NULL, th_ws_server_port(srv));
	tether_conn *c = conn_to("tls12", "ws", "wss");
	ck_assert_int_eq(tether_conn_set_option(c, "min_tls", "1.2"), 0);
	tether_conn *d = conn_to("tls13", "ws", "wss");
	ck_assert_int_eq(tether_conn_set_option(d, "min_tls", "1.3"), 0);
	one_up_one_refused(c, d);
	struct it_ev f = it_get(it_find(d, TETHER_EV_RETRY, 0));
	ck_assert_int_eq(f.kind, TETHER_KIND_TLS);
	tether_conn *e = conn_to("tls11", "ws", "wss");
	ck_assert_int_eq(tether_conn_set_option(e, "min_tls", "1.1"), 0);
	ck_assert_int_eq(tether_conn_start(e), TETHER_ECONFIG);
}
END_TEST

static Suite *front_suite(void)
{
	Suite *s = suite_create("tls_front");
	TCase *tc = it_tcase(s, "haproxy", setup, teardown, 60);

	tcase_add_test(tc, test_mqtt_alpn_offered_to_a_front_that_requires_it);
	tcase_add_test(tc, test_ws_alpn_offered_to_a_front_that_requires_it);
	tcase_add_test(tc, test_ws_client_certificate_to_a_front_that_requires_one);
	tcase_add_test(tc, test_ws_min_tls_refuses_an_older_server);
	return s;
}

int main(void)
{
	char *hp = th_find_exe("haproxy");

	if (!hp) {
		fprintf(stderr, "haproxy not installed: skipping\n");
		return 77;
	}
	free(hp);
	SRunner *sr = srunner_create(front_suite());
	srunner_run_all(sr, CK_NORMAL);
	int nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
