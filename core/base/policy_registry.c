/*
 * The policy registry (the four built-in types, registered by builtins.c,
 * plus whatever third parties register) and the instance API the
 * connection machine calls.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params-int.h"
#include "registry-int.h"

static struct tth_registry types = TTH_REGISTRY_INIT;

TETHER_EXPORT int tether_policy_register(const struct tether_policy_ops *ops)
{
	if (!ops)
		return TETHER_EINVAL;
	/* a vtable from another ABI may not even have the fields we check */
	if (ops->abi != TETHER_POLICY_ABI && ops->abi != 1)
		return TETHER_EABI;
	if (!ops->name || !*ops->name || !ops->create || !ops->destroy ||
	    !ops->next || !ops->on_success)
		return TETHER_EINVAL;
	tth_builtins_register();
	return tth_registry_add(&types, ops->name, ops);
}

TETHER_EXPORT const struct tether_option *
tether_policy_options(const struct tether_policy_ops *ops)
{
	/* an ABI 1 vtable ends before the table */
	return ops && ops->abi >= 2 ? ops->options : NULL;
}

TETHER_EXPORT const struct tether_policy_ops *
tether_policy_lookup(const char *name)
{
	if (!name)
		return NULL;
	tth_builtins_register();
	return tth_registry_find(&types, name);
}

TETHER_EXPORT size_t tether_policy_count(void)
{
	tth_builtins_register();
	return tth_registry_count(&types);
}

TETHER_EXPORT const struct tether_policy_ops *tether_policy_at(size_t i)
{
	tth_builtins_register();
	return tth_registry_at(&types, i);
}

int tth_policy_names(char *buf, size_t len)
{
	const struct tether_policy_ops *ops;
	size_t used = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	/* entries are only appended: reading them one by one is safe */
	for (size_t i = 0; (ops = tether_policy_at(i)) != NULL; i++) {
		const char *sep = i ? ", " : "";
		size_t need = strlen(sep) + strlen(ops->name);

		/* whole names only, and room left to say there are more */
		if (used + need + 5 >= len) {
			used += (size_t)snprintf(buf + used, len - used,
						 "%s...", sep);
			break;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s", sep,
					 ops->name);
	}
	return (int)used;
}

const char *tth_policy_suggest(const char *name)
{
	const struct tether_policy_ops *ops;
	const char *best = NULL;
	int bestd = 3;

	if (!name)
		return NULL;
	for (size_t i = 0; (ops = tether_policy_at(i)) != NULL; i++) {
		int d = tth_edit_distance(name, ops->name, 2);

		if (d < bestd) {
			bestd = d;
			best = ops->name;
		}
	}
	return best;
}

static void copy_errors(const tether_params *params, char *err, size_t errlen)
{
	const char *text = tether_params_errors(params);

	if (err && errlen)
		snprintf(err, errlen, "%s", text ? text : "");
}

TETHER_EXPORT int tether_policy_new(tether_params *params, tether_policy **out,
				    char *err, size_t errlen)
{
	const struct tether_policy_ops *ops;
	char names[256];
	const char *type, *near;
	void *state = NULL;
	tether_policy *pol;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (out)
		*out = NULL;
	if (!params || !out)
		return TETHER_EINVAL;
	tth_params_reset_usage(params);
	tth_params_mark_checked(params);
	tth_policy_names(names, sizeof(names));
	if (tether_params_string(params, "type", "a policy type", NULL,
				 &type) < 0) {
		copy_errors(params, err, errlen);
		return TETHER_ECONFIG;
	}
	if (!type) {
		tether_params_fail(params, "type",
				   "expected a policy type (one of: %s)",
				   names);
		copy_errors(params, err, errlen);
		return TETHER_ECONFIG;
	}
	ops = tether_policy_lookup(type);
	if (!ops) {
		near = tth_policy_suggest(type);
		if (near)
			tether_params_fail(params, "type",
					   "expected a policy type (one of: "
					   "%s), found '%s' (did you mean "
					   "'%s'?)",
					   names, type, near);
		else
			tether_params_fail(params, "type",
					   "expected a policy type (one of: "
					   "%s), found '%s'",
					   names, type);
		copy_errors(params, err, errlen);
		return TETHER_ENOENT;
	}
	rc = ops->create(params, &state);
	if (rc == TETHER_ENOMEM) {
		if (state)
			ops->destroy(state);
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return rc;
	}
	char what[128];
	snprintf(what, sizeof(what), "policy '%s'", ops->name);
	if (tth_params_check_unknown(params, what) < 0 && rc == 0)
		rc = TETHER_ECONFIG;
	if (rc == 0 && tth_params_error_count(params))
		rc = TETHER_ECONFIG; /* a create() that forgot to say so */
	if (rc < 0 && !tth_params_error_count(params))
		tether_params_fail(params, NULL,
				   "invalid parameters for policy '%s'",
				   ops->name);
	if (rc == 0) {
		pol = malloc(sizeof(*pol));
		if (!pol) {
			rc = TETHER_ENOMEM;
			ops->destroy(state);
			if (err && errlen)
				snprintf(err, errlen, "out of memory");
			return rc;
		}
		pol->ops = ops;
		pol->state = state;
		*out = pol;
		return 0;
	}
	if (state)
		ops->destroy(state);
	copy_errors(params, err, errlen);
	return rc < 0 ? rc : TETHER_ECONFIG;
}

TETHER_EXPORT void tether_policy_free(tether_policy *pol)
{
	if (!pol)
		return;
	pol->ops->destroy(pol->state);
	free(pol);
}

TETHER_EXPORT const char *tether_policy_name(const tether_policy *pol)
{
	return pol ? pol->ops->name : NULL;
}

TETHER_EXPORT void tether_policy_next(tether_policy *pol,
				      const struct tether_policy_input *in,
				      struct tether_rng *rng,
				      struct tether_policy_decision *out)
{
	out->verdict = TETHER_VERDICT_RETRY;
	out->delay_ms = 0;
	out->why = NULL;
	pol->ops->next(pol->state, in, rng, out);
}

TETHER_EXPORT void tether_policy_on_success(tether_policy *pol, uint64_t now_ms)
{
	pol->ops->on_success(pol->state, now_ms);
}

TETHER_EXPORT void tether_policy_observe(tether_policy *pol,
					 const struct tether_policy_sample *s)
{
	if (pol->ops->observe)
		pol->ops->observe(pol->state, s);
}

TETHER_EXPORT int tether_policy_describe(const tether_policy *pol, char *buf,
					 size_t len)
{
	int n, m;

	if (len)
		buf[0] = '\0';
	if (!pol)
		return 0;
	n = snprintf(buf, len, "%s", pol->ops->name);
	if (!pol->ops->describe)
		return n;
	m = pol->ops->describe(pol->state, NULL, 0);
	if (m <= 0)
		return n;
	if (len > (size_t)n + 1) {
		buf[n] = ' ';
		buf[n + 1] = '\0';
		pol->ops->describe(pol->state, buf + n + 1,
				   len - (size_t)n - 1);
	}
	return n + 1 + m;
}
