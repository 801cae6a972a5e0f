/*
 * The mailbox (mailbox-int.h): posts in, one handler per kind out. Posts
 * come from any thread; the handlers run on the loop thread, from
 * loop_work (core/runtime/loop.c), which also decides how a post wakes the loop.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox-int.h"
#include "mgr-int.h"
#include "props-int.h"

#define MAILBOX_ROUNDS 64 /* drains per pass, against starvation */

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

struct tth_post *tth_post_new(enum tth_post_kind k, tether_conn *c,
			      uint32_t attempt)
{
	struct tth_post *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->kind = k;
	p->conn = c;
	p->attempt = attempt;
	return p;
}

void tth_post_free(struct tth_post *p)
{
	switch (p->kind) {
	case TTH_POST_FAIL:
	case TTH_POST_DOWN:
	case TTH_POST_SUB_FAILED:
		free(p->u.end.topic);
		free(p->u.end.text);
		free(p->u.end.ref);
		free(p->u.end.transport);
		break;
	case TTH_POST_MESSAGE:
		free(p->u.message.topic);
		free(p->u.message.payload);
		free(p->u.message.props);
		break;
	case TTH_POST_SUBSCRIBE:
	case TTH_POST_UNSUBSCRIBE:
		free(p->u.subscribe.topic);
		break;
	case TTH_POST_SETTINGS:
		tth_settings_free(p->u.settings);
		break;
	case TTH_POST_DROPPED:
		tth_qout_free_all(&p->u.dropped);
		break;
	default:
		break;
	}
	free(p);
}

int tth_post_set_reason(struct tth_post *p, const struct tether_reason *r,
			int with_hint)
{
	struct tether_reason *d = &p->u.end.reason;
	int oom = 0;

	if (!r)
		return 0;
	p->u.end.has_reason = 1;
	/* field by field: a transport built for an older ABI hands a smaller
	   struct, which ends before retry_after_ms */
	memset(d, 0, sizeof(*d));
	d->cls = r->cls;
	d->kind = r->kind;
	d->code = r->code;
	d->by_peer = r->by_peer;
	d->retry_after_ms = with_hint ? r->retry_after_ms : 0;
	p->u.end.text = dup_or_null(r->text, &oom);
	p->u.end.ref = dup_or_null(r->server_ref, &oom);
	p->u.end.transport = dup_or_null(r->transport, &oom);
	p->u.end.reason.text = p->u.end.text;
	p->u.end.reason.server_ref = p->u.end.ref;
	p->u.end.reason.transport = p->u.end.transport;
	return oom ? TETHER_ENOMEM : 0;
}

/* The properties and every byte they point at, in one block
 * (core/store/props.c: the queue keeps them the same way). */
static struct tether_property *copy_props(const struct tether_property *v,
					  size_t n)
{
	void *out = malloc(tth_props_copy_size(v, n));

	return out ? tth_props_copy(v, n, out) : NULL;
}

int tth_post_set_message(struct tth_post *p, const struct tether_message *msg)
{
	int oom = 0;

	p->u.message.msg = *msg;
	p->u.message.topic = dup_or_null(msg->topic, &oom);
	p->u.message.msg.topic = p->u.message.topic;
	if (msg->len) {
		p->u.message.payload = malloc(msg->len);
		if (!p->u.message.payload)
			return TETHER_ENOMEM;
		memcpy(p->u.message.payload, msg->payload, msg->len);
	}
	p->u.message.msg.payload = p->u.message.payload;
	p->u.message.msg.props = NULL;
	p->u.message.msg.nprops = 0;
	if (msg->size >= sizeof(*msg) && msg->nprops && msg->props) {
		p->u.message.props = copy_props(msg->props, msg->nprops);
		if (!p->u.message.props)
			return TETHER_ENOMEM;
		p->u.message.msg.props = p->u.message.props;
		p->u.message.msg.nprops = msg->nprops;
	}
	return oom ? TETHER_ENOMEM : 0;
}

void tth_post(tether_mgr *m, struct tth_post *p)
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
	if (was_empty) /* else whoever posted first woke the loop */
		tth_loop_wake(m);
}

int tth_post_cmd(tether_conn *c, enum tth_post_kind k)
{
	struct tth_post *p = tth_post_new(k, c, 0);
	if (!p)
		return TETHER_ENOMEM;
	tth_post(c->mgr, p);
	return 0;
}

/* ------------------------------------------------------------ handlers */

static void on_up(tether_mgr *m, struct tth_post *p)
{
	tether_conn *c = p->conn;

	if (c->inited && p->attempt == c->ec.m.attempt_id)
		c->session_present = p->u.up.session_present;
	tth_engine_up(&m->eng, &c->ec, p->attempt);
}

static const struct tether_reason *reason_of(const struct tth_post *p)
{
	return p->u.end.has_reason ? &p->u.end.reason : NULL;
}

static void on_fail(tether_mgr *m, struct tth_post *p)
{
	tth_engine_fail(&m->eng, &p->conn->ec, p->attempt, reason_of(p));
}

static void on_down(tether_mgr *m, struct tth_post *p)
{
	tth_engine_down(&m->eng, &p->conn->ec, p->attempt, reason_of(p));
}

static void on_closed(tether_mgr *m, struct tth_post *p)
{
	tth_engine_closed(&m->eng, &p->conn->ec, p->attempt);
}

/*
 * From any link, also one that is going or gone (a stop, a reload's
 * restart, a link the runtime declared down), and also when a newer link
 * is up already: the transport has taken the message from the peer (MQTT:
 * PUBACK sent), nobody would send it again. Paho's old client may still
 * hand over what it had read after the new link came up; dropping those
 * lost them (check_zeroloss, subscriber restarts: 325 of 20,000 once).
 */
static void on_message(tether_mgr *m, struct tth_post *p)
{
	tether_conn *c = p->conn;
	struct tether_event ev;

	(void)m;
	tth_event_init(c, TETHER_EV_MESSAGE, &ev);
	ev.message = &p->u.message.msg;
	tth_metrics_message(c, 0,
			    p->u.message.msg.len +
				(p->u.message.msg.topic
				     ? strlen(p->u.message.msg.topic)
				     : 0)); /* metrics */
	tth_user_event(c, &ev);
}

static void on_sent(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_outbox_sent(p->conn, p->attempt, p->u.sent.msg_id, p->u.sent.err);
}

static void on_start(tether_mgr *m, struct tth_post *p)
{
	tth_outbox_warnings(p->conn);
	tth_engine_start(&m->eng, &p->conn->ec);
}

static void on_stop(tether_mgr *m, struct tth_post *p)
{
	tth_engine_stop(&m->eng, &p->conn->ec);
}

static void on_pump(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_outbox_pump(p->conn);
}

static void on_dropped(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_outbox_emit(p->conn, &p->u.dropped);
}

static void on_subscribe(tether_mgr *m, struct tth_post *p)
{
	tether_conn *c = p->conn;
	struct tether_subscription sub;
	const struct tth_sub *kept;

	(void)m;
	tth_sub_view(&p->u.subscribe, &sub);
	if (tth_settings_subscribe(&c->set, &sub) != 0)
		return; /* checked by the API: only memory */
	kept = tth_settings_find_sub(&c->set, sub.topic);
	tth_conn_unsub_forget(c, sub.topic);
	if (c->ec.m.state == TETHER_STATE_ONLINE)
		tth_conn_sub_apply(c, kept);
}

static void on_unsubscribe(tether_mgr *m, struct tth_post *p)
{
	tether_conn *c = p->conn;

	(void)m;
	tth_settings_unsubscribe(&c->set, p->u.subscribe.topic);
	tth_conn_unsub_apply(c, p->u.subscribe.topic);
}

static void on_sub_failed(tether_mgr *m, struct tth_post *p)
{
	struct tether_event ev;

	(void)m;
	tth_event_init(p->conn, TETHER_EV_SUBSCRIBE_FAILED, &ev);
	p->u.end.reason.cls = TETHER_CLASS_NORMAL; /* the link stays */
	ev.reason = p->u.end.has_reason ? &p->u.end.reason : NULL;
	ev.detail = p->u.end.topic;
	tth_user_event(p->conn, &ev);
}

static void on_limits(tether_mgr *m, struct tth_post *p)
{
	tth_engine_set_limits(&m->eng, p->u.limits.rate, p->u.limits.burst,
			      p->u.limits.max_connecting);
}

/* New bounds for a started connection (the spool directory stays). */
void tth_queue_cfg_live(tether_conn *c, const struct tether_queue_cfg *q)
{
	const char *dir = c->set.qcfg.spool_dir;
	struct tth_qout out;

	c->set.qcfg = *q;
	c->set.qcfg.spool_dir = dir;
	tth_qout_init(&out);
	tth_outbox_set_limits(c, &c->set.qcfg, &out);
	tth_outbox_emit(c, &out);
}

static void on_queue_cfg(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_queue_cfg_live(p->conn, &p->u.queue_cfg);
}

static void on_bad_endpoint(tether_mgr *m, struct tth_post *p)
{
	int err = p->u.bad_endpoint.err;
	struct tether_reason r = {.kind = TETHER_KIND_SOCKET,
				  .code = EIO,
				  .text = tether_strerror(err)};

	if (err == TETHER_EINVAL) {
		r.kind = TETHER_KIND_LOCAL;
		r.code = TETHER_LOCAL_BAD_ENDPOINT;
		r.text = "the transport cannot use this URI";
	} else if (err == TETHER_ECONFIG) {
		r.kind = TETHER_KIND_LOCAL;
		r.code = TETHER_LOCAL_BAD_OPTIONS;
		r.text = p->conn->error && *p->conn->error
			     ? p->conn->error
			     : "the transport refused its options";
	}
	tth_engine_fail(&m->eng, &p->conn->ec, p->attempt, &r);
}

static void on_preconnect(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_conn_preconnect_resume(p->conn);
}

static void on_settings(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_reload_replace(p->conn, p->u.settings);
	p->u.settings = NULL;
}

static void on_remove(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_conn_removing(p->conn, p->u.by_reload);
}

static void on_remove_now(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_conn_teardown(p->conn);
}

/* Every post made before this one was handled (or skipped): nothing
   refers to the connection any more. */
static void on_free(tether_mgr *m, struct tth_post *p)
{
	tether_conn **pp;

	pthread_mutex_lock(&m->lock);
	for (pp = &m->removed; *pp && *pp != p->conn; pp = &(*pp)->rnext)
		;
	if (*pp)
		*pp = p->conn->rnext;
	pthread_mutex_unlock(&m->lock);
	tth_conn_free(p->conn);
}

static void on_added(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_conn_event(p->conn, TETHER_EV_RELOAD, "added");
}

static void on_replace_now(tether_mgr *m, struct tth_post *p)
{
	(void)m;
	tth_reload_closed(p->conn);
}

static void (*const handlers[TTH_POST_KINDS])(tether_mgr *,
					       struct tth_post *) = {
    [TTH_POST_UP] = on_up,
    [TTH_POST_FAIL] = on_fail,
    [TTH_POST_DOWN] = on_down,
    [TTH_POST_CLOSED] = on_closed,
    [TTH_POST_MESSAGE] = on_message,
    [TTH_POST_SENT] = on_sent,
    [TTH_POST_START] = on_start,
    [TTH_POST_STOP] = on_stop,
    [TTH_POST_PUMP] = on_pump,
    [TTH_POST_DROPPED] = on_dropped,
    [TTH_POST_SUB_FAILED] = on_sub_failed,
    [TTH_POST_SUBSCRIBE] = on_subscribe,
    [TTH_POST_UNSUBSCRIBE] = on_unsubscribe,
    [TTH_POST_LIMITS] = on_limits,
    [TTH_POST_QUEUE_CFG] = on_queue_cfg,
    [TTH_POST_BAD_ENDPOINT] = on_bad_endpoint,
    [TTH_POST_PRECONNECT] = on_preconnect,
    [TTH_POST_SETTINGS] = on_settings,
    [TTH_POST_REMOVE] = on_remove,
    [TTH_POST_REMOVE_NOW] = on_remove_now,
    [TTH_POST_FREE] = on_free,
    [TTH_POST_ADDED] = on_added,
    [TTH_POST_REPLACE_NOW] = on_replace_now,
};

/* ------------------------------------------------- posts of the runtime */

int tth_post_settings(tether_conn *c, struct tth_conn_settings *s)
{
	struct tth_post *p = tth_post_new(TTH_POST_SETTINGS, c, 0);

	if (!p) {
		tth_settings_free(s);
		return TETHER_ENOMEM;
	}
	p->u.settings = s;
	tth_post(c->mgr, p);
	return 0;
}

int tth_post_added(tether_conn *c)
{
	struct tth_post *p = tth_post_new(TTH_POST_ADDED, c, 0);

	if (!p)
		return TETHER_ENOMEM;
	tth_post(c->mgr, p);
	return 0;
}

int tth_post_queue_cfg(tether_conn *c, const struct tether_queue_cfg *q)
{
	struct tth_post *p = tth_post_new(TTH_POST_QUEUE_CFG, c, 0);
	if (!p)
		return TETHER_ENOMEM;
	p->u.queue_cfg = *q;
	p->u.queue_cfg.spool_dir = NULL;
	tth_post(c->mgr, p);
	return 0;
}

void tth_conn_kick(tether_conn *c)
{
	struct tth_post *p;

	if (atomic_exchange(&c->out.kicked, 1))
		return; /* one is on its way */
	p = tth_post_new(TTH_POST_PUMP, c, 0);
	if (!p) {
		atomic_store(&c->out.kicked, 0); /* the next send tries again */
		return;
	}
	tth_post(c->mgr, p);
}

void tth_conn_post_dropped(tether_conn *c, struct tth_qout *out)
{
	struct tth_post *p = tth_post_new(TTH_POST_DROPPED, c, 0);

	if (!p) {
		/* cannot report them: better late than never is not an
		   option without memory; they are freed silently */
		tth_qout_free_all(out);
		return;
	}
	p->u.dropped = *out;
	tth_qout_init(out);
	tth_post(c->mgr, p);
}

/* --------------------------------------------------------------- drain */

static struct tth_post *take_all(tether_mgr *m)
{
	struct tth_post *list;

	pthread_mutex_lock(&m->qlock);
	list = m->qhead;
	m->qhead = m->qtail = NULL;
	pthread_mutex_unlock(&m->qlock);
	return list;
}

int tth_mailbox_empty(tether_mgr *m)
{
	int empty;
	pthread_mutex_lock(&m->qlock);
	empty = m->qhead == NULL;
	pthread_mutex_unlock(&m->qlock);
	return empty;
}

void tth_mailbox_run(tether_mgr *m)
{
	for (int round = 0; round < MAILBOX_ROUNDS; round++) {
		struct tth_post *list = take_all(m);
		if (!list)
			break;
		while (list) {
			struct tth_post *p = list;
			list = p->next;
			/* a connection torn down hears nothing more */
			if (!p->conn || !p->conn->gone ||
			    p->kind == TTH_POST_FREE)
				handlers[p->kind](m, p);
			tth_post_free(p);
		}
	}
}

void tth_mailbox_clear(tether_mgr *m)
{
	struct tth_post *list = take_all(m);

	while (list) {
		struct tth_post *p = list;
		list = p->next;
		tth_post_free(p);
	}
}
