/*
 * A loaded configuration and a manager: the transports' cross-field
 * checks at load time, and tether_config_apply(), which makes each
 * connection from its settings value (checked by the load already).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/transport.h>

#include "config-int.h"
#include "mgr-int.h"
#include "params-int.h"

/*
 * What involves several options of cc ("password needs a username"): the
 * transport's check() on the options of cc's settings, each located where
 * it was written, so each error lands there. The values were checked one
 * by one against the table as they were read (config_conn.c).
 */
void tth_cfg_check_options(struct lctx *lc, struct cfg_conn *cc)
{
	const struct tether_transport_ops *t = cc->set.tops;
	int rc;

	if (!t->check || !tether_transport_options(t))
		return;
	rc = t->check(NULL, cc->set.opts);
	if (rc == TETHER_ENOMEM)
		lc->oom = 1;
	tth_params_move_errors(cc->src, cc->set.opts);
	tth_params_reset_usage(cc->set.opts);
}

TETHER_EXPORT int tether_config_apply(const tether_config *cfg,
				      tether_mgr *m, char **errors)
{
	char why[512];
	tether_conn *c;
	int rc;

	if (errors)
		*errors = NULL;
	if (!cfg || !m)
		return TETHER_EINVAL;
	for (size_t i = 0; i < cfg->nconns; i++) {
		if (tether_conn_find(m, cfg->conns[i].name)) {
			snprintf(why, sizeof(why),
				 "connection '%s': a connection of that name "
				 "already exists",
				 cfg->conns[i].name);
			if (errors)
				*errors = strdup(why);
			return TETHER_EEXIST;
		}
	}
	for (size_t i = 0; i < cfg->nconns; i++) {
		const struct cfg_conn *cc = &cfg->conns[i];

		rc = tth_conn_new_with(m, cc->name, &cc->set, &c);
		if (rc != 0) {
			snprintf(why, sizeof(why), "connection '%s': %s",
				 cc->name, tether_strerror(rc));
			if (errors)
				*errors = strdup(why);
			/* all or nothing: the ones made so far go again */
			while (i-- > 0)
				tether_conn_remove(
				    tether_conn_find(m, cfg->conns[i].name));
			return rc;
		}
	}
	return tether_mgr_set_limits(m, cfg->rate, (uint32_t)cfg->burst,
				     (uint32_t)cfg->max_connecting);
}
