/*
 * The runtime on real time: the manager's loop (own thread and host
 * driven), reports posted from a transport's own thread, callbacks on the
 * loop thread only, heartbeats, subscriptions re-applied after reconnect,
 * option errors. The transport here is a small test transport with a
 * thread of its own (real peers are in check_mqtt and check_ws).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tether/transport.h>

#include "check-int.h"
#include "itest.h"

/* ------------------------------------------------ the test transport */

struct cmd {
	struct cmd *next;
	enum { K_CONNECT, K_CLOSE, K_SEND, K_PING, K_LATE_FAIL } kind;
	tether_conn *conn;
	uint32_t attempt;
	char uri[64];
	uint64_t msg_id;
	char topic[64];
	char payload[64];
	size_t len;
	int dup;
};

struct tctx {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cmd *head, *tail;
	int quit;
};

struct tlink {
	struct tctx *ctx;
	tether_conn *conn;
	int swallow;           /* sends get no report until abort... */
	int swallow_once;      /* ...only on the first link */
	uint64_t swallowed[16]; /* ...and then a late one, as Paho does */
	int nswallowed;
};

static atomic_int n_connects, n_subscribes, n_pings, answer_pings, n_aborts;
static _Atomic unsigned long transport_thread; /* a pthread_t */

static void push(struct tctx *t, struct cmd *c)
{
	pthread_mutex_lock(&t->mu);
	if (t->tail)
		t->tail->next = c;
	else
		t->head = c;
	t->tail = c;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static void run_cmd(struct cmd *c)
{
	usleep(2000); /* a little network latency */
	switch (c->kind) {
	case K_CONNECT:
		if (strcmp(c->uri, "test://ok") == 0) {
			tether_transport_up(c->conn, c->attempt, 0);
		} else if (strcmp(c->uri, "test://badcreds") == 0) {
			struct tether_reason r = {.kind = TETHER_KIND_MQTT3,
						  .code = 5, .by_peer = 1,
						  .text = "not authorized"};
			tether_transport_fail(c->conn, c->attempt, &r);
		} else if (strcmp(c->uri, "test://refuse") == 0) {
			struct tether_reason r = {.kind = TETHER_KIND_SOCKET,
						  .code = ECONNREFUSED};
			tether_transport_fail(c->conn, c->attempt, &r);
		} /* test://hang: never answers */
		break;
	case K_CLOSE:
		tether_transport_closed(c->conn, c->attempt);
		break;
	case K_SEND: {
		struct tether_message m = {.size = sizeof(m), .topic = c->topic,
					   .payload = c->payload, .len = c->len,
					   .dup = c->dup};
		tether_transport_sent(c->conn, c->attempt, c->msg_id, 0);
		tether_transport_message(c->conn, c->attempt, &m); /* echo */
		break;
	}
	case K_PING:
		if (atomic_load(&answer_pings))
			tether_transport_pong(c->conn, c->attempt);
		break;
	case K_LATE_FAIL:
		tether_transport_sent(c->conn, c->attempt, c->msg_id, TETHER_EIO);
		break;
	}
}

static void *tthread(void *arg)
{
	struct tctx *t = arg;

	pthread_mutex_lock(&t->mu);
	while (!t->quit) {
		struct cmd *c = t->head;
		if (!c) {
			pthread_cond_wait(&t->cv, &t->mu);
			continue;
		}
		t->head = c->next;
		if (!t->head)
			t->tail = NULL;
		pthread_mutex_unlock(&t->mu);
		run_cmd(c);
		free(c);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static int t_ctx_new(tether_mgr *m, void **out)
{
	struct tctx *t = calloc(1, sizeof(*t));
	(void)m;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	pthread_create(&t->thread, NULL, tthread, t);
	atomic_store(&transport_thread, (unsigned long)t->thread);
	*out = t;
	return 0;
}

static void t_ctx_free(void *ctx)
{
	struct tctx *t = ctx;
	pthread_mutex_lock(&t->mu);
	t->quit = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	while (t->head) {
		struct cmd *c = t->head;
		t->head = c->next;
		free(c);
	}
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t);
}

static int t_link_new(void *ctx, tether_conn *conn, tether_params *opts,
		      void **out)
{
	struct tlink *l = calloc(1, sizeof(*l));
	int pings;
	l->ctx = ctx;
	l->conn = conn;
	tether_params_bool(opts, "answer_pings", 1, &pings);
	atomic_store(&answer_pings, pings);
	tether_params_bool(opts, "swallow_sends", 0, &l->swallow);
	tether_params_bool(opts, "swallow_once", 0, &l->swallow_once);
	*out = l;
	return 0;
}

static void t_link_free(void *link)
{
	free(link);
}

static struct cmd *mk(struct tlink *l, int kind, uint32_t attempt)
{
	struct cmd *c = calloc(1, sizeof(*c));
	c->kind = kind;
	c->conn = l->conn;
	c->attempt = attempt;
	return c;
}

static int t_connect(void *link, uint32_t attempt, const char *uri)
{
	struct cmd *c = mk(link, K_CONNECT, attempt);
	atomic_fetch_add(&n_connects, 1);
	snprintf(c->uri, sizeof(c->uri), "%s", uri);
	push(((struct tlink *)link)->ctx, c);
	return 0;
}

static struct cmd *mk(struct tlink *l, int kind, uint32_t attempt);

static void t_abort(void *link, uint32_t attempt)
{
	struct tlink *l = link;

	atomic_fetch_add(&n_aborts, 1);
	for (int i = 0; i < l->nswallowed; i++) {
		struct cmd *c = mk(l, K_LATE_FAIL, attempt);
		c->msg_id = l->swallowed[i];
		push(l->ctx, c);
	}
	l->nswallowed = 0;
	if (l->swallow_once)
		l->swallow = 0;
}

static void t_close(void *link, uint32_t attempt)
{
	push(((struct tlink *)link)->ctx, mk(link, K_CLOSE, attempt));
}

static int t_send(void *link, uint32_t attempt, uint64_t id,
		  const struct tether_message *msg)
{
	struct tlink *l = link;
	struct cmd *c;

	if (l->swallow) {
		if (l->nswallowed < 16)
			l->swallowed[l->nswallowed++] = id;
		return 0;
	}
	c = mk(link, K_SEND, attempt);
	c->msg_id = id;
	c->dup = msg->dup;
	snprintf(c->topic, sizeof(c->topic), "%s", msg->topic ? msg->topic : "");
	c->len = msg->len < sizeof(c->payload) ? msg->len : sizeof(c->payload);
	memcpy(c->payload, msg->payload, c->len);
	push(((struct tlink *)link)->ctx, c);
	return 0;
}

static int t_subscribe(void *link, uint32_t attempt, const char *topic, int qos)
{
	(void)link;
	(void)attempt;
	(void)qos;
	ck_assert_str_eq(topic, "cmd/#");
	atomic_fetch_add(&n_subscribes, 1);
	return 0;
}

static int t_ping(void *link, uint32_t attempt)
{
	atomic_fetch_add(&n_pings, 1);
	push(((struct tlink *)link)->ctx, mk(link, K_PING, attempt));
	return 0;
}

static const char *const t_schemes[] = {"test", NULL};
static const struct tether_transport_ops test_transport = {
	.abi = TETHER_TRANSPORT_ABI,
	.name = "test",
	.schemes = t_schemes,
	.ctx_new = t_ctx_new,
	.ctx_free = t_ctx_free,
	.link_new = t_link_new,
	.link_free = t_link_free,
	.connect = t_connect,
	.abort = t_abort,
	.close = t_close,
	.send = t_send,
	.subscribe = t_subscribe,
	.ping = t_ping,
};

/* ------------------------------------------------------------ fixture */

static tether_conn *conn;
static atomic_int on_transport_thread;
static int stop_on_message;
static int remove_on_up;

static void hook(tether_conn *c, const struct tether_event *ev)
{
	if (pthread_equal(pthread_self(),
			  (pthread_t)atomic_load(&transport_thread)))
		atomic_fetch_add(&on_transport_thread, 1);
	if (ev->type == TETHER_EV_MESSAGE && stop_on_message)
		ck_assert_int_eq(tether_conn_stop(c), 0); /* from a callback */
	if (ev->type == TETHER_EV_UP && remove_on_up)
		ck_assert_int_eq(tether_conn_remove(c), 0); /* from a callback */
}

static void begin(int host_driven)
{
	int rc = tether_transport_register(&test_transport);
	ck_assert(rc == 0 || rc == TETHER_EEXIST);
	stop_on_message = 0;
	remove_on_up = 0;
	atomic_store(&on_transport_thread, 0);
	/* a thread id of an earlier test's transport may be reused by this
	   test's loop thread before this test's transport starts */
	atomic_store(&transport_thread, 0);
	atomic_store(&n_connects, 0);
	atomic_store(&n_subscribes, 0);
	atomic_store(&n_pings, 0);
	atomic_store(&n_aborts, 0);
	it_setup(host_driven);
	it_set_hook(hook);
	ck_assert_int_eq(tether_conn_new(it_mgr, "c1", "test", &conn), 0);
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
	ck_assert_int_eq(it_wrong_thread(), 0);
	ck_assert_int_eq(atomic_load(&on_transport_thread), 0);
	it_teardown();
}

/* --------------------------------------------------------------- tests */

START_TEST(test_mgr_threaded_connect_send_stop)
{
	struct tether_message m = {.size = sizeof(m), .topic = "t",
				   .payload = "hello", .len = 5, .qos = 1};
	uint64_t id = 0;

	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	/* accepted before the start: queued */
	ck_assert_int_eq(tether_conn_send(conn, &m, &id), 0);
	ck_assert_uint_eq(tether_conn_queued(conn), 1);
	ck_assert_int_eq(tether_mgr_start(it_mgr), TETHER_ESTATE); /* running */
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_UP, 1, 2000));
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_ONLINE);
	ck_assert_int_eq(tether_mgr_dispatch(it_mgr), TETHER_ESTATE);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 1, 2000));
	ck_assert_uint_eq(it_get(it_find(NULL, TETHER_EV_SENT, 0)).msg_id, id);
	m.payload = "again";
	ck_assert_int_eq(tether_conn_send(conn, &m, &id), 0);
	ck_assert_uint_gt(id, 1);
	ck_assert(it_wait(NULL, TETHER_EV_MESSAGE, 2, 2000));
	int s = it_find(NULL, TETHER_EV_SENT, 1);
	ck_assert_int_ge(s, 0);
	ck_assert_uint_eq(it_get(s).msg_id, id);
	ck_assert_int_eq(it_get(s).error, 0);
	ck_assert_str_eq(it_get(it_find(NULL, TETHER_EV_MESSAGE, 0)).payload, "hello");
	ck_assert_str_eq(it_get(it_find(NULL, TETHER_EV_MESSAGE, 1)).payload, "again");
	ck_assert_int_eq(tether_conn_stop(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_CLOSED, 1, 2000));
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_CLOSED);
	ck_assert_int_eq(tether_conn_send(conn, &m, &id), TETHER_ESTATE);
}
END_TEST

START_TEST(test_mgr_host_driven_loop)
{
	struct tether_message m = {.size = sizeof(m), .payload = "x", .len = 1};

	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert_int_eq(tether_mgr_timeout_ms(it_mgr), 0); /* work is queued */
	ck_assert(it_wait(NULL, TETHER_EV_UP, 1, 2000));
	stop_on_message = 1; /* the callback for the echo stops it */
	ck_assert_int_eq(tether_conn_send(conn, &m, NULL), 0);
	ck_assert(it_wait(NULL, TETHER_EV_CLOSED, 1, 2000));
	ck_assert_int_eq(it_count(NULL, TETHER_EV_SENT), 1);
	ck_assert_int_eq(it_count(NULL, TETHER_EV_MESSAGE), 1);
}
END_TEST

START_TEST(test_mgr_fatal_refusal_is_one_attempt)
{
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://badcreds"), 0);
	it_use_fixed(conn, "50ms");
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_CLOSED, 1, 2000));
	usleep(300000); /* six policy intervals: nothing more may happen */
	ck_assert_int_eq(atomic_load(&n_connects), 1);
	int f = it_find(NULL, TETHER_EV_FATAL, 0);
	ck_assert_int_ge(f, 0);
	ck_assert_int_eq(it_get(f).cls, TETHER_CLASS_FATAL);
	ck_assert_int_eq(it_get(f).kind, TETHER_KIND_MQTT3);
	ck_assert_int_eq(it_get(f).code, 5);
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_CLOSED);
}
END_TEST

START_TEST(test_mgr_refused_first_endpoint_fails_over)
{
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://refuse"), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_UP, 1, 2000));
	ck_assert_int_eq(atomic_load(&n_connects), 2);
	ck_assert_int_eq(it_count(NULL, TETHER_EV_RETRY), 0); /* no backoff */
}
END_TEST

START_TEST(test_mgr_heartbeat_detects_silence)
{
	/* interval 100 + timeout 50 x misses 2 = 200 ms after the last
	   inbound traffic (the up) */
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_set_option(conn, "answer_pings", "false"), 0);
	ck_assert_int_eq(tether_conn_set_heartbeat(conn, 100, 50, 2), 0);
	it_use_fixed(conn, "100ms");
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_DOWN, 1, 3000));
	int up = it_find(NULL, TETHER_EV_UP, 0), down = it_find(NULL, TETHER_EV_DOWN, 0);
	uint64_t took = it_get(down).at - it_get(up).at;
	ck_assert_msg(took >= 195 && took <= 200 + it_slack(60),
		      "detected after %llu ms", (unsigned long long)took);
	ck_assert_int_eq(it_get(down).cls, TETHER_CLASS_TIMEOUT);
	ck_assert_int_eq(it_get(down).code, TETHER_LOCAL_HEARTBEAT_TIMEOUT);
	ck_assert_int_eq(atomic_load(&n_pings), 2);
	ck_assert_int_ge(atomic_load(&n_aborts), 1); /* half-open: aborted */
	/* and it reconnects after the policy's 100 ms */
	ck_assert(it_wait(NULL, TETHER_EV_UP, 2, 2000));
}
END_TEST

START_TEST(test_mgr_heartbeat_answered_stays_online)
{
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_set_heartbeat(conn, 50, 50, 1), 0);
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_UP, 1, 2000));
	usleep(500000);
	ck_assert_int_ge(atomic_load(&n_pings), 4);
	ck_assert_int_eq(it_count(NULL, TETHER_EV_DOWN), 0);
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_ONLINE);
}
END_TEST

START_TEST(test_mgr_subscriptions_reapplied_after_reconnect)
{
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_set_option(conn, "answer_pings", "no"), 0);
	ck_assert_int_eq(tether_conn_set_heartbeat(conn, 50, 20, 1), 0);
	it_use_fixed(conn, "10ms");
	ck_assert_int_eq(tether_conn_subscribe(conn, "cmd/#", 1), 0);
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_UP, 3, 3000)); /* heartbeat kills it */
	ck_assert_int_ge(atomic_load(&n_subscribes), 3);
}
END_TEST

START_TEST(test_mgr_configuration_errors_are_clear)
{
	tether_conn *dup = NULL;

	ck_assert_int_eq(tether_conn_new(it_mgr, "c1", "test", &dup), TETHER_EEXIST);
	ck_assert_int_eq(tether_conn_new(it_mgr, "c2", "carrier-pigeon", &dup),
			 TETHER_ENOENT);
	ck_assert_int_eq(tether_conn_start(conn), TETHER_EINVAL);
	ck_assert_str_eq(tether_conn_error(conn), "no endpoint");
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "tcp://127.0.0.1:1"),
			 TETHER_EINVAL);
	ck_assert_str_eq(tether_conn_error(conn),
			 "endpoint 'tcp://127.0.0.1:1': expected a URI for "
			 "transport 'test' (test://)");
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_set_option(conn, "answer_ping", "yes"), 0);
	ck_assert_int_eq(tether_conn_start(conn), TETHER_ECONFIG);
	ck_assert_str_eq(tether_conn_error(conn),
			 "unknown key 'answer_ping' for transport 'test' "
			 "(did you mean 'answer_pings'?)");
	ck_assert_int_eq(tether_conn_set_timing(conn, "conect_timeout", 5),
			 TETHER_EINVAL);
	ck_assert_int_eq(tether_conn_classify(conn, "ws:1000", "fatale"),
			 TETHER_EINVAL);
	ck_assert_ptr_nonnull(strstr(tether_conn_error(conn), "fatale"));
	tether_params *p = it_fixed("1x");
	ck_assert_int_eq(tether_conn_set_policy(conn, p), TETHER_ECONFIG);
	ck_assert_ptr_nonnull(strstr(tether_conn_error(conn), "interval"));
	tether_params_free(p);
}
END_TEST

START_TEST(test_mgr_connect_timeout_aborts_and_retries)
{
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://hang"), 0);
	ck_assert_int_eq(tether_conn_set_timing(conn, "connect_timeout", 100), 0);
	it_use_fixed(conn, "50ms");
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_ATTEMPT, 3, 2000));
	int d = it_find(NULL, TETHER_EV_DOWN, 0);
	ck_assert_int_eq(it_get(d).cls, TETHER_CLASS_TIMEOUT);
	ck_assert_int_eq(it_get(d).code, TETHER_LOCAL_CONNECT_TIMEOUT);
	ck_assert_int_ge(atomic_load(&n_aborts), 2);
	/* 100 ms timeout + 50 ms backoff between attempts, on the engine's
	   clock (the recorder's can see the first event late under load) */
	uint64_t gap = it_get(it_find(NULL, TETHER_EV_ATTEMPT, 1)).ev_at -
		       it_get(it_find(NULL, TETHER_EV_ATTEMPT, 0)).ev_at;
	ck_assert_msg(gap >= 145 && gap < 150 + it_slack(110), "gap %llu",
		      (unsigned long long)gap);
}
END_TEST

/*
 * Exactly one outcome per accepted send: sends the transport never
 * reported when its link ended (a heartbeat abort) go out again on the
 * next link, flagged dup, in order; the old link's late EIO reports are
 * dropped.
 */
START_TEST(test_mgr_every_send_gets_exactly_one_outcome)
{
	struct tether_message m = {.size = sizeof(m), .payload = "x", .len = 1,
				   .qos = 1};
	uint64_t ids[3];

	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_set_option(conn, "answer_pings", "no"), 0);
	ck_assert_int_eq(tether_conn_set_option(conn, "swallow_sends", "yes"), 0);
	ck_assert_int_eq(tether_conn_set_option(conn, "swallow_once", "yes"), 0);
	ck_assert_int_eq(tether_conn_set_heartbeat(conn, 100, 50, 1), 0);
	it_use_fixed(conn, "100ms");
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_UP, 1, 2000));
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(tether_conn_send(conn, &m, &ids[i]), 0);
	ck_assert(it_wait(NULL, TETHER_EV_DOWN, 1, 3000));
	ck_assert_int_eq(it_count(NULL, TETHER_EV_SENT), 0);
	ck_assert(it_wait(NULL, TETHER_EV_UP, 2, 3000));
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 3, 2000));
	it_run(300); /* the first link's late EIO reports arrive meanwhile */
	ck_assert_int_eq(it_count(NULL, TETHER_EV_SENT), 3);
	ck_assert_int_eq(it_count(NULL, TETHER_EV_MESSAGE), 3);
	for (int i = 0; i < 3; i++) {
		struct it_ev e = it_get(it_find(NULL, TETHER_EV_SENT, i));
		ck_assert_uint_eq(e.msg_id, ids[i]);
		ck_assert_int_eq(e.error, 0);
		ck_assert_int_eq(it_get(it_find(NULL, TETHER_EV_MESSAGE, i)).dup, 1);
	}
}
END_TEST

static void send_text(const char *text, int expect, uint64_t *id)
{
	struct tether_message m = {.size = sizeof(m), .payload = text,
				   .len = strlen(text)};
	ck_assert_int_eq(tether_conn_send(conn, &m, id), expect);
}

static void set_queue(uint32_t max, uint64_t bytes, enum tether_overflow o,
		      uint64_t ttl)
{
	struct tether_queue_cfg q;

	tether_queue_cfg_defaults(&q);
	q.max_messages = max;
	q.max_bytes = bytes;
	q.overflow = o;
	q.ttl_ms = ttl;
	ck_assert_int_eq(tether_conn_set_queue(conn, &q), 0);
}

/* The payloads of the MESSAGE events, in order, joined by ','. */
static void messages(char *buf, size_t len)
{
	buf[0] = '\0';
	for (int i = 0, k; (k = it_find(NULL, TETHER_EV_MESSAGE, i)) >= 0; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			 i ? "," : "", it_get(k).payload);
}

START_TEST(test_mgr_backlog_drains_in_order_before_new)
{
	char got[256];
	char text[8];

	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof text, "b%d", i);
		send_text(text, 0, NULL);
	}
	ck_assert_int_eq(tether_conn_start(conn), 0);
	for (int i = 0; i < 5; i++) { /* racing the connect */
		snprintf(text, sizeof text, "n%d", i);
		send_text(text, 0, NULL);
	}
	ck_assert(it_wait(NULL, TETHER_EV_MESSAGE, 10, 3000));
	messages(got, sizeof got);
	ck_assert_str_eq(got, "b0,b1,b2,b3,b4,n0,n1,n2,n3,n4");
	for (int i = 0; i < 10; i++) {
		struct it_ev e = it_get(it_find(NULL, TETHER_EV_SENT, i));
		ck_assert_uint_eq(e.msg_id, (uint64_t)i + 1);
		ck_assert_int_eq(e.error, 0);
	}
}
END_TEST

START_TEST(test_mgr_queue_overflow_policies)
{
	uint64_t id[5];

	/* reject: an error at once, nothing dropped */
	set_queue(3, 1000, TETHER_OVERFLOW_REJECT, 0);
	for (int i = 0; i < 3; i++)
		send_text("m", 0, &id[i]);
	send_text("m", TETHER_EFULL, &id[3]);
	ck_assert_uint_eq(tether_conn_queued(conn), 3);
	/* too large for the byte bound */
	set_queue(10, 4, TETHER_OVERFLOW_DROP_OLDEST, 0);
	send_text("12345", TETHER_ETOOBIG, &id[3]);
	/* drop_oldest: the oldest goes, with an event */
	set_queue(3, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	send_text("m", 0, &id[3]);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 1, 2000));
	ck_assert_uint_eq(it_get(it_find(NULL, TETHER_EV_SENT, 0)).msg_id, id[0]);
	ck_assert_int_eq(it_get(it_find(NULL, TETHER_EV_SENT, 0)).error,
			 TETHER_EFULL);
	/* drop_newest: the new one is accepted and dropped */
	set_queue(3, 1000, TETHER_OVERFLOW_DROP_NEWEST, 0);
	send_text("m", 0, &id[4]);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 2, 2000));
	ck_assert_uint_eq(it_get(it_find(NULL, TETHER_EV_SENT, 1)).msg_id, id[4]);
	ck_assert_int_eq(it_get(it_find(NULL, TETHER_EV_SENT, 1)).error,
			 TETHER_EFULL);
	ck_assert_uint_eq(tether_conn_queued(conn), 3);
	/* shrinking the bound live drops the oldest beyond it */
	set_queue(1, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 4, 2000));
	ck_assert_uint_eq(it_get(it_find(NULL, TETHER_EV_SENT, 2)).msg_id, id[1]);
	ck_assert_uint_eq(it_get(it_find(NULL, TETHER_EV_SENT, 3)).msg_id, id[2]);
	ck_assert_uint_eq(tether_conn_queued(conn), 1);
	/* the one left is delivered once online */
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 5, 2000));
	ck_assert_uint_eq(it_get(it_find(NULL, TETHER_EV_SENT, 4)).msg_id, id[3]);
	ck_assert_int_eq(it_get(it_find(NULL, TETHER_EV_SENT, 4)).error, 0);
}
END_TEST

START_TEST(test_mgr_ttl_expires_while_offline)
{
	struct tether_message m = {.size = sizeof(m), .payload = "long",
				   .len = 4, .ttl_ms = 5000};
	uint64_t a, b;

	set_queue(10, 1000, TETHER_OVERFLOW_DROP_OLDEST, 100);
	send_text("short", 0, &a);
	ck_assert_int_eq(tether_conn_send(conn, &m, &b), 0);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 1, 2000));
	struct it_ev e = it_get(it_find(NULL, TETHER_EV_SENT, 0));
	ck_assert_uint_eq(e.msg_id, a);
	ck_assert_int_eq(e.error, TETHER_EEXPIRED);
	ck_assert_uint_eq(tether_conn_queued(conn), 1);
	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 2, 2000));
	e = it_get(it_find(NULL, TETHER_EV_SENT, 1));
	ck_assert_uint_eq(e.msg_id, b);
	ck_assert_int_eq(e.error, 0);
}
END_TEST

static void resume(tether_conn *c, void *ud)
{
	struct tether_message m = {.size = sizeof(m), .payload = "resume",
				   .len = 6};
	ck_assert_ptr_eq(ud, &conn);
	ck_assert_int_eq(tether_conn_send(c, &m, NULL), 0);
}

START_TEST(test_mgr_resume_hook_goes_first)
{
	char got[256];

	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	ck_assert_int_eq(tether_conn_set_resume_cb(conn, resume, &conn), 0);
	send_text("a", 0, NULL);
	send_text("b", 0, NULL);
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_MESSAGE, 3, 2000));
	messages(got, sizeof got);
	ck_assert_str_eq(got, "resume,a,b");
}
END_TEST

START_TEST(test_mgr_stop_drops_queued_as_closed)
{
	uint64_t a, b;

	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://refuse"), 0);
	it_use_fixed(conn, "10s");
	ck_assert_int_eq(tether_conn_start(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_RETRY, 1, 2000));
	send_text("a", 0, &a);
	send_text("b", 0, &b);
	ck_assert_int_eq(tether_conn_stop(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 2, 2000));
	ck_assert_uint_eq(it_get(it_find(NULL, TETHER_EV_SENT, 0)).msg_id, a);
	ck_assert_uint_eq(it_get(it_find(NULL, TETHER_EV_SENT, 1)).msg_id, b);
	ck_assert_int_eq(it_get(it_find(NULL, TETHER_EV_SENT, 0)).error,
			 TETHER_ECLOSED);
	ck_assert_uint_eq(tether_conn_queued(conn), 0);
}
END_TEST

/*
 * Removal: the name is free at once; a running connection closes first
 * (CLOSED, then REMOVED, its last event); one never started has its
 * queued messages dropped as ECLOSED; a callback may remove its own
 * connection. ASan and valgrind check that each is freed.
 */
START_TEST(test_mgr_remove_closes_then_frees)
{
	tether_conn *idle, *again, *v[4];
	uint64_t id;
	int closed, removed;

	ck_assert_int_eq(tether_conn_add_endpoint(conn, "test://ok"), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 2000));
	ck_assert_int_eq(tether_conn_new(it_mgr, "idle", "test", &idle), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(idle, "test://ok"), 0);
	send_text("kept?", 0, NULL);
	{
		struct tether_message m = {.size = sizeof(m), .payload = "q",
					   .len = 1};
		ck_assert_int_eq(tether_conn_send(idle, &m, &id), 0);
	}
	ck_assert_uint_eq(tether_mgr_conns(it_mgr, NULL, 0), 2);

	ck_assert_int_eq(tether_conn_remove(conn), 0);
	/* gone from the manager's view at once; the name is free */
	ck_assert_ptr_null(tether_conn_find(it_mgr, "c1"));
	ck_assert_uint_eq(tether_mgr_conns(it_mgr, v, 4), 1);
	ck_assert_ptr_eq(v[0], idle);
	ck_assert_int_eq(tether_conn_new(it_mgr, "c1", "test", &again), 0);
	ck_assert(it_wait(conn, TETHER_EV_REMOVED, 1, 3000));
	closed = it_find(conn, TETHER_EV_CLOSED, 0);
	removed = it_find(conn, TETHER_EV_REMOVED, 0);
	ck_assert_int_ge(closed, 0);
	ck_assert_int_gt(removed, closed);
	ck_assert_int_eq(it_count(conn, TETHER_EV_REMOVED), 1);

	/* never started: its queued message is told ECLOSED, first */
	ck_assert_int_eq(tether_conn_remove(idle), 0);
	ck_assert(it_wait(idle, TETHER_EV_REMOVED, 1, 3000));
	ck_assert_int_eq(it_count(idle, TETHER_EV_SENT), 1);
	ck_assert_uint_eq(it_get(it_find(idle, TETHER_EV_SENT, 0)).msg_id, id);
	ck_assert_int_eq(it_get(it_find(idle, TETHER_EV_SENT, 0)).error,
			 TETHER_ECLOSED);
	ck_assert_int_lt(it_find(idle, TETHER_EV_SENT, 0),
			 it_find(idle, TETHER_EV_REMOVED, 0));

	/* removed from its own callback, as it comes up */
	remove_on_up = 1;
	ck_assert_int_eq(tether_conn_add_endpoint(again, "test://ok"), 0);
	it_start(again);
	ck_assert(it_wait(again, TETHER_EV_REMOVED, 1, 3000));
	ck_assert_uint_eq(tether_mgr_conns(it_mgr, NULL, 0), 0);
	ck_assert_int_eq(tether_conn_remove(NULL), TETHER_EINVAL);
}
END_TEST

/* Flip one byte of the first record's body in dir's first segment. */
static void corrupt_first_record(const char *dir)
{
	char path[256];
	FILE *f;
	int ch;

	snprintf(path, sizeof path, "%s/0000000000000001.seg", dir);
	f = fopen(path, "r+b");
	ck_assert_msg(f != NULL, "no %s", path);
	/* after the file header (20 bytes) and the record's (36) */
	ck_assert_int_eq(fseek(f, 20 + 36 + 1, SEEK_SET), 0);
	ch = fgetc(f);
	ck_assert_int_ne(ch, EOF);
	ck_assert_int_eq(fseek(f, 20 + 36 + 1, SEEK_SET), 0);
	fputc(ch ^ 0x55, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* A fresh manager and connection c1 on uri with the spool in dir and a
   queue of max_messages (0: the default). */
static void spool_conn_q(const char *dir, const char *uri,
			 uint32_t max_messages)
{
	struct tether_queue_cfg q;

	it_teardown();
	it_setup(0);
	it_set_hook(hook);
	ck_assert_int_eq(tether_conn_new(it_mgr, "c1", "test", &conn), 0);
	tether_queue_cfg_defaults(&q);
	q.spool_dir = dir;
	if (max_messages)
		q.max_messages = max_messages;
	ck_assert_int_eq(tether_conn_set_queue(conn, &q), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(conn, uri), 0);
	it_use_fixed(conn, "10s");
	ck_assert_int_eq(tether_conn_start(conn), 0);
}

static void spool_conn(const char *dir, const char *uri)
{
	spool_conn_q(dir, uri, 0);
}

static void rm_dir(const char *dir)
{
	char rm[300];

	snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(rm), 0);
}

static int warned(const char *what)
{
	for (int i = 0, k; (k = it_find(NULL, TETHER_EV_WARNING, i)) >= 0; i++)
		if (strstr(it_get(k).detail, what))
			return 1;
	return 0;
}

/* In a child with no other thread: a connection never started takes a
   QoS 1 and a QoS 0 message, then the process dies. */
static int send_before_start_then_die(const char *dir)
{
	struct tether_message m = {.size = sizeof(m), .topic = "t",
				   .payload = "early", .len = 5, .qos = 1};
	struct tether_queue_cfg q;
	tether_mgr *mg;
	tether_conn *c;

	tether_queue_cfg_defaults(&q);
	q.spool_dir = dir;
	if (tether_mgr_new(&mg) != 0 ||
	    tether_conn_new(mg, "c1", "test", &c) != 0 ||
	    tether_conn_set_queue(c, &q) != 0 ||
	    tether_conn_add_endpoint(c, "test://ok") != 0)
		return 1;
	if (tether_conn_send(c, &m, NULL) != 0)
		return 2;
	m.payload = "qos0";
	m.len = 4;
	m.qos = 0;
	if (tether_conn_send(c, &m, NULL) != 0)
		return 3;
	/* the spool opened with the first QoS 1 send: it stays */
	q.spool_dir = "/tmp/elsewhere";
	if (tether_conn_set_queue(c, &q) != TETHER_ESTATE)
		return 4;
	kill(getpid(), SIGKILL);
	return 5;
}

START_TEST(test_mgr_spool_send_before_start_survives_a_crash)
{
	char dir[] = "/tmp/tether-spool-XXXXXX", got[256];
	pid_t child;
	int status;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	it_teardown(); /* no loop thread while forking */
	it_setup(1);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(send_before_start_then_die(dir));
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "child exited with %d", WEXITSTATUS(status));
	/* the QoS 1 one was on disk before send returned */
	spool_conn(dir, "test://ok");
	ck_assert(it_wait(NULL, TETHER_EV_MESSAGE, 1, 2000));
	it_run(200);
	messages(got, sizeof got);
	ck_assert_str_eq(got, "early");
	rm_dir(dir);
}
END_TEST

/* Spooled by a queue of 10,000, started again with one of 10: every
   spooled message is delivered (none dropped under a new id), a warning
   says the bounds are exceeded, and later sends meet the overflow
   policy until the backlog drains. */
START_TEST(test_mgr_spool_smaller_queue_on_reopen_drops_nothing)
{
	char dir[] = "/tmp/tether-spool-XXXXXX", got[1024], want[1024] = "";
	struct tether_message m = {.size = sizeof(m), .topic = "t", .qos = 1};
	char text[8];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	spool_conn(dir, "test://refuse");
	for (int i = 0; i < 50; i++) {
		snprintf(text, sizeof text, "m%d", i);
		snprintf(want + strlen(want), sizeof want - strlen(want),
			 "%s%s", i ? "," : "", text);
		m.payload = text;
		m.len = strlen(text);
		ck_assert_int_eq(tether_conn_send(conn, &m, NULL), 0);
	}
	ck_assert_int_eq(tether_conn_stop(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 50, 2000));
	spool_conn_q(dir, "test://ok", 10);
	ck_assert(it_wait(NULL, TETHER_EV_MESSAGE, 50, 3000));
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 50, 3000));
	it_run(100);
	messages(got, sizeof got);
	ck_assert_str_eq(got, want);
	for (int i = 0, k; (k = it_find(NULL, TETHER_EV_SENT, i)) >= 0; i++)
		ck_assert_int_eq(it_get(k).error, 0);
	ck_assert(warned("exceed the queue's bounds"));
	rm_dir(dir);
}
END_TEST

START_TEST(test_mgr_spool_replays_at_next_start)
{
	char dir[] = "/tmp/tether-spool-XXXXXX", got[256], rm[300];
	struct tether_message m = {.size = sizeof(m), .topic = "t", .qos = 1};
	const char *texts[] = {"one", "two", "three", "four"};

	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* run 1: offline; QoS 1 messages are spooled, a QoS 0 one is not */
	spool_conn(dir, "test://refuse");
	for (int i = 0; i < 4; i++) {
		m.payload = texts[i];
		m.len = strlen(texts[i]);
		m.qos = i == 3 ? 0 : 1;
		ck_assert_int_eq(tether_conn_send(conn, &m, NULL), 0);
	}
	ck_assert_int_eq(tether_conn_stop(conn), 0);
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 4, 2000));
	ck_assert_int_eq(it_get(it_find(NULL, TETHER_EV_SENT, 0)).error,
			 TETHER_ECLOSED);
	/* run 2, after damage to the first record: a warning, the others
	   come back in order and are delivered */
	corrupt_first_record(dir);
	spool_conn(dir, "test://ok");
	ck_assert(it_wait(NULL, TETHER_EV_MESSAGE, 2, 2000));
	ck_assert(it_wait(NULL, TETHER_EV_SENT, 2, 2000));
	it_run(100);
	messages(got, sizeof got);
	ck_assert_str_eq(got, "two,three");
	ck_assert_int_eq(it_count(NULL, TETHER_EV_WARNING), 1);
	ck_assert_int_eq(it_get(it_find(NULL, TETHER_EV_SENT, 0)).error, 0);
	ck_assert_int_eq(it_get(it_find(NULL, TETHER_EV_SENT, 1)).error, 0);
	/* run 3: delivered means gone */
	spool_conn(dir, "test://ok");
	ck_assert(it_wait(NULL, TETHER_EV_UP, 1, 2000));
	it_run(200);
	ck_assert_int_eq(it_count(NULL, TETHER_EV_MESSAGE), 0);
	ck_assert_int_eq(it_count(NULL, TETHER_EV_WARNING), 0);
	snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(rm), 0);
}
END_TEST

static Suite *mgr_suite(void)
{
	Suite *s = suite_create("mgr");
	TCase *tc = it_tcase(s, "loop", setup, teardown, 30);
	tcase_add_test(tc, test_mgr_threaded_connect_send_stop);
	tcase_add_test(tc, test_mgr_configuration_errors_are_clear);
	tcase_add_test(tc, test_mgr_remove_closes_then_frees);
	tc = it_tcase(s, "host_loop", setup_host, teardown, 30);
	tcase_add_test(tc, test_mgr_host_driven_loop);
	tc = it_tcase(s, "reconnect", setup, teardown, 30);
	tcase_add_test(tc, test_mgr_fatal_refusal_is_one_attempt);
	tcase_add_test(tc, test_mgr_refused_first_endpoint_fails_over);
	tcase_add_test(tc, test_mgr_connect_timeout_aborts_and_retries);
	tcase_add_test(tc, test_mgr_subscriptions_reapplied_after_reconnect);
	tcase_add_test(tc, test_mgr_every_send_gets_exactly_one_outcome);
	tc = it_tcase(s, "queue", setup, teardown, 30);
	tcase_add_test(tc, test_mgr_backlog_drains_in_order_before_new);
	tcase_add_test(tc, test_mgr_queue_overflow_policies);
	tcase_add_test(tc, test_mgr_ttl_expires_while_offline);
	tcase_add_test(tc, test_mgr_resume_hook_goes_first);
	tcase_add_test(tc, test_mgr_stop_drops_queued_as_closed);
	tcase_add_test(tc, test_mgr_spool_replays_at_next_start);
	tcase_add_test(tc, test_mgr_spool_send_before_start_survives_a_crash);
	tcase_add_test(tc, test_mgr_spool_smaller_queue_on_reopen_drops_nothing);
	tc = it_tcase(s, "heartbeat", setup, teardown, 30);
	tcase_add_test(tc, test_mgr_heartbeat_detects_silence);
	tcase_add_test(tc, test_mgr_heartbeat_answered_stays_online);
	return s;
}

TTH_CHECK_MAIN(mgr_suite)
