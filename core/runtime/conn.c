/*
 * A manager's connections: creation and settings (before the first start),
 * the first start (the transport link and the machine), and what any
 * thread may ask of a connection. Everything that acts on a running
 * connection is posted to the loop (core/runtime/mailbox.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox-int.h"
#include "mgr-int.h"
#include "params-int.h"

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
	for (uint32_t i = 0; i < c->set.n_endpoints; i++)
		if (!loopback_uri(c->set.endpoints[i]))
			return 1;
	return 0;
}

void tth_conn_free(tether_conn *c)
{
	tth_outbox_cleanup(c);
	tth_conn_unsub_clear(c);
	free(c->redirect_uri);
	tth_settings_cleanup(&c->set);
	tether_policy_free(c->policy);
	tth_settings_free(c->replace_with);
	free(c->name);
	free(c->error);
	free(c);
}

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

/* A connection with settings set (taken: cleaned up on failure), linked
 * into m unless the name is taken. */
static int conn_make(tether_mgr *m, const char *name,
		     struct tth_conn_settings *set, tether_conn **out)
{
	tether_conn *c, *it;
	int rc = 0;

	c = calloc(1, sizeof(*c));
	if (!c) {
		tth_settings_cleanup(set);
		return TETHER_ENOMEM;
	}
	c->mgr = m;
	c->set = *set;
	c->tops = set->tops;
	c->name = strdup(name);
	if (!c->name) {
		tth_conn_free(c);
		return TETHER_ENOMEM;
	}
	tth_hb_init(c);
	rc = tth_outbox_init(c);
	if (rc != 0) {
		tth_conn_free(c);
		return rc;
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

TETHER_EXPORT int tether_conn_new(tether_mgr *m, const char *name,
				  const char *transport, tether_conn **out)
{
	const struct tether_transport_ops *ops;
	struct tth_conn_settings set;

	if (!m || !name || !*name || !transport || !out)
		return TETHER_EINVAL;
	*out = NULL;
	ops = tether_transport_lookup(transport);
	if (!ops)
		return TETHER_ENOENT;
	if (tth_settings_init(&set, ops) != 0)
		return TETHER_ENOMEM;
	return conn_make(m, name, &set, out);
}

int tth_conn_new_with(tether_mgr *m, const char *name,
		      const struct tth_conn_settings *s, tether_conn **out)
{
	struct tth_conn_settings set;

	*out = NULL;
	if (tth_settings_copy(&set, s) != 0)
		return TETHER_ENOMEM;
	return conn_make(m, name, &set, out);
}

static int started(const tether_conn *c)
{
	return c->link != NULL;
}

TETHER_EXPORT int tether_conn_add_endpoint(tether_conn *c, const char *uri)
{
	char err[300];
	int rc;

	if (!c || !uri)
		return TETHER_EINVAL;
	if (started(c))
		return TETHER_ESTATE;
	rc = tth_settings_add_endpoint(&c->set, uri, err, sizeof(err));
	if (rc == TETHER_EINVAL)
		snprintf(tth_conn_errbuf(c), TTH_CONN_ERROR_MAX,
			 "endpoint '%s': %s", uri, err);
	return rc;
}

/*
 * An option set after the first start (CLOSED, or in the pre-connect
 * hook): the transport checks a copy of the options with it, and only
 * a copy it accepts replaces them (under the queue lock: a send reads
 * them); the link is made anew before the next connect.
 */
static int set_option_live(tether_conn *c, const char *key, const char *value)
{
	tether_params *next = tether_params_dup(c->set.opts), *old;
	int rc;

	if (!next)
		return TETHER_ENOMEM;
	rc = tether_params_set(next, key, value, NULL);
	if (rc == 0 && c->tops->check) {
		tth_params_reset_usage(next);
		char what[128];

		snprintf(what, sizeof(what), "transport '%s'", c->tops->name);
		rc = c->tops->check(c, next);
		if (tth_params_check_unknown(next, what) != 0 && rc == 0)
			rc = TETHER_ECONFIG;
		if (rc != 0) {
			const char *e = tether_params_errors(next);
			snprintf(tth_conn_errbuf(c), TTH_CONN_ERROR_MAX, "%s",
				 e ? e : tether_strerror(rc));
		}
	}
	if (rc != 0) {
		tth_params_wipe(next);
		tether_params_free(next);
		return rc;
	}
	pthread_mutex_lock(&c->out.qmu);
	old = c->set.opts;
	c->set.opts = next;
	pthread_mutex_unlock(&c->out.qmu);
	tth_params_wipe(old);
	tether_params_free(old);
	atomic_store(&c->opts_dirty, 1);
	return 0;
}

TETHER_EXPORT int tether_conn_set_option(tether_conn *c, const char *key,
					 const char *value)
{
	if (!c || !key || !*key || !value)
		return TETHER_EINVAL;
	if (!started(c))
		return tether_params_set(c->set.opts, key, value, NULL);
	if ((c->in_pre_cb && tether_mgr_is_loop_thread(c->mgr)) ||
	    atomic_load(&c->state) == TETHER_STATE_CLOSED)
		return set_option_live(c, key, value);
	return TETHER_ESTATE;
}

TETHER_EXPORT int tether_conn_set_preconnect_cb(tether_conn *c,
						tether_preconnect_cb cb,
						void *userdata)
{
	if (!c)
		return TETHER_EINVAL;
	c->pre_cb = cb;
	c->pre_ud = userdata;
	return 0;
}

TETHER_EXPORT int tether_conn_preconnect_resume(tether_conn *c)
{
	if (!c)
		return TETHER_EINVAL;
	if (!c->inited)
		return 0;
	return tth_post_cmd(c, TTH_POST_PRECONNECT);
}

TETHER_EXPORT int tether_conn_set_policy(tether_conn *c, tether_params *policy)
{
	tether_policy *pol = NULL;
	int rc;

	if (!c || !policy)
		return TETHER_EINVAL;
	if (c->inited)
		return TETHER_ESTATE;
	rc = tether_policy_new(policy, &pol, tth_conn_errbuf(c),
			       TTH_CONN_ERROR_MAX);
	if (rc == 0)
		rc = tth_settings_set_policy(&c->set, policy);
	if (rc != 0) {
		tether_policy_free(pol);
		return rc;
	}
	tether_policy_free(c->policy);
	c->policy = pol;
	return 0;
}

TETHER_EXPORT int tether_conn_set_timing(tether_conn *c, const char *key,
					 uint64_t ms)
{
	if (!c || !key)
		return TETHER_EINVAL;
	if (c->inited)
		return TETHER_ESTATE;
	return tth_settings_set_timing(&c->set, key, ms, tth_conn_errbuf(c),
				       TTH_CONN_ERROR_MAX);
}

TETHER_EXPORT int tether_conn_set_heartbeat(tether_conn *c,
					    uint64_t interval_ms,
					    uint64_t timeout_ms,
					    uint32_t misses)
{
	if (!c)
		return TETHER_EINVAL;
	if (c->inited)
		return TETHER_ESTATE;
	return tth_settings_set_heartbeat(&c->set, interval_ms, timeout_ms,
					  misses);
}

TETHER_EXPORT int tether_conn_classify(tether_conn *c, const char *key,
				       const char *cls)
{
	if (!c || !key || !cls)
		return TETHER_EINVAL;
	if (c->inited)
		return TETHER_ESTATE;
	return tth_settings_classify(&c->set, key, cls, tth_conn_errbuf(c),
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
	if (tth_params_check_unknown(c->set.opts, what) != 0 && rc == 0)
		rc = TETHER_ECONFIG;
	if (rc != 0) {
		const char *e = tether_params_errors(c->set.opts);
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
int tth_conn_make_link(tether_conn *c, void **link)
{
	tether_mgr *m = c->mgr;
	void *ctx;
	int rc = 0;

	*link = NULL;
	pthread_mutex_lock(&m->lock);
	ctx = transport_ctx(m, c->tops, &rc);
	if (ctx) {
		tth_params_reset_usage(c->set.opts);
		rc = opts_verdict(c, c->tops->link_new(ctx, c, c->set.opts, link));
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

/* c's policy from its settings (the default: exponential). */
int tth_conn_make_policy(tether_conn *c, tether_policy **out)
{
	tether_params *def = NULL;
	int rc;

	if (!c->set.policy_params) {
		def = tether_params_new(NULL);
		if (!def || tether_params_set(def, "type", "exponential",
					      NULL) != 0) {
			tether_params_free(def);
			return TETHER_ENOMEM;
		}
	}
	rc = tether_policy_new(def ? def : c->set.policy_params, out,
			       tth_conn_errbuf(c), TTH_CONN_ERROR_MAX);
	tether_params_free(def);
	return rc;
}

/* First start: the transport link and the machine. */
int tth_conn_prepare(tether_conn *c)
{
	tether_mgr *m = c->mgr;
	int rc = 0;

	if (c->set.n_endpoints == 0) {
		set_error(c, "no endpoint%s", NULL);
		return TETHER_EINVAL;
	}
	if (!c->policy) {
		rc = tth_conn_make_policy(c, &c->policy);
		if (rc != 0)
			return rc;
	}
	rc = tth_outbox_open_spool(c);
	if (rc != 0)
		return rc;
	rc = tth_conn_make_link(c, &c->link);
	if (rc != 0)
		return rc;
	tth_econn_init(&m->eng, &c->ec, &c->set.mcfg, c->policy, c->set.classifier,
		       c->set.n_endpoints, m->seed + (uint64_t)(uintptr_t)c, c);
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
	return tth_post_cmd(c, TTH_POST_START);
}

TETHER_EXPORT int tether_conn_stop(tether_conn *c)
{
	if (!c)
		return TETHER_EINVAL;
	if (!c->inited)
		return 0;
	return tth_post_cmd(c, TTH_POST_STOP);
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
	struct tth_conn_settings check;
	struct tth_qout out;
	int rc;

	if (!c || !q)
		return TETHER_EINVAL;
	if (c->inited) {
		/* the spool is opened at the first start and stays */
		memset(&check, 0, sizeof(check));
		rc = tth_settings_set_queue(&check, q);
		if (rc == 0 &&
		    (!!q->spool_dir != !!c->set.spool_dir ||
		     (q->spool_dir &&
		      strcmp(q->spool_dir, c->set.spool_dir) != 0)))
			rc = TETHER_ESTATE;
		if (rc == 0)
			rc = tth_post_queue_cfg(c, &check.qcfg);
		free(check.spool_dir);
		return rc;
	}
	rc = tth_settings_set_queue(&c->set, q);
	if (rc != 0)
		return rc;
	tth_qout_init(&out);
	tth_outbox_set_limits(c, &c->set.qcfg, &out);
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
	struct tether_subscription sub = {.size = sizeof(sub), .topic = topic,
					  .qos = qos};

	return tether_conn_subscribe_opts(c, &sub);
}

static int can_subscribe(const tether_conn *c)
{
	return c->tops->subscribe ||
	       (c->tops->abi >= 3 && c->tops->subscribe_opts);
}

TETHER_EXPORT int tether_conn_subscribe_opts(tether_conn *c,
					     const struct tether_subscription *sub)
{
	struct tether_subscription s;
	struct tth_conn_settings check;
	struct tth_post *p;
	int rc;

	if (!c || !sub || sub->size < offsetof(struct tether_subscription,
					       no_local))
		return TETHER_EINVAL;
	/* a caller built against an older struct has fewer fields */
	memset(&s, 0, sizeof(s));
	memcpy(&s, sub, sub->size < sizeof(s) ? sub->size : sizeof(s));
	s.size = sizeof(s);
	/* the setter's checks, on a value of its own */
	memset(&check, 0, sizeof(check));
	rc = tth_settings_subscribe(&check, &s);
	if (rc != 0) {
		free(check.subs);
		return rc;
	}
	if (!can_subscribe(c)) {
		free(check.subs[0].topic);
		free(check.subs);
		return TETHER_ENOTSUP;
	}
	p = tth_post_new(TTH_POST_SUBSCRIBE, c, 0);
	if (!p) {
		free(check.subs[0].topic);
		free(check.subs);
		return TETHER_ENOMEM;
	}
	p->u.subscribe = check.subs[0]; /* takes the topic */
	free(check.subs);
	tth_post(c->mgr, p);
	return 0;
}

TETHER_EXPORT int tether_conn_unsubscribe(tether_conn *c, const char *topic)
{
	struct tth_post *p;

	if (!c || !topic || !*topic)
		return TETHER_EINVAL;
	if (!can_subscribe(c) || c->tops->abi < 3 || !c->tops->unsubscribe)
		return TETHER_ENOTSUP;
	p = tth_post_new(TTH_POST_UNSUBSCRIBE, c, 0);
	if (!p)
		return TETHER_ENOMEM;
	p->u.subscribe.topic = strdup(topic);
	if (!p->u.subscribe.topic) {
		tth_post_free(p);
		return TETHER_ENOMEM;
	}
	tth_post(c->mgr, p);
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
		rc = tth_conn_make_link(c, &link);
		if (link)
			c->tops->link_free(link);
		return rc;
	}
	/* the transport checks without a context: nothing starts */
	tth_params_reset_usage(c->set.opts);
	return opts_verdict(c, c->tops->check(c, c->set.opts));
}

/* ------------------------------------------------------------ removal */

/*
 * Removal: the caller's thread moves c from the manager's list to its
 * `removed` list (so the name is free at once) and posts REMOVE; the loop
 * closes c (tth_engine_stop), and once it is CLOSED tears it down: its
 * machine, timers and link go, what is still queued is dropped, REMOVED
 * is told; a FREE post, behind every post made so far, frees it. Posts
 * for c in between are skipped (c->gone).
 */
int tth_conn_remove(tether_conn *c, int by_reload)
{
	tether_mgr *m = c->mgr;
	struct tth_post *p;
	tether_conn **pp;

	if (atomic_exchange(&c->removing, 1))
		return 0; /* asked already */
	p = tth_post_new(TTH_POST_REMOVE, c, 0);
	if (!p) {
		atomic_store(&c->removing, 0);
		return TETHER_ENOMEM;
	}
	p->u.by_reload = by_reload;
	pthread_mutex_lock(&m->lock);
	for (pp = &m->conns; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp) {
		*pp = c->next;
		m->nconns--;
		c->rnext = m->removed;
		m->removed = c;
	}
	pthread_mutex_unlock(&m->lock);
	tth_post(m, p);
	return 0;
}

TETHER_EXPORT int tether_conn_remove(tether_conn *c)
{
	if (!c)
		return TETHER_EINVAL;
	return tth_conn_remove(c, 0);
}

void tth_conn_removing(tether_conn *c, int by_reload)
{
	if (by_reload)
		tth_conn_event(c, TETHER_EV_RELOAD, "removed");
	tth_settings_free(c->replace_with); /* no restart any more */
	c->replace_with = NULL;
	if (c->inited && c->ec.m.state != TETHER_STATE_CLOSED &&
	    c->ec.m.state != TETHER_STATE_IDLE) {
		c->remove_pending = 1; /* CLOSED brings us back */
		tth_engine_stop(&c->mgr->eng, &c->ec);
		return;
	}
	tth_conn_teardown(c);
}

void tth_conn_teardown(tether_conn *c)
{
	tether_mgr *m = c->mgr;
	struct tth_post *p;

	if (c->gone)
		return;
	c->remove_pending = 0;
	if (c->inited)
		tth_econn_detach(&m->eng, &c->ec);
	if (c->link) {
		c->tops->abort(c->link, c->ec.m.attempt_id);
		c->tops->link_free(c->link);
		c->link = NULL;
	}
	if (c->out.q_ready)
		tth_outbox_link_end(c, 1); /* what is left: ECLOSED */
	tth_engine_cancel(&m->eng, &c->hb.timer);
	tth_engine_cancel(&m->eng, &c->out.ttl_timer);
	tth_engine_cancel(&m->eng, &c->out.flush_timer);
	tth_conn_event(c, TETHER_EV_REMOVED, NULL);
	c->gone = 1;
	p = tth_post_new(TTH_POST_FREE, c, 0);
	if (p)
		tth_post(m, p);
	/* else tether_mgr_free frees it, from m->removed */
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
