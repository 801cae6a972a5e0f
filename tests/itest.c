/* Shared by the runtime and integration suites (see itest.h). */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

/*
 * LeakSanitizer: libwebsockets 4.1.6 on a libuv loop now and then leaves
 * one 160-byte block behind (sizeof(uv_poll_t): the poll handle lws
 * allocates for a client wsi inside lws_client_connect_via_info, freed
 * only by lws's own close callback). Seen twice in about 25 runs of
 * check_coord's WebSocket case, with no frame of tether's between the
 * allocation and lws; its cause inside lws's libuv plugin is not traced
 * yet. Suppressed for allocations made inside libwebsockets: LSan's fast
 * unwinder often stops in lws (built without frame pointers), so the
 * report shows only a realloc in libwebsockets.so (seen in CI in
 * check_ws's and check_coord's 1,000-connection tests). Whatever tether
 * allocates itself keeps leak detection: its own frame is the caller.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:lws_client_connect_via_info\nleak:libwebsockets.so\n";
}

tether_mgr *it_mgr;
static int host;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct it_ev *evs;
static int nev, cap;
static atomic_int wrong;
static void (*hook)(tether_conn *, const struct tether_event *);

uint64_t it_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t it_slack(uint64_t ms)
{
	return getenv("TETHER_TEST_SLOW") ? ms * 10 + 1000 : ms;
}

static void copy_text(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void record(tether_conn *c, const struct tether_event *ev, void *ud)
{
	struct it_ev e;

	(void)ud;
	if (!tether_mgr_is_loop_thread(it_mgr))
		atomic_fetch_add(&wrong, 1);
	memset(&e, 0, sizeof(e));
	e.type = ev->type;
	e.state = ev->state;
	e.cls = ev->reason ? (int)ev->reason->cls : -1;
	e.kind = ev->reason ? (int)ev->reason->kind : -1;
	e.code = ev->reason ? ev->reason->code : 0;
	e.error = ev->error;
	e.at = it_now_ms();
	e.ev_at = ev->now_ms;
	e.msg_id = ev->msg_id;
	e.delay_ms = ev->delay_ms;
	e.conn = c;
	if (ev->reason) {
		e.retry_after_ms = ev->reason->retry_after_ms;
		copy_text(e.text, sizeof(e.text), ev->reason->text);
		copy_text(e.ref, sizeof(e.ref), ev->reason->server_ref);
	} else if (ev->detail) {
		copy_text(e.text, sizeof(e.text), ev->detail);
	}
	if (ev->detail)
		copy_text(e.detail, sizeof(e.detail), ev->detail);
	if (ev->message) {
		e.dup = ev->message->dup;
		for (size_t i = 0; i < ev->message->nprops; i++) {
			const struct tether_property *pr = &ev->message->props[i];
			size_t l = strlen(e.props);

			if (pr->value)
				snprintf(e.props + l, sizeof(e.props) - l,
					 "%s%s=%.*s;", pr->user ? "user:" : "",
					 pr->name, (int)pr->len,
					 (const char *)pr->value);
			else
				snprintf(e.props + l, sizeof(e.props) - l,
					 "%s=%llu;", pr->name,
					 (unsigned long long)pr->number);
		}
	}
	if (ev->message)
		snprintf(e.payload, sizeof(e.payload), "%.*s",
			 (int)(ev->message->len < 127 ? ev->message->len : 127),
			 (const char *)ev->message->payload);
	pthread_mutex_lock(&mu);
	if (nev == cap) {
		int ncap = cap ? cap * 2 : 1024;
		struct it_ev *n = realloc(evs, (size_t)ncap * sizeof(*n));
		if (n) {
			evs = n;
			cap = ncap;
		}
	}
	if (nev < cap)
		evs[nev++] = e;
	pthread_mutex_unlock(&mu);
	if (hook)
		hook(c, ev);
}

void it_setup(int host_driven)
{
	host = host_driven;
	nev = 0;
	hook = NULL;
	atomic_store(&wrong, 0);
	ck_assert_int_eq(tether_mgr_new(&it_mgr), 0);
	ck_assert_int_eq(tether_mgr_set_event_cb(it_mgr, record, NULL), 0);
	if (!host)
		ck_assert_int_eq(tether_mgr_start(it_mgr), 0);
}

void it_teardown(void)
{
	tether_mgr_free(it_mgr);
	it_mgr = NULL;
	free(evs);
	evs = NULL;
	nev = cap = 0;
}

void it_set_hook(void (*h)(tether_conn *, const struct tether_event *))
{
	hook = h;
}

int it_count(const tether_conn *conn, enum tether_event_type t)
{
	int n = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nev; i++)
		n += evs[i].type == t && (!conn || evs[i].conn == conn);
	pthread_mutex_unlock(&mu);
	return n;
}

int it_find(const tether_conn *conn, enum tether_event_type t, int nth)
{
	int r = -1;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nev && r < 0; i++)
		if (evs[i].type == t && (!conn || evs[i].conn == conn) &&
		    nth-- == 0)
			r = i;
	pthread_mutex_unlock(&mu);
	return r;
}

struct it_ev it_get(int i)
{
	struct it_ev e;
	pthread_mutex_lock(&mu);
	ck_assert_int_ge(i, 0);
	ck_assert_int_lt(i, nev);
	e = evs[i];
	pthread_mutex_unlock(&mu);
	return e;
}

static void step(int max_ms)
{
	if (host) {
		struct pollfd pfd = {.fd = tether_mgr_fd(it_mgr),
				     .events = POLLIN};
		int to = tether_mgr_timeout_ms(it_mgr);
		if (to < 0 || to > max_ms)
			to = max_ms;
		poll(&pfd, 1, to);
		ck_assert_int_eq(tether_mgr_dispatch(it_mgr), 0);
	} else {
		usleep((useconds_t)max_ms * 1000);
	}
}

int it_wait(const tether_conn *conn, enum tether_event_type t, int n, int ms)
{
	uint64_t end = it_now_ms() + (uint64_t)ms;
	while (it_count(conn, t) < n && it_now_ms() < end)
		step(5);
	return it_count(conn, t) >= n;
}

void it_run(int ms)
{
	uint64_t end = it_now_ms() + (uint64_t)ms;
	while (it_now_ms() < end)
		step(5);
}

int it_wrong_thread(void)
{
	return atomic_load(&wrong);
}

tether_params *it_fixed(const char *interval)
{
	tether_params *p = tether_params_new(NULL);
	tether_params_set(p, "type", "fixed", NULL);
	tether_params_set(p, "interval", interval, NULL);
	return p;
}

void it_use_fixed(tether_conn *c, const char *interval)
{
	tether_params *p = it_fixed(interval);
	int rc = tether_conn_set_policy(c, p);
	tether_params_free(p);
	ck_assert_msg(rc == 0, "policy: %s", tether_conn_error(c));
}

void it_start(tether_conn *c)
{
	ck_assert_msg(tether_conn_start(c) == 0, "start: %s",
		      tether_conn_error(c));
}

TCase *it_tcase(Suite *s, const char *name, void (*setup)(void),
		void (*teardown)(void), double timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}
