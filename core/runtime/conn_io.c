/*
 * The engine's I/O for a manager's connections: the machine's actions
 * (connect, abort, close, redirect) go to the connection's transport, its
 * events to the heartbeat, the outbox, the metrics and the user's
 * callback. Loop thread.
 */
#include "config.h"

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

static void apply_subscriptions(tether_conn *c)
{
	if (!c->tops->subscribe)
		return;
	for (size_t i = 0; i < c->set.nsubs; i++)
		c->tops->subscribe(c->link, c->online_attempt, c->set.subs[i].topic,
				   c->set.subs[i].qos);
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

