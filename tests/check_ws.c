/*
 * The WebSocket transport against a real libwebsockets server, through the
 * fault proxy, on loopback and real time (docs/architecture.md, issue 3).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lws_config.h>
#include <pthread.h>
#include <uv.h>
#include <tether/tether.h>

#include "check-int.h"
#include "itest.h"
#include "net.h"
#include "proxy.h"
#include "ws_server.h"

static struct th_ws_server *srv;
static struct th_proxy *px;
static tether_conn *conn;

static void start_server(const struct th_ws_server_opts *o)
{
	ck_assert_int_eq(th_ws_server_start(o, &srv), 0);
}

static void begin(int host_driven)
{
	it_setup(host_driven);
	srv = NULL;
	px = NULL;
	conn = NULL;
}

static void setup(void)
{
	begin(0);
}

static void setup_host(void)
{
	begin(1);
}

static void teardown(void)
{
	int wrong = it_wrong_thread();
	it_teardown(); /* first: the connections end before the peers */
	th_proxy_free(px);
	th_ws_server_free(srv);
	ck_assert_int_eq(wrong, 0);
}

/* A connection to the server, through the proxy when via_proxy. */
static tether_conn *make_conn(const char *name, int via_proxy,
			      const char *policy_interval)
{
	tether_conn *c;
	char uri[64];
	uint16_t port = th_ws_server_port(srv);

	if (via_proxy) {
		if (!px)
			ck_assert_int_eq(th_proxy_start(port, &px), 0);
		port = th_proxy_port(px);
	}
	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/", port);
	ck_assert_int_eq(tether_conn_new(it_mgr, name, "ws", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "subprotocol", "tether-test"), 0);
	if (policy_interval)
		it_use_fixed(c, policy_interval);
	return c;
}

static void exchange(tether_conn *c, int n_before)
{
	struct tether_message txt = {.size = sizeof txt, .payload = "hello",
				     .len = 5};
	struct tether_message bin = {.size = sizeof bin, .payload = "\x01\x02",
				     .len = 2, .binary = 1};
	uint64_t id1 = 0, id2 = 0;

	ck_assert_int_eq(tether_conn_send(c, &txt, &id1), 0);
	ck_assert_int_eq(tether_conn_send(c, &bin, &id2), 0);
	ck_assert(it_wait(c, TETHER_EV_MESSAGE, n_before + 2, 3000));
	ck_assert(it_wait(c, TETHER_EV_SENT, n_before + 2, 3000));
	struct it_ev e = it_get(it_find(c, TETHER_EV_SENT, n_before));
	ck_assert_uint_eq(e.msg_id, id1);
	ck_assert_int_eq(e.error, 0);
	ck_assert_str_eq(it_get(it_find(c, TETHER_EV_MESSAGE, n_before)).payload,
			 "hello");
}

START_TEST(test_ws_connect_exchange_stop)
{
	start_server(NULL);
	conn = make_conn("ws1", 0, NULL);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_ONLINE);
	exchange(conn, 0);
	ck_assert_int_eq(tether_conn_stop(conn), 0);
	ck_assert(it_wait(conn, TETHER_EV_CLOSED, 1, 5000));
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_CLOSED);
	ck_assert_int_eq(it_count(conn, TETHER_EV_DOWN), 0);
}
END_TEST

/* Threads of this process now. */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * lws runs on the manager's loop: a manager with only WebSocket links
 * (ten of them, echoing, heartbeats on) runs exactly one thread, its
 * loop's; stopped, it runs none. The harness server's threads are counted
 * out, since it runs in this process.
 */
START_TEST(test_ws_manager_runs_one_thread)
{
	tether_conn *c[10];
	int before, running, stopped;

	start_server(NULL);
	before = thread_count(); /* the manager's loop runs, no link yet */
	for (int i = 0; i < 10; i++) {
		char name[16];

		snprintf(name, sizeof name, "ws%d", i);
		c[i] = make_conn(name, 0, NULL);
		ck_assert_int_eq(tether_conn_set_heartbeat(c[i], 200, 500, 2), 0);
		it_start(c[i]);
	}
	for (int i = 0; i < 10; i++)
		ck_assert(it_wait(c[i], TETHER_EV_UP, 1, 5000));
	for (int i = 0; i < 10; i++)
		exchange(c[i], 0);
	it_run(600); /* heartbeats went out and came back */
	running = thread_count();
	ck_assert_int_eq(running, before); /* lws added no thread */
	ck_assert_int_eq(tether_mgr_stop(it_mgr), 0);
	/*
	 * pthread_join returns when the kernel clears the thread's tid, a
	 * little before it drops the task from /proc/self/task: wait for
	 * that (seen once in CI under ASan), at most 2 s.
	 */
	for (int i = 0; i < 200 && running - thread_count() != 1; i++)
		usleep(10000);
	stopped = thread_count();
	ck_assert_int_eq(running - stopped, 1);
	ck_assert_int_eq(tether_mgr_start(it_mgr), 0);
	for (int i = 0; i < 10; i++)
		exchange(c[i], 2);
	ck_assert_int_eq(thread_count(), running);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(it_count(c[i], TETHER_EV_DOWN), 0);
}
END_TEST

START_TEST(test_ws_server_killed_reconnects_on_schedule)
{
	uint64_t times[64];
	struct th_ws_server *old;

	start_server(NULL);
	conn = make_conn("ws1", 1, "300ms");
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	th_proxy_reset_counters(px);
	/* The server dies: the link drops, and every attempt through the
	   proxy finds nothing behind it. */
	old = srv;
	srv = NULL;
	th_ws_server_free(old);
	ck_assert(it_wait(conn, TETHER_EV_DOWN, 1, 3000));
	struct it_ev d = it_get(it_find(conn, TETHER_EV_DOWN, 0));
	ck_assert_int_eq(d.cls, TETHER_CLASS_TRANSIENT);
	it_run(1400);
	start_server(NULL);
	th_proxy_set_target(px, th_ws_server_port(srv));
	ck_assert(it_wait(conn, TETHER_EV_UP, 2, 5000));
	/* fixed 300 ms: attempts ~300 ms apart, about 1.4 s / 300 ms of
	   them during the outage, then the one that succeeds */
	size_t n = th_proxy_attempt_times(px, times, 64);
	ck_assert_msg(n >= 4 && n <= 7, "%zu attempts", n);
	for (size_t i = 1; i < n; i++) {
		uint64_t gap = times[i] - times[i - 1];
		ck_assert_msg(gap >= 290 && gap <= 300 + it_slack(150),
			      "gap %zu: %llu ms", i, (unsigned long long)gap);
	}
	exchange(conn, 0);
}
END_TEST

START_TEST(test_ws_unauthorized_is_fatal_after_one_attempt)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO,
				      .require_header = "Authorization: Bearer good"};
	start_server(&o);
	conn = make_conn("ws1", 0, "100ms");
	ck_assert_int_eq(tether_conn_set_option(conn, "header.Authorization",
						"Bearer bad"), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_CLOSED, 1, 5000));
	it_run(500); /* five policy intervals: nothing more may happen */
	ck_assert_uint_eq(th_ws_server_upgrades(srv), 1);
	struct it_ev f = it_get(it_find(conn, TETHER_EV_FATAL, 0));
	ck_assert_int_eq(f.cls, TETHER_CLASS_FATAL);
	ck_assert_int_eq(f.kind, TETHER_KIND_HTTP);
	ck_assert_int_eq(f.code, 401);
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_CLOSED);
	ck_assert_int_eq(it_count(conn, TETHER_EV_RETRY), 0);
}
END_TEST

START_TEST(test_ws_right_credentials_pass)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO,
				      .require_header = "Authorization: Bearer good"};
	start_server(&o);
	conn = make_conn("ws1", 0, NULL);
	ck_assert_int_eq(tether_conn_set_option(conn, "header.Authorization",
						"Bearer good"), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
}
END_TEST

START_TEST(test_ws_blackhole_detected_by_heartbeat)
{
	start_server(NULL);
	conn = make_conn("ws1", 1, "100ms");
	/* interval 300 + timeout 150 x misses 2 = 600 ms */
	ck_assert_int_eq(tether_conn_set_heartbeat(conn, 300, 150, 2), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	it_run(700); /* answered pings keep it up */
	ck_assert_int_eq(it_count(conn, TETHER_EV_DOWN), 0);
	uint64_t t0 = it_now_ms();
	th_proxy_set_mode(px, TH_PROXY_BLACKHOLE, 0);
	ck_assert(it_wait(conn, TETHER_EV_DOWN, 1, 5000));
	struct it_ev d = it_get(it_find(conn, TETHER_EV_DOWN, 0));
	/* on the engine's clock: when it decided, not when the recorder
	   heard of it */
	uint64_t took = d.ev_at - t0;
	printf("ws blackhole detected after %llu ms (interval 300 + timeout 150 x 2)\n",
	       (unsigned long long)took);
	/* The bound (tether.yaml(5), heartbeat): the last inbound frame came
	   at most one interval before t0; interval + timeout x misses after
	   it, each of the misses + 1 deadlines rounded up to a grain of
	   min(300/16, 150/8, 250) = 18 ms; plus the loop's lateness. */
	ck_assert_msg(took <= 600 + 3 * 18 + it_slack(120),
		      "detected after %llu ms", (unsigned long long)took);
	ck_assert_msg(took >= 300, "detected after %llu ms",
		      (unsigned long long)took);
	ck_assert_int_eq(d.cls, TETHER_CLASS_TIMEOUT);
	ck_assert_int_eq(d.code, TETHER_LOCAL_HEARTBEAT_TIMEOUT);
	th_proxy_set_mode(px, TH_PROXY_PASS, 0);
	ck_assert(it_wait(conn, TETHER_EV_UP, 2, 5000));
}
END_TEST

START_TEST(test_ws_rst_is_transient)
{
	start_server(NULL);
	conn = make_conn("ws1", 1, "200ms");
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	th_proxy_cut(px, 1);
	ck_assert(it_wait(conn, TETHER_EV_DOWN, 1, 3000));
	struct it_ev d = it_get(it_find(conn, TETHER_EV_DOWN, 0));
	ck_assert_int_eq(d.cls, TETHER_CLASS_TRANSIENT);
	ck_assert_int_ge(it_find(conn, TETHER_EV_RETRY, 0), 0);
	ck_assert(it_wait(conn, TETHER_EV_UP, 2, 3000));
	uint64_t back = it_get(it_find(conn, TETHER_EV_UP, 1)).at - d.at;
	ck_assert_msg(back >= 195 && back <= 200 + it_slack(200),
		      "back after %llu ms", (unsigned long long)back);
}
END_TEST

START_TEST(test_ws_refused_first_endpoint_uses_second)
{
	char uri[64];

	start_server(NULL);
	ck_assert_int_eq(tether_conn_new(it_mgr, "ws1", "ws", &conn), 0);
	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/", th_free_port());
	ck_assert_int_eq(tether_conn_add_endpoint(conn, uri), 0);
	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/", th_ws_server_port(srv));
	ck_assert_int_eq(tether_conn_add_endpoint(conn, uri), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	struct it_ev d = it_get(it_find(conn, TETHER_EV_DOWN, 0));
	ck_assert_int_eq(d.cls, TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(d.kind, TETHER_KIND_SOCKET);
	ck_assert_int_eq(d.code, ECONNREFUSED);
	ck_assert_int_eq(it_count(conn, TETHER_EV_ATTEMPT), 2);
	ck_assert_int_eq(it_count(conn, TETHER_EV_RETRY), 0);
}
END_TEST

/* The server closes with `code` 100 ms after the upgrade. */
static struct it_ev closed_with(int code, const char *policy)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_CLOSE_AFTER,
				      .close_code = code,
				      .close_reason = "bye",
				      .close_after_ms = 100};
	start_server(&o);
	conn = make_conn("ws1", 0, policy);
	ck_assert_int_eq(tether_conn_set_timing(conn, "overload_floor", 700), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_DOWN, 1, 5000));
	struct it_ev d = it_get(it_find(conn, TETHER_EV_DOWN, 0));
	ck_assert_int_eq(d.kind, TETHER_KIND_WS_CLOSE);
	/* the code as sent, also where lws 4.1 rewrote it (ws_close.c) */
	ck_assert_int_eq(d.code, code);
	ck_assert_str_eq(d.text, "bye");
	return d;
}

START_TEST(test_ws_close_1013_is_overload_with_floor)
{
	struct it_ev d = closed_with(1013, "50ms");
	ck_assert_int_eq(d.cls, TETHER_CLASS_OVERLOAD);
	ck_assert(it_wait(conn, TETHER_EV_RETRY, 1, 2000));
	/* the policy says 50 ms; the overload floor says 700 */
	ck_assert_uint_eq(it_get(it_find(conn, TETHER_EV_RETRY, 0)).delay_ms, 700);
	ck_assert(it_wait(conn, TETHER_EV_ATTEMPT, 2, 3000));
	uint64_t gap = it_get(it_find(conn, TETHER_EV_ATTEMPT, 1)).at - d.at;
	ck_assert_msg(gap >= 695, "retried after %llu ms", (unsigned long long)gap);
}
END_TEST

START_TEST(test_ws_close_1008_is_fatal)
{
	struct it_ev d = closed_with(1008, "50ms");
	ck_assert_int_eq(d.cls, TETHER_CLASS_FATAL);
	ck_assert(it_wait(conn, TETHER_EV_CLOSED, 1, 2000));
	it_run(300);
	ck_assert_int_eq(it_count(conn, TETHER_EV_ATTEMPT), 1);
}
END_TEST

START_TEST(test_ws_close_1001_is_transient)
{
	struct it_ev d = closed_with(1001, "50ms");
	ck_assert_int_eq(d.cls, TETHER_CLASS_TRANSIENT);
	ck_assert(it_wait(conn, TETHER_EV_UP, 2, 3000));
}
END_TEST

START_TEST(test_ws_dropped_tcp_is_transient)
{
	start_server(NULL);
	conn = make_conn("ws1", 1, "50ms");
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	th_proxy_cut(px, 0); /* FIN, no close frame: 1006 territory */
	ck_assert(it_wait(conn, TETHER_EV_DOWN, 1, 3000));
	struct it_ev d = it_get(it_find(conn, TETHER_EV_DOWN, 0));
	ck_assert_int_eq(d.cls, TETHER_CLASS_TRANSIENT);
	ck_assert(it_wait(conn, TETHER_EV_UP, 2, 3000));
}
END_TEST

START_TEST(test_ws_host_driven_loop)
{
	start_server(NULL);
	conn = make_conn("ws1", 0, NULL);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	exchange(conn, 0);
	ck_assert_int_eq(tether_conn_stop(conn), 0);
	ck_assert(it_wait(conn, TETHER_EV_CLOSED, 1, 5000));
}
END_TEST

#define MANY 1000
#define RATE 200
#define BURST 20

/* The most of the sorted times t[0..n) inside any 1 s window. */
static size_t most_in_1s(const uint64_t *t, size_t n)
{
	size_t lo = 0, most = 0;

	for (size_t hi = 0; hi < n; hi++) {
		while (t[hi] - t[lo] >= 1000)
			lo++;
		if (hi - lo + 1 > most)
			most = hi - lo + 1;
	}
	return most;
}

/* A manager on the host's own libuv loop (tether_mgr_new_uv). */
struct uvhost {
	uv_loop_t *loop;
	pthread_t tid;
	int up, echoed, closed, wrong;
};

static void uvhost_cb(tether_conn *c, const struct tether_event *ev,
		      void *ud)
{
	struct uvhost *h = ud;
	struct tether_message m = {.size = sizeof m, .payload = "hi", .len = 2};

	if (!pthread_equal(pthread_self(), h->tid))
		h->wrong++;
	if (ev->type == TETHER_EV_UP) {
		h->up++;
		ck_assert_int_eq(tether_conn_send(c, &m, NULL), 0);
	} else if (ev->type == TETHER_EV_MESSAGE) {
		h->echoed++;
		ck_assert_int_eq(tether_conn_stop(c), 0);
	} else if (ev->type == TETHER_EV_STATE &&
		   ev->state == TETHER_STATE_CLOSED) {
		h->closed++;
		uv_stop(h->loop);
	}
}

static void uvhost_deadline(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/*
 * The host runs libuv: the manager's handles and lws's sockets live on the
 * host's loop, callbacks run on the host's thread, and after
 * tether_mgr_free the loop closes cleanly (every handle of tether's and
 * lws's gone: uv_loop_close succeeds).
 */
START_TEST(test_ws_on_host_uv_loop)
{
	uv_loop_t loop;
	uv_timer_t deadline;
	struct uvhost h = {.loop = &loop, .tid = pthread_self()};
	tether_mgr *m = NULL;
	tether_conn *c = NULL;
	char uri[64];

	start_server(NULL);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(tether_mgr_new_uv(&m, NULL), TETHER_EINVAL);
	ck_assert_int_eq(tether_mgr_new_uv(&m, &loop), 0);
	ck_assert_ptr_eq(tether_mgr_uv_loop(m), &loop);
	/* the host runs this loop: none of the other ways apply */
	ck_assert_int_eq(tether_mgr_fd(m), -1);
	ck_assert_int_eq(tether_mgr_start(m), TETHER_ESTATE);
	ck_assert_int_eq(tether_mgr_dispatch(m), TETHER_ESTATE);
	ck_assert_int_eq(tether_mgr_set_event_cb(m, uvhost_cb, &h), 0);
	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/",
		 th_ws_server_port(srv));
	ck_assert_int_eq(tether_conn_new(m, "uv1", "ws", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "subprotocol", "tether-test"),
			 0);
	ck_assert_int_eq(tether_conn_start(c), 0);
	uv_timer_init(&loop, &deadline);
	uv_timer_start(&deadline, uvhost_deadline, 5000, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(h.up, 1);
	ck_assert_int_eq(h.echoed, 1);
	ck_assert_int_eq(h.closed, 1);
	ck_assert_int_eq(h.wrong, 0);
	tether_mgr_free(m);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(&loop, UV_RUN_DEFAULT); /* returns once every close is done */
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_ws_thousand_connections_respect_the_limiter)
{
	static uint64_t times[4 * MANY];
	tether_conn *c[MANY];
	char name[32];

	start_server(NULL);
	ck_assert_int_eq(th_proxy_start(th_ws_server_port(srv), &px), 0);
	ck_assert_int_eq(tether_mgr_set_limits(it_mgr, RATE, BURST, 0), 0);
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof name, "ws%d", i);
		tether_params *p = tether_params_new(NULL);
		tether_params_set(p, "type", "exponential", NULL);
		tether_params_set(p, "initial", "300ms", NULL);
		tether_params_set(p, "max", "2s", NULL);
		char uri[64];
		snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/", th_proxy_port(px));
		ck_assert_int_eq(tether_conn_new(it_mgr, name, "ws", &c[i]), 0);
		ck_assert_int_eq(tether_conn_add_endpoint(c[i], uri), 0);
		ck_assert_int_eq(tether_conn_set_policy(c[i], p), 0);
		tether_params_free(p);
		it_start(c[i]);
	}
	ck_assert(it_wait(NULL, TETHER_EV_UP, MANY, 30000));
	/* outage: every link reset, and for 2 s every attempt too */
	th_proxy_set_mode(px, TH_PROXY_RESET, 0);
	ck_assert(it_wait(NULL, TETHER_EV_DOWN, MANY, 10000));
	it_run(2000);
	th_proxy_set_mode(px, TH_PROXY_PASS, 0);
	ck_assert_msg(it_wait(NULL, TETHER_EV_UP, 2 * MANY, 60000),
		      "%d of %d back", it_count(NULL, TETHER_EV_UP) - MANY, MANY);
	size_t n = th_proxy_attempt_times(px, times, 4 * MANY);
	ck_assert_uint_le(n, 4 * MANY);
	/* never more than burst + rate x window in any window */
	size_t worst = most_in_1s(times, n);
	/* at the proxy, connects arrive a little after their grant (the lws
	   service thread makes them): allow 10 % for that delivery jitter */
	ck_assert_msg(worst <= BURST + RATE + RATE / 10,
		      "%zu attempts in one second at the proxy", worst);
	/* the grants themselves (ATTEMPT events, on the loop) keep the bound
	   exactly */
	size_t na = 0, wa;
	for (int k; na < 4 * MANY &&
		    (k = it_find(NULL, TETHER_EV_ATTEMPT, (int)na)) >= 0;)
		times[na++] = it_get(k).at;
	wa = most_in_1s(times, na);
	ck_assert_msg(wa <= BURST + RATE, "%zu attempts granted in one second",
		      wa);
	printf("ws limiter: %zu attempts at the proxy, at most %zu in any 1 s; "
	       "%zu granted, at most %zu in any 1 s (limit %d)\n",
	       n, worst, na, wa, BURST + RATE);
}
END_TEST

static Suite *ws_suite(void)
{
	Suite *s = suite_create("ws");
	TCase *tc = it_tcase(s, "basics", setup, teardown, 60);
	tcase_add_test(tc, test_ws_connect_exchange_stop);
	tcase_add_test(tc, test_ws_right_credentials_pass);
	tcase_add_test(tc, test_ws_refused_first_endpoint_uses_second);
	tcase_add_test(tc, test_ws_manager_runs_one_thread);
	tc = it_tcase(s, "host_loop", setup_host, teardown, 60);
	tcase_add_test(tc, test_ws_host_driven_loop);
	tcase_add_test(tc, test_ws_on_host_uv_loop);
	tc = it_tcase(s, "faults", setup, teardown, 60);
	tcase_add_test(tc, test_ws_server_killed_reconnects_on_schedule);
	tcase_add_test(tc, test_ws_unauthorized_is_fatal_after_one_attempt);
	tcase_add_test(tc, test_ws_blackhole_detected_by_heartbeat);
	tcase_add_test(tc, test_ws_rst_is_transient);
	tcase_add_test(tc, test_ws_dropped_tcp_is_transient);
	tc = it_tcase(s, "close_codes", setup, teardown, 60);
	tcase_add_test(tc, test_ws_close_1013_is_overload_with_floor);
	tcase_add_test(tc, test_ws_close_1008_is_fatal);
	tcase_add_test(tc, test_ws_close_1001_is_transient);
	tc = it_tcase(s, "scale", setup, teardown, 180);
	tcase_add_test(tc, test_ws_thousand_connections_respect_the_limiter);
	return s;
}

TTH_CHECK_MAIN(ws_suite)
