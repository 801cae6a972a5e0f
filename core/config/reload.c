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

/* ---------------------------------------------------- the caller side */

/* The spool is opened at the first start and holds the queue's records:
   it cannot move under a running connection. */
static int same_spool(const tether_conn *a, const tether_conn *b)
{
	if (!a->set.spool_dir || !b->set.spool_dir)
		return a->set.spool_dir == b->set.spool_dir;
	return strcmp(a->set.spool_dir, b->set.spool_dir) == 0;
}

static char *spool_error(const tether_conn *c, const tether_conn *s)
{
	char buf[600];

	snprintf(buf, sizeof(buf),
		 "connection '%s': queue.spool cannot change while it runs "
		 "(from %s to %s); restart to move the spool",
		 c->name, c->set.spool_dir ? c->set.spool_dir : "none",
		 s->set.spool_dir ? s->set.spool_dir : "none");
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
