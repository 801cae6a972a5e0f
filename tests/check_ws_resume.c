/* WebSocket resume end to end (docs/architecture.md): a ws connection whose
 * resume hook sends "resume <session> <last_seq>" to the test server
 * (tests/harness/ws_server.h) after every connect. The server publishes
 * while the link is kicked (close frame) and reset (fault proxy); the
 * application must see every message once, in order, with no gap. */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/tether.h>

#include "check-int.h"
#include "itest.h"
#include "proxy.h"
#include "ws_server.h"

#define SESSION "gw-01"
#define N 300

static struct th_ws_server *srv;
static struct th_proxy *px;
static tether_conn *conn;

/* Written on the loop thread (hook, resume callback), read by the test. */
static atomic_ullong last_seq;
static atomic_uint received, violations, resumes_sent;
static char first_violation[128];
static char payloads[N][16];

static void on_event(tether_conn *c, const struct tether_event *ev)
{
	const struct tether_message *m = ev->message;
	unsigned long long n;
	char text[128];
	int off = 0;

	if (c != conn || ev->type != TETHER_EV_MESSAGE || !m)
		return;
	snprintf(text, sizeof text, "%.*s", (int)m->len,
		 (const char *)m->payload);
	if (sscanf(text, "seq %llu %n", &n, &off) != 1 || off == 0 ||
	    n != atomic_load(&last_seq) + 1) {
		/* a gap, a duplicate, or a "gap" frame from the server */
		if (atomic_fetch_add(&violations, 1) == 0)
			snprintf(first_violation, sizeof first_violation,
				 "after %llu: '%.80s'",
				 (unsigned long long)atomic_load(&last_seq),
				 text);
		return;
	}
	if (n <= N)
		snprintf(payloads[n - 1], sizeof payloads[0], "%s", text + off);
	atomic_store(&last_seq, n);
	atomic_fetch_add(&received, 1);
}

/* After every connect, first thing on the link. */
static void resume(tether_conn *c, void *ud)
{
	char msg[64];
	int n = snprintf(msg, sizeof msg, "resume %s %llu", SESSION,
			 (unsigned long long)atomic_load(&last_seq));
	struct tether_message m = {.size = sizeof m, .payload = msg,
				   .len = (size_t)n};

	(void)ud;
	ck_assert_int_eq(tether_conn_send(c, &m, NULL), 0);
	atomic_fetch_add(&resumes_sent, 1);
}

static void setup(void)
{
	it_setup(0);
	it_set_hook(on_event);
	srv = NULL;
	px = NULL;
	conn = NULL;
	atomic_store(&last_seq, 0);
	atomic_store(&received, 0);
	atomic_store(&violations, 0);
	atomic_store(&resumes_sent, 0);
	first_violation[0] = '\0';
	memset(payloads, 0, sizeof payloads);
	ck_assert_int_eq(th_ws_server_start(NULL, &srv), 0);
	ck_assert_int_eq(th_proxy_start(th_ws_server_port(srv), &px), 0);
}

static void teardown(void)
{
	int wrong = it_wrong_thread();

	it_teardown(); /* first: the connections end before the peers */
	th_proxy_free(px);
	th_ws_server_free(srv);
	ck_assert_int_eq(wrong, 0);
}

static void make_conn(void)
{
	char uri[64];

	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/", th_proxy_port(px));
	ck_assert_int_eq(tether_conn_new(it_mgr, "resumer", "ws", &conn), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(conn, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(conn, "subprotocol",
						"tether-test"),
			 0);
	ck_assert_int_eq(tether_conn_set_resume_cb(conn, resume, NULL), 0);
	it_use_fixed(conn, "100ms");
}

/* Let the loop run until n messages arrived (or ms passed). */
static int wait_received(unsigned n, int ms)
{
	uint64_t end = it_now_ms() + it_slack((uint64_t)ms);

	while (atomic_load(&received) < n && it_now_ms() < end)
		it_run(10);
	return atomic_load(&received) >= n;
}

START_TEST(test_ws_resume_replays_what_was_missed)
{
	/* history before the first connect: replayed from 0 */
	for (int k = 1; k <= 5; k++) {
		char p[16];
		snprintf(p, sizeof p, "gen %d", k);
		ck_assert_uint_eq(th_ws_server_publish(srv, SESSION, p),
				  (uint64_t)k);
	}
	make_conn();
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	ck_assert(wait_received(5, 5000));

	/* live, then away while more is published: the server closes with
	 * 1001 (going away), nobody listens for a while */
	th_ws_server_close_all(srv, 1001, "restart");
	ck_assert(it_wait(conn, TETHER_EV_DOWN, 1, 5000));
	th_proxy_set_mode(px, TH_PROXY_REFUSE, 0);
	for (int k = 6; k <= 20; k++) {
		char p[16];
		snprintf(p, sizeof p, "gen %d", k);
		ck_assert_uint_eq(th_ws_server_publish(srv, SESSION, p),
				  (uint64_t)k);
	}
	it_run(300);
	ck_assert_uint_eq(atomic_load(&received), 5);
	th_proxy_set_mode(px, TH_PROXY_PASS, 0);
	ck_assert(it_wait(conn, TETHER_EV_UP, 2, 5000));
	ck_assert(wait_received(20, 5000));
	it_run(200); /* nothing more arrives late */
	ck_assert_msg(atomic_load(&violations) == 0, "%s", first_violation);
	ck_assert_uint_eq(atomic_load(&received), 20);
	for (int k = 1; k <= 20; k++) {
		char want[16];
		snprintf(want, sizeof want, "gen %d", k);
		ck_assert_str_eq(payloads[k - 1], want);
	}
	ck_assert_uint_eq(atomic_load(&resumes_sent), 2);
	ck_assert_uint_eq(th_ws_server_resumes(srv), 2);
}
END_TEST

START_TEST(test_ws_resume_under_traffic)
{
	struct th_ws_gen *g;

	make_conn();
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	g = th_ws_gen_start(srv, SESSION, N, 3);
	ck_assert_ptr_nonnull(g);
	/* kicked by a close frame, then reset under it by the proxy, each
	 * while the generator keeps publishing */
	ck_assert(wait_received(40, 5000));
	th_ws_server_close_all(srv, 1001, "restart");
	ck_assert(it_wait(conn, TETHER_EV_DOWN, 1, 5000));
	ck_assert(it_wait(conn, TETHER_EV_UP, 2, 5000));
	ck_assert(wait_received(atomic_load(&received) + 40, 5000));
	th_proxy_set_mode(px, TH_PROXY_RESET, 0);
	ck_assert(it_wait(conn, TETHER_EV_DOWN, 2, 5000));
	it_run(150);
	th_proxy_set_mode(px, TH_PROXY_PASS, 0);
	ck_assert(it_wait(conn, TETHER_EV_UP, 3, 5000));
	ck_assert_int_eq(th_ws_gen_wait(g, 20000), 0);
	ck_assert_msg(wait_received(N, 10000), "%u of %d, %s",
		      atomic_load(&received), N, first_violation);
	it_run(200);
	th_ws_gen_free(g);
	ck_assert_msg(atomic_load(&violations) == 0, "%s", first_violation);
	ck_assert_uint_eq(atomic_load(&received), N);
	ck_assert_uint_eq(atomic_load(&last_seq), N);
	for (int k = 1; k <= N; k++) {
		char want[16];
		snprintf(want, sizeof want, "gen %d", k);
		ck_assert_str_eq(payloads[k - 1], want);
	}
	/* one resume per connect, each accepted by the server */
	ck_assert_uint_eq(atomic_load(&resumes_sent),
			  (unsigned)it_count(conn, TETHER_EV_UP));
	ck_assert_uint_eq(th_ws_server_resumes(srv),
			  (unsigned)it_count(conn, TETHER_EV_UP));
}
END_TEST

static Suite *ws_resume_suite(void)
{
	Suite *s = suite_create("ws_resume");
	TCase *tc = it_tcase(s, "resume", setup, teardown, 60);

	tcase_add_test(tc, test_ws_resume_replays_what_was_missed);
	tcase_add_test(tc, test_ws_resume_under_traffic);
	return s;
}

TTH_CHECK_MAIN(ws_resume_suite)
