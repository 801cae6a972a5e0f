/*
 * Reload, the loop thread's side: a connection is handed a new settings
 * value (settings-int.h). What does not touch the link (policy, timings,
 * heartbeat, classification, queue bounds, subscriptions) is applied at
 * once; when what the link is made of changed (transport, endpoints,
 * transport options, coordination), the value waits until the connection
 * reached CLOSED, which then starts again with it. The caller's side
 * (loading the file, deciding what changed) is core/config/reload.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr-int.h"
#include "params-int.h"
#include "reason-int.h"

#define SWAP(x, y)                                                             \
	do {                                                                   \
		__typeof__(x) t_ = (x);                                        \
		(x) = (y);                                                     \
		(y) = t_;                                                      \
	} while (0)

/* Take what can change without touching the link from s (s keeps c's
 * old values, to be freed); whether anything changed. */
static int swap_live(tether_conn *c, struct tth_conn_settings *s)
{
	int changed = 0, online = c->inited &&
				  c->ec.m.state == TETHER_STATE_ONLINE;

	if (!tth_params_equal(c->set.policy_params, s->policy_params)) {
		tether_policy *pol = NULL;

		SWAP(c->set.policy_params, s->policy_params);
		/* checked at load: only memory can fail here */
		if (tth_conn_make_policy(c, &pol) == 0) {
			tether_policy_free(c->policy);
			c->policy = pol;
		}
		changed = 1;
	}
	if (memcmp(&c->set.mcfg, &s->mcfg, sizeof(c->set.mcfg)) != 0) {
		c->set.mcfg = s->mcfg;
		changed = 1;
	}
	if (!tth_classifier_equal(c->set.classifier, s->classifier)) {
		SWAP(c->set.classifier, s->classifier);
		changed = 1;
	}
	if (c->inited) {
		/* the machine borrows these */
		if (c->policy)
			c->ec.m.policy = c->policy;
		c->ec.m.classifier = c->set.classifier;
	}
	if (c->set.hb_interval != s->hb_interval ||
	    c->set.hb_timeout != s->hb_timeout ||
	    c->set.hb_misses != s->hb_misses) {
		c->set.hb_interval = s->hb_interval;
		c->set.hb_timeout = s->hb_timeout;
		c->set.hb_misses = s->hb_misses;
		if (online) {
			tth_hb_stop(c);
			tth_hb_start(c);
		}
		changed = 1;
	}
	if (c->set.in_max_messages != s->in_max_messages ||
	    c->set.in_max_bytes != s->in_max_bytes) {
		c->set.in_max_messages = s->in_max_messages;
		c->set.in_max_bytes = s->in_max_bytes;
		tth_inbound_apply(c);
		changed = 1;
	}
	if (tth_settings_queue_differs(&c->set.qcfg, &s->qcfg)) {
		struct tether_queue_cfg q = s->qcfg;

		q.spool_dir = NULL;
		tth_queue_cfg_live(c, &q);
		changed = 1;
	}
	/* subscriptions: new and changed ones are made now, dropped ones
	   unsubscribed (now when online, else at the next up with a kept
	   session) */
	if (c->set.nsubs != s->nsubs)
		changed = 1;
	for (size_t i = 0; i < c->set.nsubs; i++) {
		if (tth_settings_find_sub(s, c->set.subs[i].topic))
			continue;
		changed = 1;
		tth_conn_unsub_apply(c, c->set.subs[i].topic);
	}
	for (size_t i = 0; i < s->nsubs; i++) {
		if (tth_settings_has_sub(&c->set, &s->subs[i]))
			continue;
		changed = 1;
		tth_conn_unsub_forget(c, s->subs[i].topic);
		if (online)
			tth_conn_sub_apply(c, &s->subs[i]);
	}
	SWAP(c->set.subs, s->subs);
	SWAP(c->set.nsubs, s->nsubs);
	return changed;
}

/* c is CLOSED or was never started: take s and start. */
static void replace_now(tether_conn *c, struct tth_conn_settings *s)
{
	tether_mgr *m = c->mgr;

	c->replace_with = NULL;
	if (c->inited) {
		tth_econn_detach(&m->eng, &c->ec);
		c->inited = 0;
	}
	if (c->link) {
		c->tops->link_free(c->link);
		c->link = NULL;
	}
	swap_live(c, s);
	/* under the queue lock: tether_conn_send reads both (check_props) */
	pthread_mutex_lock(&c->out.qmu);
	SWAP(c->set.tops, s->tops);
	c->tops = c->set.tops;
	SWAP(c->set.opts, s->opts);
	pthread_mutex_unlock(&c->out.qmu);
	SWAP(c->set.endpoints, s->endpoints);
	SWAP(c->set.n_endpoints, s->n_endpoints);
	SWAP(c->set.uncoordinated, s->uncoordinated);
	free(c->redirect_uri);
	c->redirect_uri = NULL;
	tth_settings_free(s);
	tth_conn_event(c, TETHER_EV_RELOAD, "restart");
	if (tether_conn_start(c) != 0)
		tth_conn_event(c, TETHER_EV_RELOAD, tether_conn_error(c));
}

void tth_reload_replace(tether_conn *c, struct tth_conn_settings *s)
{
	enum tether_state st =
		c->inited ? c->ec.m.state : TETHER_STATE_IDLE;

	if (tth_settings_same_link(&c->set, s)) {
		if (swap_live(c, s))
			tth_conn_event(c, TETHER_EV_RELOAD, "live");
		tth_settings_free(s);
		return;
	}
	tth_settings_free(c->replace_with);
	c->replace_with = s;
	if (st == TETHER_STATE_IDLE || st == TETHER_STATE_CLOSED) {
		replace_now(c, s);
		return;
	}
	tth_engine_stop(&c->mgr->eng, &c->ec); /* CLOSED brings us back */
}

void tth_reload_closed(tether_conn *c)
{
	if (c->replace_with && c->inited &&
	    c->ec.m.state == TETHER_STATE_CLOSED)
		replace_now(c, c->replace_with);
}
