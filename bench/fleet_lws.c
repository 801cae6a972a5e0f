/* The WebSocket peer: a plain libwebsockets 4.1.6 client per connection,
 * all in one context serviced by one thread, reconnecting the way lws
 * suggests (lws_retry_sul_schedule with an lws_retry_bo_t table; here an
 * exponential 1, 2, 4 ... 60 s table with lws's additive jitter of 20 %,
 * the jitter its minimal client example uses). */
#include "config.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <uv.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"

static const uint32_t backoff_ms[] = {1000,  2000,  4000, 8000,
				      16000, 32000, 60000};
static lws_retry_bo_t retry = {
    .retry_ms_table = backoff_ms,
    .retry_ms_table_count = sizeof(backoff_ms) / sizeof(backoff_ms[0]),
    .conceal_count = LWS_RETRY_CONCEAL_ALWAYS,
    .jitter_percent = 20,
};

struct lc {
	int i;
	uint16_t tries;
	lws_sorted_usec_list_t sul;
	struct lstate *s;
};

struct lstate {
	struct lws_context *ctx;
	struct lc *c;
	int n;
	uint16_t port;
	pthread_t thread;
	int running;
	atomic_int stop;
	int uv;             /* on a libuv loop (lws-uv) instead of lws's own */
	uv_loop_t loop;
	uv_async_t wake;    /* stops the libuv loop */
};

static void reconnect_later(struct lc *c);

static void connect_now(struct lc *c)
{
	struct lws_client_connect_info ci;

	memset(&ci, 0, sizeof(ci));
	ci.context = c->s->ctx;
	ci.address = "127.0.0.1";
	ci.port = fleet_tuning.port2 && c->i % 2 ? fleet_tuning.port2
						 : c->s->port;
	ci.path = "/";
	ci.host = "127.0.0.1";
	ci.origin = "127.0.0.1";
	ci.protocol = "tether-test";
	/* With ldef, lws's own idle defaults (our table still times the
	 * reconnects, through lws_retry_sul_schedule). */
	ci.retry_and_idle_policy =
	    fleet_tuning.lws_default_policy ? NULL : &retry;
	ci.opaque_user_data = c;
	if (!lws_client_connect_via_info(&ci))
		reconnect_later(c);
}

static void on_retry(lws_sorted_usec_list_t *sul)
{
	connect_now(lws_container_of(sul, struct lc, sul));
}

static void reconnect_later(struct lc *c)
{
	if (atomic_load(&c->s->stop))
		return;
	lws_retry_sul_schedule(c->s->ctx, 0, &c->sul, &retry, on_retry,
			       &c->tries);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct lc *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->tries = 0;
		fleet_up(c->i);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c) {
			fleet_down(c->i);
			reconnect_later(c);
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
    {"tether-test", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *service(void *arg)
{
	struct lstate *s = arg;

	if (s->uv) {
		uv_run(&s->loop, UV_RUN_DEFAULT);
		return NULL;
	}
	while (!atomic_load(&s->stop))
		if (lws_service(s->ctx, 0) < 0)
			break;
	return NULL;
}

static void on_wake(uv_async_t *h)
{
	uv_stop(h->loop);
}

static int start(int n, uint16_t port, int uv, void **out)
{
	void *loops[1];
	struct lstate *s = calloc(1, sizeof(*s));
	struct lws_context_creation_info info;

	*out = s;
	if (!s || !(s->c = calloc((size_t)n, sizeof(*s->c))))
		return -1;
	s->n = n;
	s->port = port;
	s->uv = uv;
	retry.secs_since_valid_ping = (uint16_t)fleet_tuning.lws_ping_s;
	retry.secs_since_valid_hangup = (uint16_t)fleet_tuning.lws_hangup_s;
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.fd_limit_per_thread = (unsigned)n + 64;
	if (uv) {
		if (uv_loop_init(&s->loop) != 0)
			return -1;
		uv_async_init(&s->loop, &s->wake, on_wake);
		loops[0] = &s->loop;
		info.options = LWS_SERVER_OPTION_LIBUV;
		info.foreign_loops = loops;
	}
	s->ctx = lws_create_context(&info);
	if (!s->ctx)
		return -1;
	/* Before the service thread exists: no other thread touches lws. */
	for (int i = 0; i < n; i++) {
		s->c[i].i = i;
		s->c[i].s = s;
		connect_now(&s->c[i]);
	}
	if (pthread_create(&s->thread, NULL, service, s) != 0)
		return -1;
	s->running = 1;
	return 0;
}

static void lws_stop(void *state)
{
	struct lstate *s = state;

	if (!s)
		return;
	atomic_store(&s->stop, 1);
	if (s->running) {
		if (s->uv)
			uv_async_send(&s->wake);
		else
			lws_cancel_service(s->ctx);
		pthread_join(s->thread, NULL);
	}
	if (s->ctx)
		lws_context_destroy(s->ctx);
	if (s->uv) {
		uv_close((uv_handle_t *)&s->wake, NULL);
		uv_run(&s->loop, UV_RUN_DEFAULT);
		uv_loop_close(&s->loop);
	}
	free(s->c);
	free(s);
}

static int lws_start(int n, uint16_t port, void **out)
{
	return start(n, port, 0, out);
}

static int lws_uv_start(int n, uint16_t port, void **out)
{
	return start(n, port, 1, out);
}

const struct fleet_kind fleet_lws = {
    .name = "lws",
    .transport = "ws",
    .what = "libwebsockets 4.1.6 client, lws_retry_bo_t 1..60 s, 20 % jitter",
    .start = lws_start,
    .stop = lws_stop,
};

/* The same client on a libuv loop (LWS_SERVER_OPTION_LIBUV), the event
 * library tether runs lws on. */
const struct fleet_kind fleet_lws_uv = {
    .name = "lws-uv",
    .transport = "ws",
    .what = "libwebsockets 4.1.6 client on libuv, lws_retry_bo_t 1..60 s, "
	    "20 % jitter",
    .start = lws_uv_start,
    .stop = lws_stop,
};
