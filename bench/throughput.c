/* bench/throughput: one connection publishing as fast as a window of
 * outstanding messages allows, through tether and through the raw library
 * tether drives, on the same server (no proxy):
 *
 *   mqtt-qos0, mqtt-qos1  tether_conn_send vs MQTTAsync_send (Paho 1.3.12)
 *                         to mosquitto; a message counts when its
 *                         completion arrives (QoS 0: written; QoS 1:
 *                         PUBACK), as tether's SENT event says
 *   ws-echo               tether_conn_send vs lws_write (libwebsockets
 *                         4.1.6, on libuv as tether runs it) to the
 *                         harness's echo server; a message counts when
 *                         its echo arrives. Both send from their event
 *                         callbacks (tether's loop thread, lws's).
 *
 * Both sides keep at most --window messages outstanding. Each case runs
 * --rounds times alternating tether and raw; the median rate is reported
 * with the ratio tether / raw.
 *
 *   throughput [--cases mqtt-qos0,mqtt-qos1,ws-echo] [--messages N]
 *              [--size BYTES] [--window W] [--rounds R] [--quick]
 */
#include "config.h"

#include <MQTTAsync.h>
#include <getopt.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/tether.h>
#include <uv.h>

#include "bench.h"
#include "broker.h"
#include "ws_server.h"

enum { MAX_ROUNDS = 15, WAIT_MS = 120000 };

struct topts {
	const char *cases;
	int messages, size, window, rounds;
};

/* The window shared by every client: the sender waits while `window`
 * messages are outstanding; completions (any thread) release it. */
struct flow {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int outstanding, done, failed, up;
};

static struct flow fl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			 0, 0, 0, 0};

static void flow_reset(void)
{
	pthread_mutex_lock(&fl.mu);
	fl.outstanding = fl.done = fl.failed = fl.up = 0;
	pthread_mutex_unlock(&fl.mu);
}

static void flow_complete(int ok)
{
	pthread_mutex_lock(&fl.mu);
	fl.outstanding--;
	fl.done++;
	if (!ok)
		fl.failed++;
	pthread_cond_broadcast(&fl.cv);
	pthread_mutex_unlock(&fl.mu);
}

static void flow_set_up(void)
{
	pthread_mutex_lock(&fl.mu);
	fl.up = 1;
	pthread_cond_broadcast(&fl.cv);
	pthread_mutex_unlock(&fl.mu);
}

/* Wait until *v >= want, at most ms; returns 0 if reached. */
static int flow_wait(const int *v, int want, uint64_t ms)
{
	uint64_t end = bench_now_ms() + ms;
	int rc = 0;

	pthread_mutex_lock(&fl.mu);
	while (*v < want && rc == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&fl.cv, &fl.mu, &ts);
		if (bench_now_ms() >= end)
			rc = -1;
	}
	if (*v >= want)
		rc = 0;
	pthread_mutex_unlock(&fl.mu);
	return rc;
}

/* Take a slot in the window, at most ms. 0 or -1. */
static int flow_take(int window, uint64_t ms)
{
	uint64_t end = bench_now_ms() + ms;

	pthread_mutex_lock(&fl.mu);
	while (fl.outstanding >= window && bench_now_ms() < end) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&fl.cv, &fl.mu, &ts);
	}
	int ok = fl.outstanding < window;
	if (ok)
		fl.outstanding++;
	pthread_mutex_unlock(&fl.mu);
	return ok ? 0 : -1;
}

static void flow_give_back(void)
{
	pthread_mutex_lock(&fl.mu);
	fl.outstanding--;
	pthread_mutex_unlock(&fl.mu);
}

/* ---- tether (MQTT or WebSocket) -------------------------------------- */

/* WebSocket echo through tether: everything happens in the event
 * callback, on tether's loop thread, as raw lws does in its own callback
 * (the window's first messages at UP, one more per echo). */
struct techo {
	const struct topts *o;
	struct tether_message msg;
	int sent, echoed, failed;
	uint64_t t0;
};

static struct techo te;

static void te_send(tether_conn *c)
{
	while (te.sent < te.o->messages && te.sent - te.echoed < te.o->window) {
		if (tether_conn_send(c, &te.msg, NULL) != 0) {
			te.failed = 1;
			flow_complete(0);
			return;
		}
		te.sent++;
	}
}

static void t_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	if (ud != NULL) { /* ws echo */
		if (ev->type == TETHER_EV_UP) {
			te.t0 = bench_now_ms();
			te_send(c);
		} else if (ev->type == TETHER_EV_MESSAGE) {
			if (++te.echoed == te.o->messages)
				flow_complete(1);
			else
				te_send(c);
		} else if (ev->type == TETHER_EV_DOWN && !te.failed) {
			te.failed = 1;
			flow_complete(0);
		}
		return;
	}
	if (ev->type == TETHER_EV_UP)
		flow_set_up();
	else if (ev->type == TETHER_EV_SENT && ev->message == NULL)
		flow_complete(ev->error == 0);
}

/* Messages per second through tether's WebSocket echo, or -1. */
static double run_tether_ws(const char *uri, const struct topts *o,
			    const char *payload)
{
	tether_mgr *m = NULL;
	tether_conn *c = NULL;
	double rate = -1;

	flow_reset();
	memset(&te, 0, sizeof(te));
	te.o = o;
	te.msg.size = sizeof(te.msg);
	te.msg.payload = payload;
	te.msg.len = (size_t)o->size;
	te.msg.binary = 1;
	if (tether_mgr_new(&m) != 0 ||
	    tether_mgr_set_event_cb(m, t_event, (void *)1) != 0 ||
	    tether_conn_new(m, "tp", "ws", &c) != 0 ||
	    tether_conn_add_endpoint(c, uri) != 0 ||
	    tether_conn_start(c) != 0 || tether_mgr_start(m) != 0) {
		fprintf(stderr, "throughput: tether did not start\n");
		goto out;
	}
	if (flow_wait(&fl.done, 1, WAIT_MS) == 0 && !te.failed)
		rate = o->messages * 1000.0 /
		       (double)(bench_now_ms() - te.t0 ? bench_now_ms() - te.t0
						       : 1);
	else
		fprintf(stderr, "throughput: tether: %d sent, %d echoed\n",
			te.sent, te.echoed);
out:
	tether_mgr_free(m);
	return rate;
}

/* Messages per second through tether's MQTT, or -1. */
static double run_tether(const char *uri, int qos, const struct topts *o,
			 const char *payload)
{
	tether_mgr *m = NULL;
	tether_conn *c = NULL;
	struct tether_message msg = {.size = sizeof(msg),
				     .topic = "bench/t",
				     .payload = payload,
				     .len = (size_t)o->size,
				     .qos = qos};
	double rate = -1;
	uint64_t t0;
	int sent = 0;

	flow_reset();
	if (tether_mgr_new(&m) != 0 ||
	    tether_mgr_set_event_cb(m, t_event, NULL) != 0 ||
	    tether_conn_new(m, "tp", "mqtt", &c) != 0 ||
	    tether_conn_add_endpoint(c, uri) != 0 ||
	    tether_conn_start(c) != 0 || tether_mgr_start(m) != 0 ||
	    flow_wait(&fl.up, 1, 10000) != 0) {
		fprintf(stderr, "throughput: tether did not connect\n");
		goto out;
	}
	t0 = bench_now_ms();
	for (; sent < o->messages; sent++) {
		if (flow_take(o->window, WAIT_MS) != 0)
			break;
		if (tether_conn_send(c, &msg, NULL) != 0) {
			flow_give_back();
			break;
		}
	}
	if (sent == o->messages && flow_wait(&fl.done, sent, WAIT_MS) == 0 &&
	    fl.failed == 0)
		rate = o->messages * 1000.0 /
		       (double)(bench_now_ms() - t0 ? bench_now_ms() - t0 : 1);
	else
		fprintf(stderr, "throughput: tether: %d sent, %d done, %d "
				"failed\n", sent, fl.done, fl.failed);
out:
	tether_mgr_free(m);
	return rate;
}

/* ---- raw Paho -------------------------------------------------------- */

static void p_ok(void *ctx, MQTTAsync_successData *d)
{
	(void)d;
	if (ctx)
		flow_complete(1);
	else
		flow_set_up();
}

static void p_fail(void *ctx, MQTTAsync_failureData *d)
{
	(void)d;
	if (ctx)
		flow_complete(0);
}

static double run_paho(const char *uri, int qos, const struct topts *o,
		       const char *payload)
{
	MQTTAsync h = NULL;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	MQTTAsync_connectOptions cn = MQTTAsync_connectOptions_initializer;
	double rate = -1;
	uint64_t t0;
	int sent = 0;

	flow_reset();
	co.MQTTVersion = MQTTVERSION_3_1_1;
	if (MQTTAsync_createWithOptions(&h, uri, "tp-raw",
					MQTTCLIENT_PERSISTENCE_NONE, NULL,
					&co) != MQTTASYNC_SUCCESS)
		return -1;
	cn.MQTTVersion = MQTTVERSION_3_1_1;
	cn.cleansession = 1;
	cn.keepAliveInterval = 30;
	cn.onSuccess = p_ok;
	cn.context = NULL;
	if (MQTTAsync_connect(h, &cn) != MQTTASYNC_SUCCESS ||
	    flow_wait(&fl.up, 1, 10000) != 0) {
		fprintf(stderr, "throughput: Paho did not connect\n");
		goto out;
	}
	t0 = bench_now_ms();
	for (; sent < o->messages; sent++) {
		MQTTAsync_responseOptions ro =
		    MQTTAsync_responseOptions_initializer;
		ro.onSuccess = p_ok;
		ro.onFailure = p_fail;
		ro.context = (void *)1;
		if (flow_take(o->window, WAIT_MS) != 0)
			break;
		if (MQTTAsync_send(h, "bench/t", o->size, payload, qos, 0,
				   &ro) != MQTTASYNC_SUCCESS) {
			flow_give_back();
			break;
		}
	}
	if (sent == o->messages && flow_wait(&fl.done, sent, WAIT_MS) == 0 &&
	    fl.failed == 0)
		rate = o->messages * 1000.0 /
		       (double)(bench_now_ms() - t0 ? bench_now_ms() - t0 : 1);
	else
		fprintf(stderr, "throughput: Paho: %d sent, %d done\n", sent,
			fl.done);
out:
	if (h) {
		MQTTAsync_disconnectOptions d =
		    MQTTAsync_disconnectOptions_initializer;
		d.timeout = 1000;
		MQTTAsync_disconnect(h, &d);
		bench_sleep_ms(100);
		MQTTAsync_destroy(&h);
	}
	return rate;
}

/* ---- raw lws --------------------------------------------------------- */

/* Plain lws on a libuv loop of its own (the event library tether runs lws
 * on), in one thread: the window's first messages at ESTABLISHED, one
 * more per echo, all from lws's callbacks. */
struct lraw {
	uv_loop_t loop;
	uv_async_t stop;
	struct lws_context *ctx;
	const struct topts *o;
	unsigned char *buf; /* LWS_PRE + size */
	int sent, echoed, failed;
	uint64_t t0;
	atomic_int finished;
};

static struct lraw lr;

static int l_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		void *in, size_t len)
{
	(void)user;
	(void)in;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		lr.t0 = bench_now_ms();
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (lr.sent < lr.o->messages &&
		    lr.sent - lr.echoed < lr.o->window) {
			if (lws_write(wsi, lr.buf + LWS_PRE,
				      (size_t)lr.o->size, LWS_WRITE_BINARY) <
			    lr.o->size) {
				lr.failed = 1;
				return -1;
			}
			lr.sent++;
			if (lr.sent < lr.o->messages &&
			    lr.sent - lr.echoed < lr.o->window)
				lws_callback_on_writable(wsi);
		}
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		/* Whole messages only: the size is below one frame. */
		if (lws_is_final_fragment(wsi))
			lr.echoed++;
		(void)len;
		if (lr.echoed == lr.o->messages)
			atomic_store(&lr.finished, 1);
		else
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		lr.failed = 1;
		atomic_store(&lr.finished, 1);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols l_protocols[] = {
    {"tether-test", l_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void l_stop(uv_async_t *h)
{
	uv_stop(h->loop);
}

static void *l_service(void *arg)
{
	(void)arg;
	uv_run(&lr.loop, UV_RUN_DEFAULT);
	return NULL;
}

static double run_lws(uint16_t port, const struct topts *o)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	void *loops[1] = {&lr.loop};
	pthread_t th;
	double rate = -1;
	uint64_t end;
	int running = 0;

	memset(&lr, 0, sizeof(lr));
	lr.o = o;
	lr.buf = calloc(1, LWS_PRE + (size_t)o->size);
	if (!lr.buf || uv_loop_init(&lr.loop) != 0)
		goto out;
	uv_async_init(&lr.loop, &lr.stop, l_stop);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = l_protocols;
	info.options = LWS_SERVER_OPTION_LIBUV;
	info.foreign_loops = loops;
	lr.ctx = lws_create_context(&info);
	if (!lr.ctx)
		goto out;
	memset(&ci, 0, sizeof(ci));
	ci.context = lr.ctx;
	ci.address = "127.0.0.1";
	ci.port = port;
	ci.path = "/";
	ci.host = ci.origin = "127.0.0.1";
	ci.protocol = "tether-test";
	if (!lws_client_connect_via_info(&ci))
		goto out;
	if (pthread_create(&th, NULL, l_service, NULL) != 0)
		goto out;
	running = 1;
	end = bench_now_ms() + WAIT_MS;
	while (!atomic_load(&lr.finished) && bench_now_ms() < end)
		bench_sleep_ms(1);
	if (atomic_load(&lr.finished) && !lr.failed)
		rate = o->messages * 1000.0 /
		       (double)(bench_now_ms() - lr.t0 ? bench_now_ms() - lr.t0
						       : 1);
	else
		fprintf(stderr, "throughput: lws: %d sent, %d echoed\n",
			lr.sent, lr.echoed);
out:
	if (running) {
		uv_async_send(&lr.stop);
		pthread_join(th, NULL);
	}
	if (lr.ctx) {
		lws_context_destroy(lr.ctx);
		uv_close((uv_handle_t *)&lr.stop, NULL);
		uv_run(&lr.loop, UV_RUN_DEFAULT);
		uv_loop_close(&lr.loop);
	}
	free(lr.buf);
	return rate;
}

/* ---- driver ---------------------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

static int run_case(const char *name, const struct topts *o,
		    const char *payload)
{
	struct th_broker *b = NULL;
	struct th_ws_server *ws = NULL;
	double t[MAX_ROUNDS], r[MAX_ROUNDS];
	char uri[64];
	int ws_case = strcmp(name, "ws-echo") == 0;
	int qos = strcmp(name, "mqtt-qos1") == 0;
	int ok = 1;

	if (!ws_case && strncmp(name, "mqtt-qos", 8) != 0) {
		fprintf(stderr, "throughput: unknown case '%s'\n", name);
		return -1;
	}
	if (ws_case ? th_ws_server_start(NULL, &ws) != 0
		    : th_broker_start(NULL, &b) != 0) {
		fprintf(stderr, "throughput: %s: server did not start\n",
			name);
		return -1;
	}
	if (ws_case)
		snprintf(uri, sizeof(uri), "ws://127.0.0.1:%u/",
			 (unsigned)th_ws_server_port(ws));
	else
		snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u",
			 (unsigned)th_broker_port(b));
	for (int i = 0; i < o->rounds && ok; i++) {
		/* Alternate who goes first: drift hits both. */
		for (int k = 0; k < 2; k++) {
			int tether_turn = (i + k) % 2 == 0;
			double v = tether_turn && ws_case
				       ? run_tether_ws(uri, o, payload)
				   : tether_turn
				       ? run_tether(uri, qos, o, payload)
				   : ws_case ? run_lws(th_ws_server_port(ws), o)
					     : run_paho(uri, qos, o, payload);
			if (v < 0)
				ok = 0;
			(tether_turn ? t : r)[i] = v;
		}
	}
	th_broker_free(b);
	th_ws_server_free(ws);
	if (!ok) {
		printf("%-10s | run failed\n", name);
		return -1;
	}
	double mt = median(t, o->rounds), mr = median(r, o->rounds);
	printf("%-10s | %10.0f | %-4s %10.0f | %6.3f\n", name, mt,
	       ws_case ? "lws" : "paho", mr, mt / mr);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"cases", required_argument, NULL, 'c'},
	    {"messages", required_argument, NULL, 'n'},
	    {"size", required_argument, NULL, 's'},
	    {"window", required_argument, NULL, 'w'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"quick", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct topts o = {.cases = "mqtt-qos0,mqtt-qos1,ws-echo",
			  .messages = 50000, .size = 64, .window = 64,
			  .rounds = 5};
	char list[256], *save = NULL, *payload;
	int ch, failed = 0;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o.cases = optarg; break;
		case 'n': o.messages = atoi(optarg); break;
		case 's': o.size = atoi(optarg); break;
		case 'w': o.window = atoi(optarg); break;
		case 'r': o.rounds = atoi(optarg); break;
		case 'q': o.messages = 2000; o.rounds = 1; break;
		case 'h':
			puts("usage: throughput [--cases mqtt-qos0,mqtt-qos1,"
			     "ws-echo] [--messages N] [--size B] [--window W] "
			     "[--rounds R] [--quick]");
			return 0;
		default:
			return 2;
		}
	}
	if (o.messages <= 0 || o.size <= 0 || o.size > 4096 ||
	    o.window <= 0 || o.rounds <= 0 || o.rounds > MAX_ROUNDS) {
		fprintf(stderr, "throughput: bad option\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);
	payload = malloc((size_t)o.size);
	if (!payload)
		return 1;
	memset(payload, 'x', (size_t)o.size);
	printf("%d messages of %d B, window %d, median of %d rounds "
	       "(messages per second)\n",
	       o.messages, o.size, o.window, o.rounds);
	printf("%-10s | %10s | %-15s | %s\n", "case", "tether", "raw",
	       "tether/raw");
	snprintf(list, sizeof(list), "%s", o.cases);
	for (char *tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (run_case(tok, &o, payload) != 0)
			failed++;
	free(payload);
	return failed ? 1 : 0;
}
