/*
 * Live reload (tether.yaml(5)): make a running manager match a configuration.
 *
 * The load checked every connection's settings value. Each one is copied
 * (everything that can fail comes before the first change), then either
 * makes a new connection (a new name), or is posted to the loop thread,
 * which applies what can change live (policy, timings, heartbeat,
 * classification, queue bounds, subscriptions) and restarts the link only
 * when what it is made of changed (transport, endpoints, transport options
 * such as credentials): core/runtime/reload_live.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/config.h>

#include "config-int.h"
#include "mgr-int.h"

/* ---------------------------------------------------- the caller side */

/* The spool is opened at the first start and holds the queue's records:
   it cannot move under a running connection. */
static int same_spool(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static char *spool_error(const tether_conn *c, const char *to)
{
	char buf[600];

	snprintf(buf, sizeof(buf),
		 "connection '%s': queue.spool cannot change while it runs "
		 "(from %s to %s); restart to move the spool",
		 c->name, c->set.spool_dir ? c->set.spool_dir : "none",
		 to ? to : "none");
	return strdup(buf);
}

TETHER_EXPORT int tether_config_reload(const tether_config *cfg,
				       tether_mgr *m, char **errors)
{
	tether_conn **live = NULL;
	struct tth_conn_settings **next = NULL;
	size_t nlive = 0, n = tether_config_count(cfg);
	int rc = 0;

	if (errors)
		*errors = NULL;
	if (!cfg || !m)
		return TETHER_EINVAL;
	/* everything that can fail comes before the first change */
	if (tth_mgr_conns(m, &live, &nlive) != 0)
		rc = TETHER_ENOMEM;
	if (rc == 0 && n) {
		next = calloc(n, sizeof(*next));
		if (!next)
			rc = TETHER_ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct cfg_conn *cc = &cfg->conns[i];
		tether_conn *c = tether_conn_find(m, cc->name);

		if (c && !same_spool(c->set.spool_dir, cc->set.spool_dir)) {
			rc = TETHER_ESTATE;
			if (errors)
				*errors = spool_error(c, cc->set.spool_dir);
			break;
		}
		next[i] = malloc(sizeof(*next[i]));
		if (!next[i] || tth_settings_copy(next[i], &cc->set) != 0) {
			free(next[i]);
			next[i] = NULL;
			rc = TETHER_ENOMEM;
		}
	}
	if (rc != 0) {
		for (size_t i = 0; next && i < n; i++)
			tth_settings_free(next[i]);
		free(next);
		free(live);
		return rc;
	}
	/* dropped connections are removed (their names are free at once) */
	for (size_t i = 0; i < nlive; i++) {
		int kept = 0;
		for (size_t j = 0; j < n && !kept; j++)
			kept = strcmp(live[i]->name, cfg->conns[j].name) == 0;
		if (!kept)
			tth_conn_remove(live[i], 1);
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = cfg->conns[i].name;
		tether_conn *c = tether_conn_find(m, name);

		if (c) {
			tth_post_settings(c, next[i]); /* takes it */
			continue;
		}
		if (tth_conn_new_with(m, name, next[i], &c) == 0) {
			tth_post_added(c);
			tether_conn_start(c); /* checked by the load */
		} else if (rc == 0) {
			rc = TETHER_ENOMEM; /* the others went on */
		}
		tth_settings_free(next[i]);
	}
	free(next);
	free(live);
	if (rc != 0)
		return rc;
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
