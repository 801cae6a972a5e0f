/*
 * The engine's I/O for a manager's connections: the machine's actions
 * (connect, abort, close, redirect) go to the connection's transport, its
 * events to the heartbeat, the outbox, the metrics and the user's
 * callback. Loop thread.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox-int.h"
#include "mgr-int.h"
#include "util-int.h"

/* ------------------------------------------------------------ callbacks */

static tether_conn *conn_of(struct tth_econn *ec)
{
	return TTH_CONTAINER_OF(ec, tether_conn, ec);
}

void tth_user_event(tether_conn *c, const struct tether_event *ev)
{
	tether_mgr *m = c->mgr;

	if (m->cb)
		m->cb(c, ev, m->cb_ud);
}

void tth_event_init(tether_conn *c, enum tether_event_type t,
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
	tth_event_init(c, TETHER_EV_SENT, &ev);
	ev.msg_id = id;
	ev.error = err;
	tth_user_event(c, &ev);
}


/* ------------------------------------------------------- engine io */

/* Tell the engine, through the queue (it must not be fed from inside
 * its own action), that attempt id could not start: err TETHER_EINVAL
 * for a URI the transport refused, TETHER_ECONFIG for options it
 * refused (the message in c->error), else an I/O error. */
static void connect_failed(tether_mgr *m, tether_conn *c, uint32_t id, int err)
{
	struct tth_post *p = tth_post_new(TTH_POST_BAD_ENDPOINT, c, id);

	if (p) {
		p->u.bad_endpoint.err = err;
		tth_post(m, p);
	}
}

/* Options changed since the link was made (on a CLOSED connection, or
 * by the pre-connect hook): make it anew before connecting. */
static int fresh_link(tether_conn *c)
{
	void *link = NULL;
	int rc;

	if (!atomic_exchange(&c->opts_dirty, 0))
		return 0;
	rc = tth_conn_make_link(c, &link);
	if (rc != 0)
		return rc == TETHER_ENOMEM ? rc : TETHER_ECONFIG;
	c->tops->link_free(c->link);
	c->link = link;
	return 0;
}

static void connect_now(tether_mgr *m, tether_conn *c, uint32_t endpoint,
			uint32_t id)
{
	const char *uri = endpoint == TTH_EP_REDIRECT ? c->redirect_uri
			  : endpoint < c->set.n_endpoints ? c->set.endpoints[endpoint]
						      : NULL;
	int rc = fresh_link(c);

	if (rc == 0)
		rc = uri ? c->tops->connect(c->link, id, uri) : TETHER_EINVAL;
	if (rc != 0)
		connect_failed(m, c, id, rc);
}

/* The pre-connect hook for attempt id; whether it holds the attempt. */
static int preconnect_holds(tether_conn *c, uint32_t endpoint, uint32_t id,
			    int resumed)
{
	struct tether_preconnect pc = {
	    .size = sizeof(pc),
	    .attempt = c->ec.m.rounds,
	    .endpoint = endpoint == TTH_EP_REDIRECT ? UINT32_MAX : endpoint,
	    .uri = endpoint == TTH_EP_REDIRECT ? c->redirect_uri
		   : endpoint < c->set.n_endpoints ? c->set.endpoints[endpoint]
						   : NULL,
	    .resumed = resumed};
	enum tether_preconnect_verdict v;

	c->in_pre_cb = 1;
	v = c->pre_cb(c, &pc, c->pre_ud);
	c->in_pre_cb = 0;
	if (v != TETHER_PRECONNECT_WAIT)
		return 0;
	c->pre_wait_id = id;
	c->pre_wait_ep = endpoint;
	if (!resumed)
		c->pre_wait_since = c->mgr->eng.now_ms;
	return 1;
}

static void io_connect(void *ud, struct tth_econn *ec, uint32_t endpoint,
		       uint32_t id)
{
	tether_mgr *m = ud;
	tether_conn *c = conn_of(ec);

	c->pre_wait_id = 0;
	if (c->pre_cb && preconnect_holds(c, endpoint, id, 0))
		return;
	connect_now(m, c, endpoint, id);
}

/* tether_conn_preconnect_resume(), on the loop: the held attempt, if it
 * is still the current one, asks the hook again. */
void tth_conn_preconnect_resume(tether_conn *c)
{
	uint32_t id = c->pre_wait_id;

	if (!id || !c->inited || id != c->ec.m.attempt_id ||
	    c->ec.m.state != TETHER_STATE_CONNECTING)
		return;
	c->pre_wait_id = 0;
	if (c->pre_cb && preconnect_holds(c, c->pre_wait_ep, id, 1))
		return;
	connect_now(c->mgr, c, c->pre_wait_ep, id);
}

static void io_abort(void *ud, struct tth_econn *ec, uint32_t id)
{
	tether_conn *c = conn_of(ec);
	(void)ud;
	if (c->pre_wait_id && c->pre_wait_id == id) {
		c->pre_wait_id = 0;
		/* held for connect_timeout: the machine gave up waiting */
		if (c->mgr->eng.now_ms - c->pre_wait_since + 1 >=
		    c->set.mcfg.connect_timeout_ms)
			tth_conn_event(c, TETHER_EV_WARNING,
				       "the pre-connect hook held the attempt "
				       "and did not resume it within "
				       "connect_timeout");
	}
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

/* A subscription or an unsubscribe the link did not send. */
static void sub_not_sent(tether_conn *c, const char *topic, int err,
			 const char *what)
{
	struct tth_post *p;
	struct tether_reason r = {.kind = TETHER_KIND_LOCAL,
				  .code = TETHER_LOCAL_PROTOCOL,
				  .transport = c->tops->name};
	char text[160];

	if (err == TETHER_ECLOSED)
		return; /* the link is going: made again at the next up */
	snprintf(text, sizeof(text), "%s not sent: %s", what,
		 err == TETHER_ENOTSUP
		     ? "the link cannot carry it (subscription options need "
		       "MQTT 5)"
		     : tether_strerror(err));
	r.text = text;
	/* an event from inside the engine's calls: through the mailbox */
	p = tth_post_new(TTH_POST_SUB_FAILED, c, c->online_attempt);
	if (!p)
		return;
	p->u.end.topic = strdup(topic);
	if (!p->u.end.topic || tth_post_set_reason(p, &r, 1) != 0) {
		tth_post_free(p);
		return;
	}
	tth_post(c->mgr, p);
}

void tth_conn_sub_apply(tether_conn *c, const struct tth_sub *sub)
{
	struct tether_subscription view;
	int rc;

	if (!sub)
		return;
	if (c->tops->abi >= 3 && c->tops->subscribe_opts) {
		tth_sub_view(sub, &view);
		rc = c->tops->subscribe_opts(c->link, c->online_attempt, &view);
	} else if (!c->tops->subscribe) {
		return;
	} else if (tth_sub_has_options(sub)) {
		rc = TETHER_ENOTSUP;
	} else {
		rc = c->tops->subscribe(c->link, c->online_attempt, sub->topic,
					sub->qos);
	}
	if (rc != 0)
		sub_not_sent(c, sub->topic, rc, "SUBSCRIBE");
}

void tth_conn_unsub_forget(tether_conn *c, const char *topic)
{
	for (size_t i = 0; i < c->n_unsub_pending; i++)
		if (strcmp(c->unsub_pending[i], topic) == 0) {
			free(c->unsub_pending[i]);
			c->unsub_pending[i] =
			    c->unsub_pending[--c->n_unsub_pending];
			return;
		}
}

void tth_conn_unsub_clear(tether_conn *c)
{
	for (size_t i = 0; i < c->n_unsub_pending; i++)
		free(c->unsub_pending[i]);
	free(c->unsub_pending);
	c->unsub_pending = NULL;
	c->n_unsub_pending = 0;
}

static void unsub_remember(tether_conn *c, const char *topic)
{
	char **v, *t;

	tth_conn_unsub_forget(c, topic);
	if (c->n_unsub_pending >= TTH_UNSUB_PENDING_MAX) {
		tth_conn_event(c, TETHER_EV_WARNING,
			       "too many unsubscribes while offline: one "
			       "not sent");
		return;
	}
	v = realloc(c->unsub_pending,
		    (c->n_unsub_pending + 1) * sizeof(*v));
	if (!v)
		return;
	c->unsub_pending = v;
	t = strdup(topic);
	if (t)
		v[c->n_unsub_pending++] = t;
}

void tth_conn_unsub_apply(tether_conn *c, const char *topic)
{
	int rc;

	if (c->tops->abi < 3 || !c->tops->unsubscribe)
		return;
	if (!c->inited || c->ec.m.state != TETHER_STATE_ONLINE) {
		/* a kept session still holds it: say it at the next up */
		unsub_remember(c, topic);
		return;
	}
	rc = c->tops->unsubscribe(c->link, c->online_attempt, topic);
	if (rc != 0)
		sub_not_sent(c, topic, rc, "UNSUBSCRIBE");
}

static void apply_subscriptions(tether_conn *c)
{
	for (size_t i = 0; i < c->set.nsubs; i++)
		tth_conn_sub_apply(c, &c->set.subs[i]);
}

/* Up: unsubscribes from while we were away go out when the broker kept
   the session (a new session has none of them). */
static void apply_unsubscribes(tether_conn *c)
{
	size_t n = c->n_unsub_pending;
	char **v = c->unsub_pending;

	c->unsub_pending = NULL;
	c->n_unsub_pending = 0;
	for (size_t i = 0; i < n; i++) {
		if (c->session_present && c->tops->abi >= 3 &&
		    c->tops->unsubscribe) {
			int rc = c->tops->unsubscribe(c->link,
						      c->online_attempt, v[i]);
			if (rc != 0)
				sub_not_sent(c, v[i], rc, "UNSUBSCRIBE");
		}
		free(v[i]);
	}
	free(v);
}

static void io_event(void *ud, struct tth_econn *ec,
		     const struct tether_event *ev)
{
	tether_conn *c = conn_of(ec);

	(void)ud;
	tth_metrics_event(c, ev); /* metrics */
	if (ev->type == TETHER_EV_STATE) {
		int link_end, closed;

		atomic_store(&c->state, (int)ev->state);
		if (ev->old_state == TETHER_STATE_ONLINE)
			tth_hb_stop(c);
		if (ev->state == TETHER_STATE_CLOSED && c->replace_with) {
			/* through the queue: the engine is mid-step here */
			tth_post_cmd(c, TTH_POST_REPLACE_NOW);
		}
		if (ev->state == TETHER_STATE_CLOSED && c->remove_pending)
			tth_post_cmd(c, TTH_POST_REMOVE_NOW);
		/* An orderly close may still deliver; any other end of the
		   link, or the end of the close, puts back what the
		   transport did not report; CLOSED for good drops the rest. */
		link_end = (ev->old_state == TETHER_STATE_ONLINE ||
			    ev->old_state == TETHER_STATE_CLOSING) &&
			   ev->state != TETHER_STATE_CLOSING;
		closed = ev->state == TETHER_STATE_CLOSED && !c->replace_with;
		tth_user_event(c, ev);
		if (link_end || closed)
			tth_outbox_link_end(c, closed);
		return;
	}
	if (ev->type == TETHER_EV_UP) {
		struct tether_event up = *ev;

		c->online_attempt = c->ec.m.attempt_id;
		tth_hb_start(c);
		apply_unsubscribes(c);
		if (!c->session_present)
			apply_subscriptions(c);
		up.session_present = c->session_present;
		tth_user_event(c, &up);
		tth_outbox_up(c);
		return;
	}
	tth_user_event(c, ev);
}

const struct tth_engine_io tth_mgr_io = {
	.connect = io_connect,
	.abort = io_abort,
	.close = io_close,
	.redirect = io_redirect,
	.event = io_event,
};


void tth_conn_event(tether_conn *c, enum tether_event_type t,
		    const char *detail)
{
	struct tether_event ev;
	tth_event_init(c, t, &ev);
	ev.detail = detail;
	tth_user_event(c, &ev);
}

