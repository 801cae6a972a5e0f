/*
 * TLS for both transports, against peers serving a throwaway CA's
 * certificate made by `openssl` in the test's temp dir (docs/architecture.md):
 * MQTT over ssl:// and wss:// (mosquitto), WebSocket over wss:// (the lws
 * test server). The right CA connects, a wrong CA is a fatal TLS verify
 * failure after one attempt, verify=false connects regardless; verify is
 * on by default, and the host name is checked. Loopback and real time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/tether.h>

#include "broker.h"
#include "check-int.h"
#include "itest.h"
#include "net.h"
#include "tls.h"
#include "ws_server.h"

/* Which transport and peer a tcase runs against. */
enum variant { MQTT_SSL, MQTT_WSS, WS_WSS };

static enum variant variant;
static struct th_tls *tls;
static struct th_broker *broker;
static struct th_ws_server *srv;
static tether_conn *conn;

static void begin(enum variant v)
{
	int rc;

	variant = v;
	broker = NULL;
	srv = NULL;
	conn = NULL;
	tls = NULL;
	it_setup(0);
	rc = th_tls_new(&tls);
	ck_assert_msg(rc == 0, "th_tls_new: %s", strerror(-rc));
}

static void setup_mqtt_ssl(void)
{
	begin(MQTT_SSL);
}

static void setup_mqtt_wss(void)
{
	begin(MQTT_WSS);
}

static void setup_ws_wss(void)
{
	begin(WS_WSS);
}

static void teardown(void)
{
	int wrong = it_wrong_thread();
	it_teardown(); /* first: the connections end before the peers */
	th_broker_free(broker);
	th_ws_server_free(srv);
	th_tls_free(tls);
	ck_assert_int_eq(wrong, 0);
}

/* The peer of the variant, serving cert (signed by the right CA). */
static void start_peer(const char *cert)
{
	if (variant == WS_WSS) {
		struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO,
					      .tls_cert = cert,
					      .tls_key = th_tls_key(tls)};
		ck_assert_int_eq(th_ws_server_start(&o, &srv), 0);
	} else {
		/* mosquitto 2.0.11 needs a TCP listener besides a
		   WebSocket one; both serve TLS */
		struct th_broker_opts o = {.websockets = variant == MQTT_WSS,
					   .tls_cafile = th_tls_ca(tls),
					   .tls_certfile = cert,
					   .tls_keyfile = th_tls_key(tls)};
		int rc = th_broker_start(&o, &broker);
		ck_assert_msg(rc == 0, "mosquitto: %s", strerror(-rc));
	}
}

/* A connection to the peer at host; ca_file NULL = the system store,
 * verify NULL = the default. */
static tether_conn *make_conn(const char *host, const char *ca_file,
			      const char *verify)
{
	tether_conn *c;
	char uri[96];

	switch (variant) {
	case MQTT_SSL:
		snprintf(uri, sizeof uri, "ssl://%s:%u", host,
			 th_broker_port(broker));
		break;
	case MQTT_WSS:
		snprintf(uri, sizeof uri, "wss://%s:%u/mqtt", host,
			 th_broker_ws_port(broker));
		break;
	case WS_WSS:
		snprintf(uri, sizeof uri, "wss://%s:%u/", host,
			 th_ws_server_port(srv));
		break;
	}
	ck_assert_int_eq(tether_conn_new(it_mgr, "t1",
					 variant == WS_WSS ? "ws" : "mqtt", &c),
			 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	if (variant == WS_WSS)
		ck_assert_int_eq(tether_conn_set_option(c, "subprotocol",
							"tether-test"),
				 0);
	else
		ck_assert_int_eq(tether_conn_set_option(c, "version", "5"), 0);
	if (ca_file)
		ck_assert_int_eq(tether_conn_set_option(c, "ca_file", ca_file),
				 0);
	if (verify)
		ck_assert_int_eq(tether_conn_set_option(c, "verify", verify), 0);
	it_use_fixed(c, "100ms");
	if (variant != WS_WSS)
		ck_assert_int_eq(tether_conn_subscribe(c, "tether/#", 1), 0);
	return c;
}

/* A message goes out and comes back (MQTT: our own subscription; ws: the
 * echo), so the link really carries data over TLS. */
static void exchange(const char *text)
{
	struct tether_message m = {.size = sizeof m, .topic = "tether/tls",
				   .payload = text, .len = strlen(text),
				   .qos = 1};
	uint64_t id = 0;

	if (variant == WS_WSS)
		m.topic = NULL;
	ck_assert_int_eq(tether_conn_send(conn, &m, &id), 0);
	ck_assert(it_wait(conn, TETHER_EV_SENT, 1, 5000));
	struct it_ev s = it_get(it_find(conn, TETHER_EV_SENT, 0));
	ck_assert_uint_eq(s.msg_id, id);
	ck_assert_int_eq(s.error, 0);
	ck_assert(it_wait(conn, TETHER_EV_MESSAGE, 1, 5000));
	ck_assert_str_eq(it_get(it_find(conn, TETHER_EV_MESSAGE, 0)).payload,
			 text);
}

/* Up, a message both ways, a clean stop, never a failure. */
static void connects_and_exchanges(void)
{
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 8000));
	ck_assert_int_eq(it_count(conn, TETHER_EV_DOWN), 0);
	exchange("over tls");
	ck_assert_int_eq(tether_conn_stop(conn), 0);
	ck_assert(it_wait(conn, TETHER_EV_CLOSED, 1, 5000));
	ck_assert_int_eq(it_count(conn, TETHER_EV_DOWN), 0);
	ck_assert_int_eq(it_count(conn, TETHER_EV_ATTEMPT), 1);
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_CLOSED);
}

/* One attempt, a fatal TLS verify reason, CLOSED, nothing after. */
static void fails_verification_once(void)
{
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_CLOSED, 1, 8000));
	it_run(500); /* five policy intervals: nothing more may happen */
	ck_assert_int_eq(it_count(conn, TETHER_EV_ATTEMPT), 1);
	ck_assert_int_eq(it_count(conn, TETHER_EV_UP), 0);
	ck_assert_int_eq(it_count(conn, TETHER_EV_RETRY), 0);
	int i = it_find(conn, TETHER_EV_FATAL, 0);
	ck_assert_int_ge(i, 0);
	struct it_ev f = it_get(i);
	ck_assert_int_eq(f.cls, TETHER_CLASS_FATAL);
	ck_assert_msg(f.kind == TETHER_KIND_TLS && f.code == TETHER_TLS_VERIFY,
		      "kind %d code %d: %s", f.kind, f.code, f.text);
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_CLOSED);
}

START_TEST(test_tls_right_ca_connects)
{
	start_peer(th_tls_cert(tls));
	conn = make_conn("127.0.0.1", th_tls_ca(tls), NULL);
	connects_and_exchanges();
}
END_TEST

START_TEST(test_tls_right_ca_connects_by_name)
{
	start_peer(th_tls_cert(tls));
	conn = make_conn("localhost", th_tls_ca(tls), "true");
	connects_and_exchanges();
}
END_TEST

START_TEST(test_tls_wrong_ca_is_fatal_after_one_attempt)
{
	start_peer(th_tls_cert(tls));
	conn = make_conn("127.0.0.1", th_tls_other_ca(tls), NULL);
	fails_verification_once();
}
END_TEST

/* verify is on by default: the system store does not know our CA. */
START_TEST(test_tls_system_store_rejects_private_ca)
{
	start_peer(th_tls_cert(tls));
	conn = make_conn("127.0.0.1", NULL, NULL);
	fails_verification_once();
}
END_TEST

START_TEST(test_tls_verify_off_connects_with_wrong_ca)
{
	start_peer(th_tls_cert(tls));
	conn = make_conn("127.0.0.1", th_tls_other_ca(tls), "false");
	connects_and_exchanges();
}
END_TEST

/*
 * A certificate from the right CA but for another name (wrong.invalid, no
 * 127.0.0.1): fatal after one attempt, like a wrong CA, on every
 * transport. lws checks the name (here the IP SAN) as part of
 * verification. Paho 1.3.12 checks it too but says only "TCP/TLS connect
 * failure", as for a refused connect: the MQTT transport then runs a
 * handshake of its own (transports/mqtt_tls_diag.c), whose message names
 * the host asked for and the names the certificate carries.
 */
START_TEST(test_tls_wrong_host_name_is_fatal)
{
	start_peer(th_tls_misnamed_cert(tls));
	conn = make_conn("127.0.0.1", th_tls_ca(tls), NULL);
	fails_verification_once();
	if (variant == WS_WSS)
		return;
	struct it_ev f = it_get(it_find(conn, TETHER_EV_FATAL, 0));
	ck_assert_msg(strstr(f.text, "not for '127.0.0.1'") &&
			  strstr(f.text, "wrong.invalid"),
		      "%s", f.text);
}
END_TEST

/* A refused TLS connect stays a refused connect (transient), although
 * Paho words it as it does a host-name failure. */
START_TEST(test_tls_refused_is_transient)
{
	uint16_t port = th_free_port(); /* nothing listens there */
	char uri[96];

	if (variant == WS_WSS)
		return; /* lws tells them apart by itself */
	ck_assert_uint_gt(port, 0);
	snprintf(uri, sizeof uri, "%s://127.0.0.1:%u%s",
		 variant == MQTT_SSL ? "ssl" : "wss", port,
		 variant == MQTT_SSL ? "" : "/mqtt");
	ck_assert_int_eq(tether_conn_new(it_mgr, "t2", "mqtt", &conn), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(conn, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(conn, "ca_file",
						th_tls_ca(tls)),
			 0);
	it_use_fixed(conn, "100ms");
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_ATTEMPT, 2, 8000));
	ck_assert_int_eq(it_count(conn, TETHER_EV_FATAL), 0);
	struct it_ev d = it_get(it_find(conn, TETHER_EV_DOWN, 0));
	ck_assert_int_eq(d.cls, TETHER_CLASS_TRANSIENT);
	ck_assert_msg(d.kind == TETHER_KIND_SOCKET && d.code == ECONNREFUSED,
		      "kind %d code %d: %s", d.kind, d.code, d.text);
}
END_TEST

START_TEST(test_tls_verify_off_accepts_wrong_host_name)
{
	start_peer(th_tls_misnamed_cert(tls));
	conn = make_conn("127.0.0.1", NULL, "false");
	connects_and_exchanges();
}
END_TEST

/*
 * Heartbeat pings over wss:// go out through lws_write() outside lws's
 * WRITEABLE callback (a plain link's are written by tether itself): the
 * server answers them (the link stays up, and the RTT gauge appears only
 * once a pong came back) and the TLS stream carries messages after them.
 */
START_TEST(test_tls_ws_heartbeat_pings_get_pongs)
{
	char *text;

	start_peer(th_tls_cert(tls));
	conn = make_conn("127.0.0.1", th_tls_ca(tls), NULL);
	ck_assert_int_eq(tether_conn_set_heartbeat(conn, 100, 300, 1), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 8000));
	it_run(800); /* about seven pings */
	ck_assert_int_eq(it_count(conn, TETHER_EV_DOWN), 0);
	text = tether_mgr_metrics_text(it_mgr);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "tether_rtt_seconds{"));
	free(text);
	exchange("after pings");
	ck_assert_int_eq(it_count(conn, TETHER_EV_DOWN), 0);
}
END_TEST

static void add_tcase(Suite *s, const char *name, void (*setup)(void))
{
	TCase *tc = it_tcase(s, name, setup, teardown, 60);
	tcase_add_test(tc, test_tls_right_ca_connects);
	tcase_add_test(tc, test_tls_right_ca_connects_by_name);
	tcase_add_test(tc, test_tls_wrong_ca_is_fatal_after_one_attempt);
	tcase_add_test(tc, test_tls_system_store_rejects_private_ca);
	tcase_add_test(tc, test_tls_verify_off_connects_with_wrong_ca);
	tcase_add_test(tc, test_tls_wrong_host_name_is_fatal);
	tcase_add_test(tc, test_tls_refused_is_transient);
	tcase_add_test(tc, test_tls_verify_off_accepts_wrong_host_name);
}

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	add_tcase(s, "mqtt_ssl", setup_mqtt_ssl);
	add_tcase(s, "mqtt_wss", setup_mqtt_wss);
	add_tcase(s, "ws_wss", setup_ws_wss);
	tcase_add_test(it_tcase(s, "ws_wss_heartbeat", setup_ws_wss, teardown, 60),
		       test_tls_ws_heartbeat_pings_get_pongs);
	return s;
}

int main(void)
{
	/* mosquitto and openssl are real peers/tools: without them these
	   tests cannot mean anything (CI installs both) */
	if (access("/usr/sbin/mosquitto", X_OK) != 0 &&
	    access("/usr/bin/mosquitto", X_OK) != 0) {
		fprintf(stderr, "mosquitto not installed: skipping\n");
		return 77;
	}
	if (system("openssl version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "openssl not installed: skipping\n");
		return 77;
	}
	SRunner *sr = srunner_create(tls_suite());
	srunner_run_all(sr, CK_NORMAL);
	int nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
