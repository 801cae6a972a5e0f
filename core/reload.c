/*
 * Live reload (tether.yaml(5)): make a running manager match a configuration.
 *
 * The new configuration is first applied, through the public API, to a
 * scratch manager; its connections are complete, unstarted settings.
 * Each one then either moves into the running manager (a new name), or
 * travels to the loop thread as a detached bundle: swapped into the live
 * connection field by field (policy, timings, heartbeat, classification,
 * subscriptions), or, when what the link is made of changed (transport,
 * endpoints, transport options such as credentials), kept until that
 * connection has closed and then used to start it again.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/config.h>

#include "config-int.h"
#include "mgr-int.h"
#include "params-int.h"
#include "reason-int.h"

/* ------------------------------------------------- loop thread side */

/* Whether a and b would make the same link. */
static int same_link(const tether_conn *a, const tether_conn *b)
{
	if (a->tops != b->tops || a->n_endpoints != b->n_endpoints ||
	    a->uncoordinated != b->uncoordinated)
		return 0; /* coordination's keys are set at the first start */
	for (uint32_t i = 0; i < a->n_endpoints; i++)
		if (strcmp(a->endpoints[i], b->endpoints[i]) != 0)
			return 0;
	return tth_params_equal(a->opts, b->opts);
}

#define SWAP(x, y)                                                             \
	do {                                                                   \
		__typeof__(x) t_ = (x);                                        \
		(x) = (y);                                                     \
		(y) = t_;                                                      \
	} while (0)

static int has_sub(const tether_conn *c, const struct tth_sub *sub)
{
	for (size_t i = 0; i < c->nsubs; i++)
		if (strcmp(c->subs[i].topic, sub->topic) == 0 &&
		    c->subs[i].qos == sub->qos)
			return 1;
	return 0;
}

/* Swap what can change without touching the link; whether anything did. */
static int swap_live(tether_conn *c, tether_conn *s)
{
	int changed = 0, online = c->inited &&
				  c->ec.m.state == TETHER_STATE_ONLINE;

	if (!tth_params_equal(c->policy_params, s->policy_params)) {
		SWAP(c->policy, s->policy);
		SWAP(c->policy_params, s->policy_params);
		changed = 1;
	}
	if (memcmp(&c->mcfg, &s->mcfg, sizeof(c->mcfg)) != 0) {
		c->mcfg = s->mcfg;
		changed = 1;
	}
	if (!tth_classifier_equal(c->classifier, s->classifier)) {
		SWAP(c->classifier, s->classifier);
		changed = 1;
	}
	if (c->inited) {
		/* the machine borrows these */
		if (c->policy)
			c->ec.m.policy = c->policy;
		c->ec.m.classifier = c->classifier;
	}
	if (c->hb_interval != s->hb_interval || c->hb_timeout != s->hb_timeout ||
	    c->hb_misses != s->hb_misses) {
		c->hb_interval = s->hb_interval;
		c->hb_timeout = s->hb_timeout;
		c->hb_misses = s->hb_misses;
		if (online) {
			tth_hb_stop(c);
			tth_hb_start(c);
		}
		changed = 1;
	}
	if (c->qcfg.max_messages != s->qcfg.max_messages ||
	    c->qcfg.max_bytes != s->qcfg.max_bytes ||
	    c->qcfg.overflow != s->qcfg.overflow ||
	    c->qcfg.ttl_ms != s->qcfg.ttl_ms ||
	    c->qcfg.fsync != s->qcfg.fsync ||
	    c->qcfg.fsync_interval_ms != s->qcfg.fsync_interval_ms ||
	    c->qcfg.spool_max_bytes != s->qcfg.spool_max_bytes) {
		tth_queue_cfg_live(c, &s->qcfg);
		changed = 1;
	}
	/* subscriptions: new ones are made now; dropped ones are no longer
	   made after a reconnect (there is no unsubscribe) */
	if (c->nsubs != s->nsubs)
		changed = 1;
	for (size_t i = 0; i < s->nsubs; i++) {
		if (has_sub(c, &s->subs[i]))
			continue;
		changed = 1;
		if (online && c->tops->subscribe)
			c->tops->subscribe(c->link, c->online_attempt,
					   s->subs[i].topic, s->subs[i].qos);
	}
	SWAP(c->subs, s->subs);
	SWAP(c->nsubs, s->nsubs);
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
	SWAP(c->endpoints, s->endpoints);
	SWAP(c->n_endpoints, s->n_endpoints);
	SWAP(c->opts, s->opts);
	SWAP(c->uncoordinated, s->uncoordinated);
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

/* ---------------------------------------------------- the caller side */

/* The spool is opened at the first start and holds the queue's records:
   it cannot move under a running connection. */
static int same_spool(const tether_conn *a, const tether_conn *b)
{
	if (!a->spool_dir || !b->spool_dir)
		return a->spool_dir == b->spool_dir;
	return strcmp(a->spool_dir, b->spool_dir) == 0;
}

static char *spool_error(const tether_conn *c, const tether_conn *s)
{
	char buf[600];

	snprintf(buf, sizeof(buf),
		 "connection '%s': queue.spool cannot change while it runs "
		 "(from %s to %s); restart to move the spool",
		 c->name, c->spool_dir ? c->spool_dir : "none",
		 s->spool_dir ? s->spool_dir : "none");
	return strdup(buf);
}

/* Unlink the connection named name from m (not started), or NULL. */
static tether_conn *take_conn(tether_mgr *m, const char *name)
{
	tether_conn **pp, *c = NULL;

	pthread_mutex_lock(&m->lock);
	for (pp = &m->conns; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0) {
			c = *pp;
			*pp = c->next;
			c->next = NULL;
			m->nconns--;
			break;
		}
	pthread_mutex_unlock(&m->lock);
	return c;
}

static void adopt_conn(tether_mgr *m, tether_conn *c)
{
	c->mgr = m;
	pthread_mutex_lock(&m->lock);
	c->next = m->conns;
	m->conns = c;
	m->nconns++;
	pthread_mutex_unlock(&m->lock);
}

TETHER_EXPORT int tether_config_reload(const tether_config *cfg,
				       tether_mgr *m, char **errors)
{
	tether_mgr *scratch = NULL;
	tether_conn **live = NULL, **next = NULL;
	size_t nlive = 0, n = tether_config_count(cfg);
	int rc;

	if (errors)
		*errors = NULL;
	if (!cfg || !m)
		return TETHER_EINVAL;
	/* everything that can fail comes before the first change */
	rc = tether_mgr_new(&scratch);
	if (rc == 0)
		rc = tether_config_apply(cfg, scratch, errors);
	if (rc == 0)
		tether_mgr_dispatch(scratch); /* settles the subscriptions */
	if (rc == 0 && tth_mgr_conns(m, &live, &nlive) != 0)
		rc = TETHER_ENOMEM;
	if (rc == 0 && n) {
		next = calloc(n, sizeof(*next));
		if (!next)
			rc = TETHER_ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		tether_conn *c;

		next[i] = take_conn(scratch, tether_config_name(cfg, i));
		if (!next[i]) {
			rc = TETHER_ENOMEM; /* cannot happen: apply made it */
			break;
		}
		c = tether_conn_find(m, next[i]->name);
		if (c && !same_spool(c, next[i])) {
			rc = TETHER_ESTATE;
			if (errors)
				*errors = spool_error(c, next[i]);
		}
	}
	if (rc != 0) {
		for (size_t i = 0; next && i < n; i++)
			if (next[i])
				tth_conn_free(next[i]);
		free(next);
		free(live);
		tether_mgr_free(scratch);
		return rc;
	}
	tether_mgr_free(scratch);
	/* dropped connections stop */
	for (size_t i = 0; i < nlive; i++) {
		int kept = 0;
		for (size_t j = 0; j < n && !kept; j++)
			kept = strcmp(live[i]->name, next[j]->name) == 0;
		if (!kept)
			tth_post_reload(live[i], NULL, TTH_RELOAD_DROP);
	}
	for (size_t i = 0; i < n; i++) {
		tether_conn *c = tether_conn_find(m, next[i]->name);

		if (!c) {
			tether_conn *s = next[i];
			adopt_conn(m, s);
			tth_post_reload(s, NULL, TTH_RELOAD_ADDED);
			tether_conn_start(s); /* checked by the load */
			continue;
		}
		tth_post_reload(c, next[i], TTH_RELOAD_REPLACE);
	}
	free(next);
	free(live);
	return tether_mgr_set_limits(m, cfg->rate, (uint32_t)cfg->burst,
				     (uint32_t)cfg->max_connecting);
}

TETHER_EXPORT int tether_mgr_reload(tether_mgr *m, const char *path,
				    char **errors)
{
	tether_config *cfg = NULL;
	int rc;

	if (errors)
		*errors = NULL;
	if (!m || !path)
		return TETHER_EINVAL;
	rc = tether_config_load_file(path, &cfg, errors);
	if (rc != 0)
		return rc;
	rc = tether_config_reload(cfg, m, errors);
	tether_config_free(cfg);
	return rc;
}
