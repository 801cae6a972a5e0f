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

static void io_connect(void *ud, struct tth_econn *ec, uint32_t endpoint,
		       uint32_t id)
{
	tether_mgr *m = ud;
	tether_conn *c = conn_of(ec);
	const char *uri = endpoint == TTH_EP_REDIRECT ? c->redirect_uri
			  : endpoint < c->set.n_endpoints ? c->set.endpoints[endpoint]
						      : NULL;
	int rc = uri ? c->tops->connect(c->link, id, uri) : TETHER_EINVAL;

	if (rc != 0) {
		/* Reported through the queue: the engine must not be fed
		   from inside its own action. */
		struct tth_post *p =
		    tth_post_new(TTH_POST_BAD_ENDPOINT, c, id);
		if (p) {
			p->u.bad_endpoint.err = rc;
			tth_post(m, p);
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

