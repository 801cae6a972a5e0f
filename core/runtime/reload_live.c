/*
 * Reload, the loop thread's side: a connection takes new settings live
 * (policy, timings, heartbeat, classification, queue bounds,
 * subscriptions) or, when its link settings changed, by a restart once it
 * reached CLOSED. The caller's side (loading the file, deciding what
 * changed) is core/config/reload.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr-int.h"
#include "params-int.h"
#include "reason-int.h"

/* ------------------------------------------------- loop thread side */

/* Whether a and b would make the same link. */
static int same_link(const tether_conn *a, const tether_conn *b)
{
	if (a->tops != b->tops || a->set.n_endpoints != b->set.n_endpoints ||
	    a->set.uncoordinated != b->set.uncoordinated)
		return 0; /* coordination's keys are set at the first start */
	for (uint32_t i = 0; i < a->set.n_endpoints; i++)
		if (strcmp(a->set.endpoints[i], b->set.endpoints[i]) != 0)
			return 0;
	return tth_params_equal(a->set.opts, b->set.opts);
}

#define SWAP(x, y)                                                             \
	do {                                                                   \
		__typeof__(x) t_ = (x);                                        \
		(x) = (y);                                                     \
		(y) = t_;                                                      \
	} while (0)

static int has_sub(const tether_conn *c, const struct tth_sub *sub)
{
	for (size_t i = 0; i < c->set.nsubs; i++)
		if (strcmp(c->set.subs[i].topic, sub->topic) == 0 &&
		    c->set.subs[i].qos == sub->qos)
			return 1;
	return 0;
}

/* Swap what can change without touching the link; whether anything did. */
static int swap_live(tether_conn *c, tether_conn *s)
{
	int changed = 0, online = c->inited &&
				  c->ec.m.state == TETHER_STATE_ONLINE;

	if (!tth_params_equal(c->set.policy_params, s->set.policy_params)) {
		SWAP(c->set.policy, s->set.policy);
		SWAP(c->set.policy_params, s->set.policy_params);
		changed = 1;
	}
	if (memcmp(&c->set.mcfg, &s->set.mcfg, sizeof(c->set.mcfg)) != 0) {
		c->set.mcfg = s->set.mcfg;
		changed = 1;
	}
	if (!tth_classifier_equal(c->set.classifier, s->set.classifier)) {
		SWAP(c->set.classifier, s->set.classifier);
		changed = 1;
	}
	if (c->inited) {
		/* the machine borrows these */
		if (c->set.policy)
			c->ec.m.policy = c->set.policy;
		c->ec.m.classifier = c->set.classifier;
	}
	if (c->set.hb_interval != s->set.hb_interval || c->set.hb_timeout != s->set.hb_timeout ||
	    c->set.hb_misses != s->set.hb_misses) {
		c->set.hb_interval = s->set.hb_interval;
		c->set.hb_timeout = s->set.hb_timeout;
		c->set.hb_misses = s->set.hb_misses;
		if (online) {
			tth_hb_stop(c);
			tth_hb_start(c);
		}
		changed = 1;
	}
	if (c->set.qcfg.max_messages != s->set.qcfg.max_messages ||
	    c->set.qcfg.max_bytes != s->set.qcfg.max_bytes ||
	    c->set.qcfg.overflow != s->set.qcfg.overflow ||
	    c->set.qcfg.ttl_ms != s->set.qcfg.ttl_ms ||
	    c->set.qcfg.fsync != s->set.qcfg.fsync ||
	    c->set.qcfg.fsync_interval_ms != s->set.qcfg.fsync_interval_ms ||
	    c->set.qcfg.spool_max_bytes != s->set.qcfg.spool_max_bytes) {
		tth_queue_cfg_live(c, &s->set.qcfg);
		changed = 1;
	}
	/* subscriptions: new ones are made now; dropped ones are no longer
	   made after a reconnect (there is no unsubscribe) */
	if (c->set.nsubs != s->set.nsubs)
		changed = 1;
	for (size_t i = 0; i < s->set.nsubs; i++) {
		if (has_sub(c, &s->set.subs[i]))
			continue;
		changed = 1;
		if (online && c->tops->subscribe)
			c->tops->subscribe(c->link, c->online_attempt,
					   s->set.subs[i].topic, s->set.subs[i].qos);
	}
	SWAP(c->set.subs, s->set.subs);
	SWAP(c->set.nsubs, s->set.nsubs);
	return changed;
}

void tth_reload_live(tether_conn *c, tether_conn *s)
{
	int was_removed = c->removed;

	if (swap_live(c, s))
		tth_conn_event(c, TETHER_EV_RELOAD, "live");
	tth_conn_free(s);
	if (was_removed) {
		/* named again after a reload dropped it */
		c->removed = 0;
		tth_conn_event(c, TETHER_EV_RELOAD, "added");
		if (tether_conn_start(c) != 0)
			tth_conn_event(c, TETHER_EV_RELOAD, "start failed");
	}
}

/* c is CLOSED or was never started: take s's settings and start. */
static void replace_now(tether_conn *c, tether_conn *s)
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
	SWAP(c->tops, s->tops);
	SWAP(c->set.endpoints, s->set.endpoints);
	SWAP(c->set.n_endpoints, s->set.n_endpoints);
	SWAP(c->set.opts, s->set.opts);
	SWAP(c->set.uncoordinated, s->set.uncoordinated);
	free(c->redirect_uri);
	c->redirect_uri = NULL;
	tth_conn_free(s);
	c->removed = 0;
	tth_conn_event(c, TETHER_EV_RELOAD, "restart");
	if (tether_conn_start(c) != 0)
		tth_conn_event(c, TETHER_EV_RELOAD, tether_conn_error(c));
}

void tth_reload_replace(tether_conn *c, tether_conn *s)
{
	enum tether_state st =
		c->inited ? c->ec.m.state : TETHER_STATE_IDLE;

	if (same_link(c, s)) {
		tth_reload_live(c, s);
		return;
	}
	if (c->replace_with)
		tth_conn_free(c->replace_with);
	c->replace_with = s;
	if (st == TETHER_STATE_IDLE || st == TETHER_STATE_CLOSED) {
		replace_now(c, s);
		return;
	}
	tth_engine_stop(&c->mgr->eng, &c->ec); /* CLOSED brings us back */
}

void tth_reload_drop(tether_conn *c)
{
	if (c->removed)
		return;
	c->removed = 1;
	tth_conn_event(c, TETHER_EV_RELOAD, "removed");
	if (c->inited)
		tth_engine_stop(&c->mgr->eng, &c->ec);
}

void tth_reload_closed(tether_conn *c)
{
	if (c->replace_with && c->inited &&
	    c->ec.m.state == TETHER_STATE_CLOSED)
		replace_now(c, c->replace_with);
}

