/*
 * The runtime (docs/architecture.md): a manager owns one engine (machines,
 * timers, limiter) that only its loop thread touches, and one libuv loop
 * (its own, or the host's: tether_mgr_new_uv). Transports and other
 * threads talk to the engine through one mutex-protected mailbox. A post
 * from another thread wakes the loop with a uv_async_t (an eventfd write,
 * coalesced by libuv while one is pending); a post from the loop thread
 * itself (an lws callback, a user callback) starts a uv_idle_t instead: no
 * syscall, drained in the same turn of the loop. The engine's timers stay
 * in its own heap; one uv_timer_t is armed for the earliest. The loop runs
 * on the manager's own thread (tether_mgr_start), on the host's libuv
 * loop, or is driven by the host (tether_mgr_fd / _timeout_ms /
 * _dispatch: the loop's backend fd and one UV_RUN_NOWAIT pass).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "linkmon-int.h"
#include "mgr-int.h"
#include "params-int.h"
#include "util-int.h"

/* What is posted to the loop. */
enum post_type {
	P_UP,
	P_FAIL,
	P_DOWN,
	P_CLOSED,
	P_MESSAGE,
	P_SENT,
	C_START,
	C_STOP,
	C_PUMP,    /* hand waiting messages to the transport */
	C_DROPPED, /* report `dropped` */
	C_SUBSCRIBE,
	C_LIMITS,
	C_BAD_ENDPOINT,
	C_REPLACE,     /* reload: aux's settings, live or by a restart */
	C_DROP,        /* reload: stop, the configuration dropped it */
	C_ADDED,       /* reload: a new connection */
	C_REPLACE_NOW, /* the connection reached CLOSED: apply its replacement */
	C_QUEUE_CFG,   /* new queue bounds */
	C_WAKE
};

#define DISPATCH_ROUNDS 64 /* queue drains per dispatch, against starvation */

struct tth_post {
	struct tth_post *next;
	enum post_type type;
	tether_conn *conn;
	uint32_t attempt;
	int flag; /* session_present (UP), error (SENT), qos (SUBSCRIBE) */
	uint64_t msg_id;
	struct tether_reason reason;
	char *text, *ref, *transport; /* owned copies of the reason's text */
	struct tether_message msg;
	char *topic;   /* owned */
	void *payload; /* owned */
	void *props;   /* owned: the properties and their bytes, one block */
	double rate;
	uint32_t burst, max_connecting;
	tether_conn *aux; /* REPLACE: owned, detached settings */
	struct tether_queue_cfg qcfg; /* QUEUE_CFG (spool_dir not used) */
	struct tth_qout dropped;      /* DROPPED: owned entries */
};


static uint64_t mgr_clock(void *ud)
{
	(void)ud;
	return tth_mono_ms();
}

static char *dup_or_null(const char *s, int *oom)
{
	char *d;
	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

/* ----------------------------------------------------------- the queue */

/* The manager's libuv handles, freed by the last close callback. */
struct tth_uv {
	uv_loop_t own;      /* the loop, when it is the manager's */
	uv_async_t wake;    /* posts from other threads; tether_mgr_stop */
	uv_idle_t idle;     /* posts from the loop thread */
	uv_timer_t timer;   /* the engine's earliest deadline */
	uv_poll_t link;     /* the link monitor's netlink socket */
	int has_link;
	int open;           /* handles not closed yet */
	tether_mgr *m;      /* NULL once the manager is freed */
};

static void on_idle(uv_idle_t *h);
static void on_timer(uv_timer_t *h);

static int on_loop_thread(tether_mgr *m)
{
	return atomic_load(&m->loop_tid_set) &&
	       atomic_load(&m->loop_tid) == (unsigned long)pthread_self();
}

static void set_loop_thread(tether_mgr *m)
{
	atomic_store(&m->loop_tid, (unsigned long)pthread_self());
	atomic_store(&m->loop_tid_set, 1);
}

static void post(tether_mgr *m, struct tth_post *p)
{
	int was_empty;

	p->next = NULL;
	pthread_mutex_lock(&m->qlock);
	was_empty = m->qhead == NULL;
	if (m->qtail)
		m->qtail->next = p;
	else
		m->qhead = p;
	m->qtail = p;
	pthread_mutex_unlock(&m->qlock);
	if (!was_empty)
		return; /* whoever posted first woke the loop */
	if (on_loop_thread(m))
		uv_idle_start(&m->uv->idle, on_idle);
	else
		uv_async_send(&m->uv->wake);
}

static void post_free(struct tth_post *p)
{
	free(p->text);
	free(p->ref);
	free(p->transport);
	free(p->topic);
	free(p->payload);
	free(p->props);
	if (p->aux)
		tth_conn_free(p->aux);
	tth_qout_free_all(&p->dropped);
	free(p);
}

static struct tth_post *post_new(enum post_type t, tether_conn *c,
				 uint32_t attempt)
{
	struct tth_post *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->type = t;
	p->conn = c;
	p->attempt = attempt;
	return p;
}

static int copy_reason(struct tth_post *p, const struct tether_reason *r)
{
	int oom = 0;

	if (!r)
		return 0;
	p->reason = *r;
	p->text = dup_or_null(r->text, &oom);
	p->ref = dup_or_null(r->server_ref, &oom);
	p->transport = dup_or_null(r->transport, &oom);
	p->reason.text = p->text;
	p->reason.server_ref = p->ref;
	p->reason.transport = p->transport;
	return oom ? TETHER_ENOMEM : 0;
}

/* The properties and every byte they point at, in one block. */
static struct tether_property *copy_props(const struct tether_property *v,
					  size_t n)
{
	size_t size = n * sizeof(*v);
	struct tether_property *out;
	char *bytes;

	for (size_t i = 0; i < n; i++)
		size += strlen(v[i].name) + 1 + (v[i].value ? v[i].len + 1 : 0);
	out = malloc(size);
	if (!out)
		return NULL;
	bytes = (char *)(out + n);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i].name) + 1;

		out[i] = v[i];
		out[i].name = memcpy(bytes, v[i].name, l);
		bytes += l;
		if (v[i].value) {
			memcpy(bytes, v[i].value, v[i].len);
			bytes[v[i].len] = '\0';
			out[i].value = bytes;
			bytes += v[i].len + 1;
		}
	}
	return out;
}

static int copy_message(struct tth_post *p, const struct tether_message *msg)
{
	int oom = 0;

	p->msg = *msg;
	p->topic = dup_or_null(msg->topic, &oom);
	p->msg.topic = p->topic;
	if (msg->len) {
		p->payload = malloc(msg->len);
		if (!p->payload)
			return TETHER_ENOMEM;
		memcpy(p->payload, msg->payload, msg->len);
	}
	p->msg.payload = p->payload;
	p->msg.props = NULL;
	p->msg.nprops = 0;
	if (msg->size >= sizeof(*msg) && msg->nprops && msg->props) {
		p->props = copy_props(msg->props, msg->nprops);
		if (!p->props)
			return TETHER_ENOMEM;
		p->msg.props = p->props;
		p->msg.nprops = msg->nprops;
	}
	return oom ? TETHER_ENOMEM : 0;
}

/* ------------------------------------------- reports from transports */

/*
 * A report that cannot be queued for lack of memory would leave the
 * machine waiting on a transport that moved on; the connect timeout and
 * the heartbeat recover from that, so dropping it is the safe failure.
 */
static void report(tether_conn *c, enum post_type t, uint32_t attempt,
		   const struct tether_reason *r)
{
	struct tth_post *p = post_new(t, c, attempt);
	if (!p)
		return;
	if (copy_reason(p, r) != 0) {
		post_free(p);
		return;
	}
	if (r)
		p->flag = 1;
	post(c->mgr, p);
}

TETHER_EXPORT void tether_transport_up(tether_conn *c, uint32_t attempt,
				       int session_present)
{
	struct tth_post *p = post_new(P_UP, c, attempt);
	if (!p)
		return;
	p->flag = session_present;
	atomic_store(&c->last_rx_ms, tth_mono_ms());
	post(c->mgr, p);
}

TETHER_EXPORT void tether_transport_fail(tether_conn *c, uint32_t attempt,
					 const struct tether_reason *r)
{
	report(c, P_FAIL, attempt, r);
}

TETHER_EXPORT void tether_transport_down(tether_conn *c, uint32_t attempt,
					 const struct tether_reason *r)
{
	report(c, P_DOWN, attempt, r);
}

TETHER_EXPORT void tether_transport_closed(tether_conn *c, uint32_t attempt)
{
	report(c, P_CLOSED, attempt, NULL);
}

TETHER_EXPORT void tether_transport_activity(tether_conn *c, uint32_t attempt)
{
	(void)attempt;
	atomic_store(&c->last_rx_ms, tth_mono_ms());
}

TETHER_EXPORT void tether_transport_pong(tether_conn *c, uint32_t attempt)
{
	uint64_t now = tth_mono_ms();
	(void)attempt;
	atomic_store(&c->last_pong_ms, now);
	atomic_store(&c->last_rx_ms, now);
}

TETHER_EXPORT void tether_transport_message(tether_conn *c, uint32_t attempt,
					    const struct tether_message *msg)
{
	struct tth_post *p;

	atomic_store(&c->last_rx_ms, tth_mono_ms());
	p = post_new(P_MESSAGE, c, attempt);
	if (!p)
		return;
	if (copy_message(p, msg) != 0) {
		post_free(p);
		return;
	}
	post(c->mgr, p);
}

TETHER_EXPORT void tether_transport_sent(tether_conn *c, uint32_t attempt,
					 uint64_t msg_id, int err)
{
	struct tth_post *p = post_new(P_SENT, c, attempt);
	if (!p)
		return;
	p->msg_id = msg_id;
	p->flag = err;
	post(c->mgr, p);
}

TETHER_EXPORT const char *tether_transport_conn_name(const tether_conn *c)
{
	return c ? c->name : "";
}

/* ------------------------------------------------------------ callbacks */

static tether_conn *conn_of(struct tth_econn *ec)
{
	return TTH_CONTAINER_OF(ec, tether_conn, ec);
}

static void user_event(tether_mgr *m, tether_conn *c,
		       const struct tether_event *ev)
{
	if (m->cb)
		m->cb(c, ev, m->cb_ud);
}

static void simple_event(tether_conn *c, enum tether_event_type t,
			 struct tether_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->size = sizeof(*ev);
	ev->type = t;
	ev->state = (enum tether_state)atomic_load(&c->state);
	ev->old_state = ev->state;
	ev->now_ms = tth_mono_ms();
	ev->attempt = c->ec.m.rounds;
	ev->endpoint = c->ec.m.endpoint;
}

void tth_conn_sent_event(tether_conn *c, uint64_t id, int err)
{
	struct tether_event ev;
	simple_event(c, TETHER_EV_SENT, &ev);
	ev.msg_id = id;
	ev.error = err;
	user_event(c->mgr, c, &ev);
}

/* ------------------------------------------------------------ heartbeat */

void tth_hb_stop(tether_conn *c)
{
	tth_engine_cancel(&c->mgr->eng, &c->hb_timer);
	c->hb_waiting = 0;
	c->hb_missed = 0;
}

void tth_hb_start(tether_conn *c)
{
	if (!c->hb_interval || !c->tops->ping)
		return;
	c->hb_waiting = 0;
	c->hb_missed = 0;
	atomic_store(&c->last_rx_ms, c->mgr->eng.now_ms);
	tth_engine_arm(&c->mgr->eng, &c->hb_timer,
		       c->mgr->eng.now_ms + c->hb_interval);
}

static void hb_ping(tether_conn *c, uint64_t now)
{
	c->hb_ping_sent = now;
	c->hb_waiting = 1;
	/* A ping that cannot be queued counts as unanswered. */
	c->tops->ping(c->link, c->online_attempt);
	tth_engine_arm(&c->mgr->eng, &c->hb_timer, now + c->hb_timeout);
}

/*
 * After the last inbound frame at t0 the first ping goes out at
 * t0 + interval; each ping waits `timeout`; after `misses` unanswered
 * pings the link is declared dead: at t0 + interval + timeout * misses.
 */
static void hb_fire(struct tth_engine *e, struct tth_etimer *et)
{
	tether_conn *c = TTH_CONTAINER_OF(et, tether_conn, hb_timer);
	uint64_t now = e->now_ms, last = atomic_load(&c->last_rx_ms);

	if (c->ec.m.state != TETHER_STATE_ONLINE)
		return;
	if (!c->hb_waiting) {
		if (now >= last + c->hb_interval)
			hb_ping(c, now);
		else
			tth_engine_arm(e, et, last + c->hb_interval);
		return;
	}
	if (last >= c->hb_ping_sent) {
		uint64_t pong = atomic_load(&c->last_pong_ms);
		if (pong >= c->hb_ping_sent) {
			struct tether_policy_sample s = {
				TETHER_SAMPLE_RTT, now, pong - c->hb_ping_sent};
			tether_policy_observe(c->policy, &s);
			tth_metrics_rtt(c, pong - c->hb_ping_sent); /* metrics */
		}
		c->hb_waiting = 0;
		c->hb_missed = 0;
		tth_engine_arm(e, et, last + c->hb_interval);
		return;
	}
	if (++c->hb_missed < c->hb_misses) {
		hb_ping(c, now);
		return;
	}
	struct tether_reason r = {.kind = TETHER_KIND_LOCAL,
				  .code = TETHER_LOCAL_HEARTBEAT_TIMEOUT,
				  .text = "no answer to pings"};
	c->hb_waiting = 0;
	tth_engine_down(e, &c->ec, c->online_attempt, &r);
}

/* ------------------------------------------------------- engine io */

static void io_connect(void *ud, struct tth_econn *ec, uint32_t endpoint,
		       uint32_t id)
{
	tether_mgr *m = ud;
	tether_conn *c = conn_of(ec);
	const char *uri = endpoint == TTH_EP_REDIRECT ? c->redirect_uri
			  : endpoint < c->n_endpoints ? c->endpoints[endpoint]
						      : NULL;
	int rc = uri ? c->tops->connect(c->link, id, uri) : TETHER_EINVAL;

	if (rc != 0) {
		/* Reported through the queue: the engine must not be fed
		   from inside its own action. */
		struct tth_post *p = post_new(C_BAD_ENDPOINT, c, id);
		if (p) {
			p->flag = rc;
			post(m, p);
		}
	}
}

static void io_abort(void *ud, struct tth_econn *ec, uint32_t id)
{
	tether_conn *c = conn_of(ec);
	(void)ud;
	tth_hb_stop(c);
	c->tops->abort(c->link, id);
}

static void io_close(void *ud, struct tth_econn *ec, uint32_t id)
{
	tether_conn *c = conn_of(ec);
	(void)ud;
	tth_hb_stop(c);
	c->tops->close(c->link, id);
}

static void io_redirect(void *ud, struct tth_econn *ec, const char *ref)
{
	tether_conn *c = conn_of(ec);
	char *d = strdup(ref);
	(void)ud;
	if (!d)
		return; /* the attempt then fails as a bad endpoint */
	free(c->redirect_uri);
	c->redirect_uri = d;
}

static void apply_subscriptions(tether_conn *c)
{
	if (!c->tops->subscribe)
		return;
	for (size_t i = 0; i < c->nsubs; i++)
		c->tops->subscribe(c->link, c->online_attempt, c->subs[i].topic,
				   c->subs[i].qos);
}

static void io_event(void *ud, struct tth_econn *ec,
		     const struct tether_event *ev)
{
	tether_mgr *m = ud;
	tether_conn *c = conn_of(ec);

	tth_metrics_event(c, ev); /* metrics */
	if (ev->type == TETHER_EV_STATE) {
		int link_end, closed;

		atomic_store(&c->state, (int)ev->state);
		if (ev->old_state == TETHER_STATE_ONLINE)
			tth_hb_stop(c);
		if (ev->state == TETHER_STATE_CLOSED && c->replace_with) {
			/* through the queue: the engine is mid-step here */
			struct tth_post *p = post_new(C_REPLACE_NOW, c, 0);
			if (p)
				post(m, p);
		}
		/* An orderly close may still deliver; any other end of the
		   link, or the end of the close, puts back what the
		   transport did not report; CLOSED for good drops the rest. */
		link_end = (ev->old_state == TETHER_STATE_ONLINE ||
			    ev->old_state == TETHER_STATE_CLOSING) &&
			   ev->state != TETHER_STATE_CLOSING;
		closed = ev->state == TETHER_STATE_CLOSED && !c->replace_with;
		user_event(m, c, ev);
		if (link_end || closed)
			tth_outbox_link_end(c, closed);
		return;
	}
	if (ev->type == TETHER_EV_UP) {
		struct tether_event up = *ev;

		c->online_attempt = c->ec.m.attempt_id;
		tth_hb_start(c);
		if (!c->session_present)
			apply_subscriptions(c);
		up.session_present = c->session_present;
		user_event(m, c, &up);
		tth_outbox_up(c);
		return;
	}
	user_event(m, c, ev);
}

static const struct tth_engine_io mgr_io = {
	.connect = io_connect,
	.abort = io_abort,
	.close = io_close,
	.redirect = io_redirect,
	.event = io_event,
};

/* ----------------------------------------------------------- the loop */

static void run_post(tether_mgr *m, struct tth_post *p)
{
	tether_conn *c = p->conn;
	struct tth_engine *e = &m->eng;

	switch (p->type) {
	case P_UP:
		if (c->inited && p->attempt == c->ec.m.attempt_id)
			c->session_present = p->flag;
		tth_engine_up(e, &c->ec, p->attempt);
		break;
	case P_FAIL:
		tth_engine_fail(e, &c->ec, p->attempt,
				p->flag ? &p->reason : NULL);
		break;
	case P_DOWN:
		tth_engine_down(e, &c->ec, p->attempt,
				p->flag ? &p->reason : NULL);
		break;
	case P_CLOSED:
		tth_engine_closed(e, &c->ec, p->attempt);
		break;
	case C_BAD_ENDPOINT: {
		struct tether_reason r = {
			.kind = p->flag == TETHER_EINVAL ? TETHER_KIND_LOCAL
							 : TETHER_KIND_SOCKET,
			.code = p->flag == TETHER_EINVAL
					? TETHER_LOCAL_BAD_ENDPOINT
					: EIO,
			.text = p->flag == TETHER_EINVAL
					? "the transport cannot use this URI"
					: tether_strerror(p->flag)};
		tth_engine_fail(e, &c->ec, p->attempt, &r);
		break;
	}
	case P_MESSAGE:
		/* From the link that was last up, also once it is going or
		   gone (a stop, a reload's restart, a link the runtime
		   declared down): the transport has taken the message from
		   the peer (MQTT: PUBACK sent), nobody would send it again. */
		if (p->attempt == c->online_attempt) {
			struct tether_event ev;
			simple_event(c, TETHER_EV_MESSAGE, &ev);
			ev.message = &p->msg;
			tth_metrics_message(c, 0); /* metrics */
			user_event(m, c, &ev);
		}
		break;
	case P_SENT:
		tth_outbox_sent(c, p->attempt, p->msg_id, p->flag);
		break;
	case C_START:
		tth_outbox_warnings(c);
		tth_engine_start(e, &c->ec);
		break;
	case C_STOP:
		tth_engine_stop(e, &c->ec);
		break;
	case C_PUMP:
		tth_outbox_pump(c);
		break;
	case C_DROPPED:
		tth_outbox_emit(c, &p->dropped);
		break;
	case C_SUBSCRIBE: {
		struct tth_sub *v =
			realloc(c->subs, (c->nsubs + 1) * sizeof(*v));
		if (!v)
			break;
		c->subs = v;
		v[c->nsubs].topic = p->topic;
		v[c->nsubs].qos = p->flag;
		p->topic = NULL; /* kept */
		c->nsubs++;
		if (c->ec.m.state == TETHER_STATE_ONLINE && c->tops->subscribe)
			c->tops->subscribe(c->link, c->online_attempt,
					   v[c->nsubs - 1].topic, p->flag);
		break;
	}
	case C_LIMITS:
		tth_engine_set_limits(e, p->rate, p->burst, p->max_connecting);
		break;
	case C_DROP:
		tth_reload_drop(c);
		break;
	case C_ADDED:
		tth_conn_event(c, TETHER_EV_RELOAD, "added");
		break;
	case C_REPLACE:
		tth_reload_replace(c, p->aux);
		p->aux = NULL;
		break;
	case C_REPLACE_NOW:
		tth_reload_closed(c);
		break;
	case C_QUEUE_CFG:
		tth_queue_cfg_live(c, &p->qcfg);
		break;
	case C_WAKE:
		break;
	}
}

int tth_post_reload(tether_conn *c, tether_conn *s, enum tth_reload_step step)
{
	static const enum post_type type[] = {C_REPLACE, C_DROP, C_ADDED};
	struct tth_post *p = post_new(type[step], c, 0);
	if (!p) {
		if (s)
			tth_conn_free(s);
		return TETHER_ENOMEM;
	}
	p->aux = s;
	post(c->mgr, p);
	return 0;
}

int tth_post_queue_cfg(tether_conn *c, const struct tether_queue_cfg *q)
{
	struct tth_post *p = post_new(C_QUEUE_CFG, c, 0);
	if (!p)
		return TETHER_ENOMEM;
	p->qcfg = *q;
	p->qcfg.spool_dir = NULL;
	post(c->mgr, p);
	return 0;
}

/* New bounds for a started connection (loop thread). */
void tth_queue_cfg_live(tether_conn *c, const struct tether_queue_cfg *q)
{
	const char *dir = c->qcfg.spool_dir;
	struct tth_qout out;

	c->qcfg = *q;
	c->qcfg.spool_dir = dir;
	tth_qout_init(&out);
	tth_outbox_set_limits(c, &c->qcfg, &out);
	tth_outbox_emit(c, &out);
}

void tth_conn_kick(tether_conn *c)
{
	struct tth_post *p;

	if (atomic_exchange(&c->kicked, 1))
		return; /* one is on its way */
	p = post_new(C_PUMP, c, 0);
	if (!p) {
		atomic_store(&c->kicked, 0); /* the next send tries again */
		return;
	}
	post(c->mgr, p);
}

void tth_conn_post_dropped(tether_conn *c, struct tth_qout *out)
{
	struct tth_post *p = post_new(C_DROPPED, c, 0);

	if (!p) {
		/* cannot report them: better late than never is not an
		   option without memory; they are freed silently */
		tth_qout_free_all(out);
		return;
	}
	p->dropped = *out;
	tth_qout_init(out);
	post(c->mgr, p);
}

void tth_conn_event(tether_conn *c, enum tether_event_type t,
		    const char *detail)
{
	struct tether_event ev;
	simple_event(c, t, &ev);
	ev.detail = detail;
	user_event(c->mgr, c, &ev);
}

static struct tth_post *take_queue(tether_mgr *m)
{
	struct tth_post *list;

	pthread_mutex_lock(&m->qlock);
	list = m->qhead;
	m->qhead = m->qtail = NULL;
	pthread_mutex_unlock(&m->qlock);
	return list;
}

static int queue_empty(tether_mgr *m)
{
	int empty;
	pthread_mutex_lock(&m->qlock);
	empty = m->qhead == NULL;
	pthread_mutex_unlock(&m->qlock);
	return empty;
}

/* Whether uri's host is on loopback: localhost, 127.0.0.0/8 or ::1. */
static int loopback_uri(const char *uri)
{
	const char *h = strstr(uri, "://");
	char host[64];
	size_t n;
	struct in_addr a4;

	h = h ? h + 3 : uri;
	if (*h == '[') {
		h++;
		n = strcspn(h, "]");
	} else {
		n = strcspn(h, ":/?#");
	}
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return 1;
	return inet_pton(AF_INET, host, &a4) == 1 &&
	       (ntohl(a4.s_addr) >> 24) == 127;
}

/* Whether a connection depends on the network: any endpoint off loopback. */
static int needs_network(const tether_conn *c)
{
	for (uint32_t i = 0; i < c->n_endpoints; i++)
		if (!loopback_uri(c->endpoints[i]))
			return 1;
	return 0;
}

static void poll_link(tether_mgr *m)
{
	tether_conn *first, *c;
	int r, up;

	if (!m->lm)
		return;
	r = tth_linkmon_poll(m->lm);
	if (!r)
		return;
	up = tth_linkmon_usable(m->lm);
	if (up)
		m->link_tracking = 1;
	if (!m->link_tracking)
		return;
	if (!(r & TTH_LINK_CHANGED) && !(up && (r & TTH_LINK_NEW_ROUTE)))
		return;
	m->link_usable = up;
	/* Connections are only ever prepended: walking from a snapshot of
	   the head needs no lock, and callbacks may add connections. */
	pthread_mutex_lock(&m->lock);
	first = m->conns;
	pthread_mutex_unlock(&m->lock);
	for (c = first; c; c = c->next)
		if (c->inited && c->needs_network)
			tth_engine_link(&m->eng, &c->ec, up);
}

/* Arm the one libuv timer for the engine's earliest deadline. */
static void arm_timer(tether_mgr *m)
{
	uint64_t next = tth_engine_next_due(&m->eng), now;

	if (next == m->armed_due)
		return;
	m->armed_due = next;
	if (next == TTH_NEVER) {
		uv_timer_stop(&m->uv->timer);
		return;
	}
	now = tth_mono_ms();
	uv_update_time(m->loop);
	uv_timer_start(&m->uv->timer, on_timer, next > now ? next - now : 0, 0);
}

/*
 * One pass of the runtime's work: the link monitor (when it spoke), the
 * mailbox, due timers; then the timer is armed for what is next, and the
 * idle handle kept only while posts wait.
 */
static void loop_work(tether_mgr *m, int link)
{
	int nested = atomic_exchange(&m->in_dispatch, 1);

	if (link)
		poll_link(m);
	for (int round = 0; round < DISPATCH_ROUNDS; round++) {
		struct tth_post *list = take_queue(m);
		if (!list)
			break;
		while (list) {
			struct tth_post *p = list;
			list = p->next;
			run_post(m, p);
			post_free(p);
		}
	}
	tth_engine_run_due(&m->eng);
	/* metrics: published for tether_mgr_metrics_text's threads */
	atomic_store(&m->met_limiter_waits, m->eng.lim.queued_total);
	arm_timer(m);
	/* more work arrived meanwhile (posted here): come back at once */
	if (queue_empty(m))
		uv_idle_stop(&m->uv->idle);
	else
		uv_idle_start(&m->uv->idle, on_idle);
	if (!nested)
		atomic_store(&m->in_dispatch, 0);
}

static void on_idle(uv_idle_t *h)
{
	struct tth_uv *u = h->data;

	if (u->m)
		loop_work(u->m, 0);
}

static void on_timer(uv_timer_t *h)
{
	struct tth_uv *u = h->data;

	if (!u->m)
		return;
	u->m->armed_due = TTH_NEVER; /* it fired: not armed any more */
	loop_work(u->m, 0);
}

static void on_wake(uv_async_t *h)
{
	struct tth_uv *u = h->data;

	if (!u->m)
		return;
	if (atomic_load(&u->m->quit)) {
		uv_stop(h->loop);
		return;
	}
	loop_work(u->m, 0);
}

static void on_link(uv_poll_t *h, int status, int events)
{
	struct tth_uv *u = h->data;

	(void)status;
	(void)events;
	if (u->m)
		loop_work(u->m, 1);
}

TETHER_EXPORT int tether_mgr_dispatch(tether_mgr *m)
{
	if (!m)
		return TETHER_EINVAL;
	if (!m->own_loop || m->thread_running)
		return TETHER_ESTATE;
	if (atomic_load(&m->in_dispatch))
		return TETHER_ESTATE; /* from inside a callback */
	set_loop_thread(m);
	atomic_store(&m->in_dispatch, 1);
	uv_run(m->loop, UV_RUN_NOWAIT);
	atomic_store(&m->in_dispatch, 0);
	return 0;
}

TETHER_EXPORT int tether_mgr_fd(const tether_mgr *m)
{
	return m && m->own_loop ? uv_backend_fd(m->loop) : -1;
}

TETHER_EXPORT int tether_mgr_timeout_ms(tether_mgr *m)
{
	if (!m)
		return -1;
	/* a post from another thread shows on the fd, but this says it
	   without a poll */
	if (!queue_empty(m))
		return 0;
	uv_update_time(m->loop);
	return uv_backend_timeout(m->loop);
}

TETHER_EXPORT int tether_mgr_is_loop_thread(const tether_mgr *m)
{
	return m && atomic_load(&m->in_dispatch) && on_loop_thread((tether_mgr *)m);
}

TETHER_EXPORT struct uv_loop_s *tether_mgr_uv_loop(const tether_mgr *m)
{
	return m ? m->loop : NULL;
}

static void *loop_main(void *arg)
{
	tether_mgr *m = arg;

	set_loop_thread(m);
	atomic_store(&m->in_dispatch, 1);
	/* the mailbox may have filled before the thread ran */
	uv_idle_start(&m->uv->idle, on_idle);
	while (!atomic_load(&m->quit))
		uv_run(m->loop, UV_RUN_DEFAULT);
	atomic_store(&m->in_dispatch, 0);
	return NULL;
}

TETHER_EXPORT int tether_mgr_start(tether_mgr *m)
{
	if (!m)
		return TETHER_EINVAL;
	if (m->thread_running || !m->own_loop)
		return TETHER_ESTATE;
	atomic_store(&m->quit, 0);
	/* thread_running first: the loop's own dispatch checks it */
	m->thread_running = 1;
	if (pthread_create(&m->thread, NULL, loop_main, m) != 0) {
		m->thread_running = 0;
		return TETHER_EIO;
	}
	return 0;
}

TETHER_EXPORT int tether_mgr_stop(tether_mgr *m)
{
	if (!m || !m->thread_running)
		return TETHER_ESTATE;
	if (pthread_equal(pthread_self(), m->thread))
		return TETHER_ESTATE;
	atomic_store(&m->quit, 1);
	uv_async_send(&m->uv->wake);
	pthread_join(m->thread, NULL);
	m->thread_running = 0;
	atomic_store(&m->loop_tid_set, 0);
	return 0;
}

/* ------------------------------------------------------------ manager */

static void uv_closed(uv_handle_t *h)
{
	struct tth_uv *u = h->data;

	/* the own loop lives in u: it is freed by tether_mgr_free */
	if (--u->open == 0 && !u->m && !u->own.data)
		free(u);
}

/* Make the handles on m->loop; 0 or TETHER_EIO. */
static int uv_open(tether_mgr *m)
{
	struct tth_uv *u = m->uv;

	u->m = m;
	if (uv_async_init(m->loop, &u->wake, on_wake) != 0)
		return TETHER_EIO;
	u->wake.data = u;
	u->open++;
	uv_idle_init(m->loop, &u->idle);
	u->idle.data = u;
	u->open++;
	uv_timer_init(m->loop, &u->timer);
	u->timer.data = u;
	u->open++;
	m->armed_due = TTH_NEVER;
	/* Without netlink (a sandbox) tether works, minus link awareness. */
	if (tth_linkmon_open(&m->lm) == 0) {
		if (uv_poll_init(m->loop, &u->link, tth_linkmon_fd(m->lm)) != 0 ||
		    (u->link.data = u, u->open++, u->has_link = 1,
		     uv_poll_start(&u->link, UV_READABLE, on_link) != 0)) {
			tth_linkmon_close(m->lm);
			m->lm = NULL;
		} else {
			m->link_usable = tth_linkmon_usable(m->lm);
			m->link_tracking = m->link_usable;
		}
	}
	return 0;
}

/* Close every handle of m; u outlives m until the last is closed. */
static void uv_shut(tether_mgr *m)
{
	struct tth_uv *u = m->uv;

	u->m = NULL;
	if (u->open == 0) {
		if (!u->own.data)
			free(u);
		return;
	}
	uv_close((uv_handle_t *)&u->wake, uv_closed);
	uv_close((uv_handle_t *)&u->idle, uv_closed);
	uv_close((uv_handle_t *)&u->timer, uv_closed);
	if (u->has_link)
		uv_close((uv_handle_t *)&u->link, uv_closed);
}

static void close_stray(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int mgr_new(tether_mgr **out, uv_loop_t *host)
{
	tether_mgr *m;
	int rc;

	if (!out)
		return TETHER_EINVAL;
	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return TETHER_ENOMEM;
	m->uv = calloc(1, sizeof(*m->uv));
	if (!m->uv) {
		free(m);
		return TETHER_ENOMEM;
	}
	if (host) {
		m->loop = host;
	} else {
		if (uv_loop_init(&m->uv->own) != 0) {
			free(m->uv);
			free(m);
			return TETHER_EIO;
		}
		m->uv->own.data = m->uv; /* marks it as in use */
		m->loop = &m->uv->own;
		m->own_loop = 1;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->qlock, NULL);
	rc = uv_open(m);
	if (rc != 0) {
		tth_engine_init(&m->eng, mgr_clock, m, &mgr_io, m);
		tether_mgr_free(m);
		return rc;
	}
	if (host)
		set_loop_thread(m);
	if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(m->seed))
		m->seed = tth_mono_ms() ^ ((uint64_t)getpid() << 32);
	tth_engine_init(&m->eng, mgr_clock, m, &mgr_io, m);
	*out = m;
	return 0;
}

TETHER_EXPORT int tether_mgr_new(tether_mgr **out)
{
	return mgr_new(out, NULL);
}

TETHER_EXPORT int tether_mgr_new_uv(tether_mgr **out, struct uv_loop_s *loop)
{
	if (!loop)
		return TETHER_EINVAL;
	return mgr_new(out, loop);
}

TETHER_EXPORT int tether_mgr_set_event_cb(tether_mgr *m, tether_event_cb cb,
					  void *userdata)
{
	if (!m)
		return TETHER_EINVAL;
	m->cb = cb;
	m->cb_ud = userdata;
	return 0;
}

TETHER_EXPORT int tether_mgr_set_limits(tether_mgr *m,
					double connects_per_second,
					uint32_t burst, uint32_t max_connecting)
{
	struct tth_post *p;

	if (!m || !(connects_per_second >= 0) || burst == 0)
		return TETHER_EINVAL;
	p = post_new(C_LIMITS, NULL, 0);
	if (!p)
		return TETHER_ENOMEM;
	p->rate = connects_per_second;
	p->burst = burst;
	p->max_connecting = max_connecting;
	post(m, p);
	return 0;
}

void tth_conn_free(tether_conn *c)
{
	for (uint32_t i = 0; i < c->n_endpoints; i++)
		free(c->endpoints[i]);
	free(c->endpoints);
	for (size_t i = 0; i < c->nsubs; i++)
		free(c->subs[i].topic);
	free(c->subs);
	tth_outbox_cleanup(c);
	free(c->redirect_uri);
	free(c->spool_dir);
	tether_params_free(c->opts);
	tether_policy_free(c->policy);
	tether_params_free(c->policy_params);
	tether_classifier_free(c->classifier);
	if (c->replace_with)
		tth_conn_free(c->replace_with);
	free(c->name);
	free(c->error);
	free(c);
}

TETHER_EXPORT void tether_mgr_free(tether_mgr *m)
{
	tether_conn *c, *next;
	struct tth_post *list;
	struct tth_uv *u;

	if (!m)
		return;
	if (m->thread_running)
		tether_mgr_stop(m);
	/* Links first (each aborted), then the transport contexts, which
	   stop the transports' threads: after that nothing posts. */
	for (c = m->conns; c; c = c->next) {
		if (!c->link)
			continue;
		if (c->inited)
			tth_econn_detach(&m->eng, &c->ec);
		tth_engine_cancel(&m->eng, &c->hb_timer);
		tth_engine_cancel(&m->eng, &c->ttl_timer);
		tth_engine_cancel(&m->eng, &c->flush_timer);
		c->tops->abort(c->link, c->ec.m.attempt_id);
		c->tops->link_free(c->link);
		c->link = NULL;
	}
	/* Our handles are closed before the transports' contexts go: their
	   last steps may run the loop (lws on it finishes closing), and no
	   callback of ours may run on a half-freed manager. */
	u = m->uv;
	uv_shut(m);
	for (size_t i = 0; i < m->ntctx; i++)
		m->tctx[i].ops->ctx_free(m->tctx[i].ctx);
	list = take_queue(m);
	while (list) {
		struct tth_post *p = list;
		list = p->next;
		post_free(p);
	}
	for (c = m->conns; c; c = next) {
		next = c->next;
		tth_conn_free(c);
	}
	tth_engine_cleanup(&m->eng);
	if (m->own_loop) {
		/* Run the loop to the end of every close, ours and the
		   transports' (lws closes its handles asynchronously). */
		uv_run(m->loop, UV_RUN_DEFAULT);
		uv_walk(m->loop, close_stray, NULL);
		uv_run(m->loop, UV_RUN_DEFAULT);
		uv_loop_close(m->loop);
		free(u);
	}
	if (m->lm)
		tth_linkmon_close(m->lm);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->qlock);
	free(m);
}

/* --------------------------------------------------------- connections */

char *tth_conn_errbuf(tether_conn *c)
{
	static _Thread_local char scratch[TTH_CONN_ERROR_MAX];

	if (!c->error)
		c->error = calloc(1, TTH_CONN_ERROR_MAX);
	return c->error ? c->error : scratch;
}

static void set_error(tether_conn *c, const char *fmt, const char *arg)
{
	snprintf(tth_conn_errbuf(c), TTH_CONN_ERROR_MAX, fmt, arg ? arg : "");
}

TETHER_EXPORT int tether_conn_new(tether_mgr *m, const char *name,
				  const char *transport, tether_conn **out)
{
	const struct tether_transport_ops *ops;
	tether_conn *c, *it;
	int rc = 0;

	if (!m || !name || !*name || !transport || !out)
		return TETHER_EINVAL;
	*out = NULL;
	ops = tether_transport_lookup(transport);
	if (!ops)
		return TETHER_ENOENT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return TETHER_ENOMEM;
	c->mgr = m;
	c->tops = ops;
	c->name = strdup(name);
	c->opts = tether_params_new(NULL);
	if (!c->name || !c->opts) {
		tth_conn_free(c);
		return TETHER_ENOMEM;
	}
	tth_machine_cfg_defaults(&c->mcfg);
	tether_queue_cfg_defaults(&c->qcfg);
	tth_etimer_init(&c->hb_timer, hb_fire);
	rc = tth_outbox_init(c);
	if (rc != 0) {
		tth_conn_free(c);
		return rc;
	}
	if (ops->default_classes) {
		c->classifier = tether_classifier_new();
		if (!c->classifier) {
			tth_conn_free(c);
			return TETHER_ENOMEM;
		}
		for (size_t i = 0; ops->default_classes[i] &&
				   ops->default_classes[i + 1];
		     i += 2) {
			rc = tether_classifier_add_rule(
				c->classifier, ops->default_classes[i],
				ops->default_classes[i + 1], NULL, 0);
			if (rc != 0) {
				tth_conn_free(c);
				return rc;
			}
		}
	}
	atomic_store(&c->state, TETHER_STATE_IDLE);
	atomic_store(&c->next_msg_id, 1);
	pthread_mutex_lock(&m->lock);
	for (it = m->conns; it; it = it->next)
		if (strcmp(it->name, name) == 0)
			rc = TETHER_EEXIST;
	if (rc == 0) {
		c->next = m->conns;
		m->conns = c;
		m->nconns++;
	}
	pthread_mutex_unlock(&m->lock);
	if (rc != 0) {
		tth_conn_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static int started(const tether_conn *c)
{
	return c->link != NULL;
}

TETHER_EXPORT int tether_conn_add_endpoint(tether_conn *c, const char *uri)
{
	const char *colon;
	char **v;
	int ok = 0;

	if (!c || !uri)
		return TETHER_EINVAL;
	if (started(c))
		return TETHER_ESTATE;
	colon = strstr(uri, "://");
	for (size_t i = 0; colon && c->tops->schemes[i]; i++) {
		size_t n = strlen(c->tops->schemes[i]);
		if ((size_t)(colon - uri) == n &&
		    strncmp(uri, c->tops->schemes[i], n) == 0)
			ok = 1;
	}
	if (!ok || !colon[3]) {
		char schemes[128] = "";
		for (size_t i = 0; c->tops->schemes[i]; i++) {
			size_t l = strlen(schemes);
			snprintf(schemes + l, sizeof(schemes) - l, "%s%s://",
				 i ? ", " : "", c->tops->schemes[i]);
		}
		snprintf(tth_conn_errbuf(c), TTH_CONN_ERROR_MAX,
			 "endpoint '%s': expected a URI for transport '%s' (%s)",
			 uri, c->tops->name, schemes);
		return TETHER_EINVAL;
	}
	v = realloc(c->endpoints, (c->n_endpoints + 1) * sizeof(*v));
	if (!v)
		return TETHER_ENOMEM;
	c->endpoints = v;
	v[c->n_endpoints] = strdup(uri);
	if (!v[c->n_endpoints])
		return TETHER_ENOMEM;
	c->n_endpoints++;
	return 0;
}

TETHER_EXPORT int tether_conn_set_option(tether_conn *c, const char *key,
					 const char *value)
{
	if (!c || !key || !*key || !value)
		return TETHER_EINVAL;
	if (started(c))
		return TETHER_ESTATE;
	return tether_params_set(c->opts, key, value, NULL);
}

TETHER_EXPORT int tether_conn_set_policy(tether_conn *c, tether_params *policy)
{
	tether_policy *pol = NULL;
	tether_params *kept;
	int rc;

	if (!c || !policy)
		return TETHER_EINVAL;
	if (c->inited)
		return TETHER_ESTATE;
	rc = tether_policy_new(policy, &pol, tth_conn_errbuf(c), TTH_CONN_ERROR_MAX);
	if (rc != 0)
		return rc;
	kept = tether_params_dup(policy);
	if (!kept) {
		tether_policy_free(pol);
		return TETHER_ENOMEM;
	}
	tether_policy_free(c->policy);
	tether_params_free(c->policy_params);
	c->policy = pol;
	c->policy_params = kept;
	return 0;
}

TETHER_EXPORT int tether_conn_set_timing(tether_conn *c, const char *key,
					 uint64_t ms)
{
	if (!c || !key)
		return TETHER_EINVAL;
	if (c->inited)
		return TETHER_ESTATE;
	if (strcmp(key, "connect_timeout") == 0)
		c->mcfg.connect_timeout_ms = ms;
	else if (strcmp(key, "close_timeout") == 0)
		c->mcfg.close_timeout_ms = ms;
	else if (strcmp(key, "stable_after") == 0)
		c->mcfg.stable_after_ms = ms;
	else if (strcmp(key, "overload_floor") == 0)
		c->mcfg.overload_floor_ms = ms;
	else if (strcmp(key, "failback_after") == 0)
		c->mcfg.failback_after_ms = ms;
	else if (strcmp(key, "probe_interval") == 0)
		c->mcfg.probe_interval_ms = ms;
	else {
		set_error(c,
			  "unknown timing '%s' (expected connect_timeout, "
			  "close_timeout, stable_after, overload_floor, "
			  "failback_after or probe_interval)",
			  key);
		return TETHER_EINVAL;
	}
	return 0;
}

TETHER_EXPORT int tether_conn_set_heartbeat(tether_conn *c,
					    uint64_t interval_ms,
					    uint64_t timeout_ms,
					    uint32_t misses)
{
	if (!c || (interval_ms && (timeout_ms == 0 || misses == 0)))
		return TETHER_EINVAL;
	if (c->inited)
		return TETHER_ESTATE;
	c->hb_interval = interval_ms;
	c->hb_timeout = timeout_ms;
	c->hb_misses = misses;
	return 0;
}

TETHER_EXPORT int tether_conn_classify(tether_conn *c, const char *key,
				       const char *cls)
{
	if (!c || !key || !cls)
		return TETHER_EINVAL;
	if (c->inited)
		return TETHER_ESTATE;
	if (!c->classifier) {
		c->classifier = tether_classifier_new();
		if (!c->classifier)
			return TETHER_ENOMEM;
	}
	return tether_classifier_add_rule(c->classifier, key, cls,
					  tth_conn_errbuf(c),
					  TTH_CONN_ERROR_MAX);
}

static void *transport_ctx(tether_mgr *m, const struct tether_transport_ops *ops,
			   int *rc)
{
	void *ctx = NULL;

	for (size_t i = 0; i < m->ntctx; i++)
		if (m->tctx[i].ops == ops)
			return m->tctx[i].ctx;
	if (m->ntctx == MAX_TRANSPORT_CTX) {
		*rc = TETHER_EFULL;
		return NULL;
	}
	*rc = ops->ctx_new(m, &ctx);
	if (*rc != 0)
		return NULL;
	m->tctx[m->ntctx].ops = ops;
	m->tctx[m->ntctx].ctx = ctx;
	m->ntctx++;
	return ctx;
}

/*
 * After the transport read c's options (its result rc): options it did
 * not ask for are errors too; on any error the messages go to c->error.
 */
static int opts_verdict(tether_conn *c, int rc)
{
	char what[128];

	snprintf(what, sizeof(what), "transport '%s'", c->tops->name);
	if (tth_params_check_unknown(c->opts, what) != 0 && rc == 0)
		rc = TETHER_ECONFIG;
	if (rc != 0) {
		const char *e = tether_params_errors(c->opts);
		snprintf(tth_conn_errbuf(c), TTH_CONN_ERROR_MAX, "%s",
			 e ? e : tether_strerror(rc));
	}
	return rc;
}

/*
 * Create c's transport link from its options (the transport context on
 * first use), reporting unknown options; the message goes to c->error.
 * *link is left NULL on failure.
 */
static int make_link(tether_conn *c, void **link)
{
	tether_mgr *m = c->mgr;
	void *ctx;
	int rc = 0;

	*link = NULL;
	pthread_mutex_lock(&m->lock);
	ctx = transport_ctx(m, c->tops, &rc);
	if (ctx) {
		tth_params_reset_usage(c->opts);
		rc = opts_verdict(c, c->tops->link_new(ctx, c, c->opts, link));
		if (rc != 0) {
			if (*link)
				c->tops->link_free(*link);
			*link = NULL;
		}
	} else {
		snprintf(tth_conn_errbuf(c), TTH_CONN_ERROR_MAX,
			 "transport '%s' could not start: %s", c->tops->name,
			 tether_strerror(rc));
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* First start: the transport link and the machine. */
int tth_conn_prepare(tether_conn *c)
{
	tether_mgr *m = c->mgr;
	int rc = 0;

	if (c->n_endpoints == 0) {
		set_error(c, "no endpoint%s", NULL);
		return TETHER_EINVAL;
	}
	if (!c->policy) {
		tether_params *def = tether_params_new(NULL);
		if (!def || tether_params_set(def, "type", "exponential",
					      NULL) != 0) {
			tether_params_free(def);
			return TETHER_ENOMEM;
		}
		rc = tether_policy_new(def, &c->policy, tth_conn_errbuf(c),
				       TTH_CONN_ERROR_MAX);
		tether_params_free(def);
		if (rc != 0)
			return rc;
	}
	rc = tth_outbox_open_spool(c);
	if (rc != 0)
		return rc;
	rc = make_link(c, &c->link);
	if (rc != 0)
		return rc;
	tth_econn_init(&m->eng, &c->ec, &c->mcfg, c->policy, c->classifier,
		       c->n_endpoints, m->seed + (uint64_t)(uintptr_t)c, c);
	tth_conn_coordinate(c); /* coordinated recovery: endpoint keys */
	c->needs_network = needs_network(c);
	/* The loop has not seen this machine yet: set its link state
	   directly (link_tracking/usable are read racily here; a change in
	   between is delivered to the machine by the next poll anyway). */
	if (c->needs_network && m->link_tracking && !m->link_usable)
		c->ec.m.link_down = 1;
	c->inited = 1;
	return 0;
}

static int post_cmd(tether_conn *c, enum post_type t)
{
	struct tth_post *p = post_new(t, c, 0);
	if (!p)
		return TETHER_ENOMEM;
	post(c->mgr, p);
	return 0;
}

TETHER_EXPORT int tether_conn_start(tether_conn *c)
{
	int rc;

	if (!c)
		return TETHER_EINVAL;
	if (!c->inited) {
		rc = tth_conn_prepare(c);
		if (rc != 0)
			return rc;
	}
	return post_cmd(c, C_START);
}

TETHER_EXPORT int tether_conn_stop(tether_conn *c)
{
	if (!c)
		return TETHER_EINVAL;
	if (!c->inited)
		return 0;
	return post_cmd(c, C_STOP);
}

TETHER_EXPORT void tether_queue_cfg_defaults(struct tether_queue_cfg *q)
{
	if (!q)
		return;
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->max_messages = 10000;
	q->max_bytes = 8u << 20;
	q->overflow = TETHER_OVERFLOW_DROP_OLDEST;
	q->fsync = TETHER_FSYNC_ALWAYS;
	q->fsync_interval_ms = 1000;
	q->spool_max_bytes = 64u << 20;
}

TETHER_EXPORT int tether_conn_set_queue(tether_conn *c,
					const struct tether_queue_cfg *q)
{
	struct tether_queue_cfg n;
	struct tth_qout out;
	char *dir = NULL;

	if (!c || !q || q->size < sizeof(n) || q->max_messages == 0 ||
	    q->max_bytes == 0 || (unsigned)q->overflow > TETHER_OVERFLOW_REJECT ||
	    (unsigned)q->fsync > TETHER_FSYNC_NEVER ||
	    (q->spool_dir && (!*q->spool_dir || q->spool_max_bytes == 0)) ||
	    (q->fsync == TETHER_FSYNC_INTERVAL && !q->fsync_interval_ms))
		return TETHER_EINVAL;
	n = *q;
	n.size = sizeof(n);
	if (c->inited) {
		/* the spool is opened at the first start and stays */
		if (!!n.spool_dir != !!c->spool_dir ||
		    (n.spool_dir && strcmp(n.spool_dir, c->spool_dir) != 0))
			return TETHER_ESTATE;
		return tth_post_queue_cfg(c, &n);
	}
	if (n.spool_dir) {
		dir = strdup(n.spool_dir);
		if (!dir)
			return TETHER_ENOMEM;
	}
	free(c->spool_dir);
	c->spool_dir = dir;
	n.spool_dir = dir;
	c->qcfg = n;
	tth_qout_init(&out);
	tth_outbox_set_limits(c, &c->qcfg, &out);
	if (out.n)
		tth_conn_post_dropped(c, &out);
	return 0;
}

TETHER_EXPORT int tether_conn_set_resume_cb(tether_conn *c, tether_resume_cb cb,
					    void *userdata)
{
	if (!c)
		return TETHER_EINVAL;
	c->resume_cb = cb;
	c->resume_ud = userdata;
	return 0;
}

TETHER_EXPORT int tether_conn_subscribe(tether_conn *c, const char *topic,
					int qos)
{
	struct tth_post *p;

	if (!c || !topic || !*topic || qos < 0 || qos > 2)
		return TETHER_EINVAL;
	if (!c->tops->subscribe)
		return TETHER_ENOTSUP;
	p = post_new(C_SUBSCRIBE, c, 0);
	if (!p)
		return TETHER_ENOMEM;
	p->topic = strdup(topic);
	if (!p->topic) {
		post_free(p);
		return TETHER_ENOMEM;
	}
	p->flag = qos;
	post(c->mgr, p);
	return 0;
}

TETHER_EXPORT enum tether_state tether_conn_state(const tether_conn *c)
{
	return c ? (enum tether_state)atomic_load(&c->state)
		 : TETHER_STATE_CLOSED;
}

TETHER_EXPORT const char *tether_conn_name(const tether_conn *c)
{
	return c ? c->name : NULL;
}

TETHER_EXPORT const char *tether_conn_error(const tether_conn *c)
{
	if (!c || !c->error)
		return "";
	return c->error;
}

TETHER_EXPORT void tether_conn_set_userdata(tether_conn *c, void *userdata)
{
	if (c)
		c->userdata = userdata;
}

TETHER_EXPORT void *tether_conn_get_userdata(const tether_conn *c)
{
	return c ? c->userdata : NULL;
}

TETHER_EXPORT int tether_conn_check(tether_conn *c)
{
	void *link = NULL;
	int rc;

	if (!c)
		return TETHER_EINVAL;
	if (started(c))
		return TETHER_ESTATE;
	if (c->error)
		c->error[0] = '\0';
	if (!c->tops->check) {
		/* what tether_conn_start does, minus connecting */
		rc = make_link(c, &link);
		if (link)
			c->tops->link_free(link);
		return rc;
	}
	/* the transport checks without a context: nothing starts */
	tth_params_reset_usage(c->opts);
	return opts_verdict(c, c->tops->check(c, c->opts));
}

TETHER_EXPORT tether_conn *tether_conn_find(tether_mgr *m, const char *name)
{
	tether_conn *c = NULL;

	if (!m || !name)
		return NULL;
	pthread_mutex_lock(&m->lock);
	for (c = m->conns; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			break;
	pthread_mutex_unlock(&m->lock);
	return c;
}

/* ------------------------------------------------------------ metrics */

int tth_mgr_conns(tether_mgr *m, tether_conn ***out, size_t *n)
{
	tether_conn **v = NULL, *c;
	size_t i;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&m->lock);
	if (m->nconns) {
		v = malloc(m->nconns * sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&m->lock);
			return -1;
		}
		/* the list is newest first */
		i = m->nconns;
		for (c = m->conns; c && i > 0; c = c->next)
			v[--i] = c;
		*n = m->nconns;
	}
	pthread_mutex_unlock(&m->lock);
	*out = v;
	return 0;
}

uint64_t tth_mgr_limiter_waits(tether_mgr *m)
{
	return atomic_load(&m->met_limiter_waits);
}
