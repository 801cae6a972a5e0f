/*
 * Applying a configuration through the public API: to the caller's
 * manager (tether_config_apply), and at load time to a scratch manager,
 * which checks what the API checks (URI schemes, policies, timings,
 * heartbeat, classification, queue, subscriptions) and puts each message
 * where the value was written. Transport options are not applied there:
 * the load checks each against its transport's option table, and
 * tth_cfg_check_options runs the transport's check() for the rest.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/transport.h>

#include "config-int.h"
#include "params-int.h"

/* --------------------------------------------------------------- apply */

/*
 * What involves several options of cc ("password needs a username"): the
 * transport's check() on a set of them assembled for it, each entry
 * located where it was written, so each error lands there. The values
 * were checked one by one against the table at load (config_conn.c);
 * the set holds only those that passed.
 */
void tth_cfg_check_options(struct lctx *lc, struct cfg_conn *cc)
{
	const struct tether_transport_ops *t =
	    tether_transport_lookup(cc->transport);
	tether_params *set;
	int rc = 0;

	if (!t || !t->check || !tether_transport_options(t))
		return;
	set = tether_params_new(NULL);
	if (!set) {
		lc->oom = 1;
		return;
	}
	for (size_t i = 0; i < cc->nopts && rc == 0; i++)
		rc = tth_params_set_from(set, cc->opts[i].okey,
					 cc->opts[i].ovalue, cc->opts[i].src,
					 cc->opts[i].ykey);
	if (rc == 0)
		rc = t->check(NULL, set);
	if (rc == TETHER_ENOMEM)
		lc->oom = 1;
	tth_params_move_errors(cc->src, set);
	/* the set held the secrets too */
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].value)
			explicit_bzero(set->v[i].value, strlen(set->v[i].value));
	tether_params_free(set);
}

static void apply_fail(struct lctx *lc, tether_params *src, const char *key,
		       tether_conn *c, int rc)
{
	if (rc == TETHER_ENOMEM || !lc) {
		if (lc)
			lc->oom = 1;
		return;
	}
	tth_params_add_error(src, key, "%s",
			     tether_conn_error(c)[0] ? tether_conn_error(c)
						     : tether_strerror(rc));
}

/*
 * Create cc in m through the public API. With lc (the load's check),
 * every failure is recorded where it was written and the rest goes on;
 * without, the first failure is returned.
 */
static int apply_conn(const struct cfg_conn *cc, tether_mgr *m,
		      struct lctx *lc, char *why, size_t whylen)
{
	tether_params *seq = lc ? tth_cfg_entry(cc->src, "endpoints")->child : NULL;
	tether_params *pol;
	tether_conn *c;
	int rc, first = 0;

#define STEP(expr, src, key)                                                   \
	do {                                                                   \
		rc = (expr);                                                   \
		if (rc != 0) {                                                 \
			if (!first)                                            \
				first = rc;                                    \
			if (!lc)                                               \
				goto out;                                      \
			apply_fail(lc, src, key, c, rc);                       \
		}                                                              \
	} while (0)

	rc = tether_conn_new(m, cc->name, cc->transport, &c);
	if (rc != 0) {
		snprintf(why, whylen, "connection '%s': %s", cc->name,
			 rc == TETHER_EEXIST ? "a connection of that name "
					       "already exists"
					     : tether_strerror(rc));
		return rc;
	}
	for (size_t i = 0; i < cc->nendpoints; i++) {
		rc = tether_conn_add_endpoint(c, cc->endpoints[i]);
		if (rc == TETHER_EINVAL && lc) {
			const struct tether_transport_ops *t =
			    tether_transport_lookup(cc->transport);
			char schemes[200] = "";

			for (size_t j = 0; t->schemes[j]; j++) {
				size_t l = strlen(schemes);

				snprintf(schemes + l, sizeof(schemes) - l,
					 "%s%s://", j ? ", " : "",
					 t->schemes[j]);
			}
			tth_params_add_error(seq, seq->v[i].key,
					     "expected a URI for transport "
					     "'%s' (%s), found '%s'",
					     cc->transport, schemes,
					     cc->endpoints[i]);
			continue;
		}
		STEP(rc, cc->src, "endpoints");
	}
	/* a policy with errors (reported) is left out of the check */
	if (cc->policy) {
		pol = tether_params_dup(cc->policy);
		STEP(pol ? tether_conn_set_policy(c, pol) : TETHER_ENOMEM,
		     cc->src, "policy");
		tether_params_free(pol);
	}
	for (int i = 0; i < CFG_TIMINGS; i++)
		STEP(tether_conn_set_timing(c, tth_cfg_timing_keys[i],
					    cc->timing[i]),
		     cc->src, tth_cfg_timing_keys[i]);
	STEP(tether_conn_set_coordinated(c, cc->coordinated), cc->src,
	     "coordinated");
	if (cc->hb_set)
		STEP(tether_conn_set_heartbeat(c, cc->hb_interval,
					       cc->hb_timeout, cc->hb_misses),
		     cc->src, "heartbeat");
	for (size_t i = 0; i < cc->nrules; i++)
		STEP(tether_conn_classify(c, cc->rules[i].key,
					  cc->rules[i].cls),
		     cc->rules[i].src, cc->rules[i].key);
	/* the load checked the options against the transport's table, and
	   tth_cfg_check_options what involves several of them */
	for (size_t i = 0; !lc && i < cc->nopts; i++)
		STEP(tether_conn_set_option(c, cc->opts[i].okey,
					    cc->opts[i].ovalue),
		     cc->opts[i].src, cc->opts[i].ykey);
	STEP(tether_conn_set_queue(c, &cc->q), cc->src, "queue");
	for (size_t i = 0; i < cc->nsubs; i++)
		STEP(tether_conn_subscribe(c, cc->subs[i].topic,
					   cc->subs[i].qos),
		     cc->src,
		     tether_transport_section(
			 tether_transport_lookup(cc->transport)));
	rc = first;
out:
#undef STEP
	if (rc != 0)
		snprintf(why, whylen, "connection '%s': %s", cc->name,
			 tether_strerror(rc));
	return rc;
}

TETHER_EXPORT int tether_config_apply(const tether_config *cfg,
				      tether_mgr *m, char **errors)
{
	char why[512];
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
		rc = apply_conn(&cfg->conns[i], m, NULL, why, sizeof(why));
		if (rc != 0) {
			if (errors)
				*errors = strdup(why);
			return rc;
		}
	}
	return tether_mgr_set_limits(m, cfg->rate, (uint32_t)cfg->burst,
				     (uint32_t)cfg->max_connecting);
}

/* With every connection checked through the API on a scratch manager. */
void tth_cfg_check_api(struct lctx *lc)
{
	tether_config *cfg = lc->cfg;
	tether_mgr *scratch = NULL;
	char why[512];
	int rc;

	for (size_t i = 0; i < cfg->nconns; i++) {
		struct cfg_conn *cc = &cfg->conns[i];

		if (cc->bad)
			continue;
		if (!scratch) {
			rc = tether_mgr_new(&scratch);
			if (rc != 0) {
				tth_params_add_error(
				    cfg->root, NULL,
				    "cannot check the transports: %s",
				    tether_strerror(rc));
				return;
			}
		}
		apply_conn(cc, scratch, lc, why, sizeof(why));
		tth_cfg_check_options(lc, cc);
	}
	tether_mgr_free(scratch);
}
