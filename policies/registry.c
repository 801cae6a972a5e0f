/*
 * The policy registry (the four built-in types plus whatever third parties
 * register) and the instance API the connection machine calls.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params-int.h"
#include "policies-int.h"

#define FIXED_SLOTS 16

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const struct tether_policy_ops *fixed_slots[FIXED_SLOTS];
static const struct tether_policy_ops **types = fixed_slots;
static size_t ntypes, captypes = FIXED_SLOTS;

static void register_builtins(void)
{
	types[ntypes++] = &tth_policy_fixed;
	types[ntypes++] = &tth_policy_exponential;
	types[ntypes++] = &tth_policy_adaptive;
	types[ntypes++] = &tth_policy_breaker;
}

static void init(void)
{
	pthread_once(&once, register_builtins);
}

static const struct tether_policy_ops *find_locked(const char *name)
{
	for (size_t i = 0; i < ntypes; i++)
		if (strcmp(types[i]->name, name) == 0)
			return types[i];
	return NULL;
}

TETHER_EXPORT int tether_policy_register(const struct tether_policy_ops *ops)
{
	int rc = 0;

	if (!ops)
		return TETHER_EINVAL;
	/* a vtable from another ABI may not even have the fields we check */
	if (ops->abi != TETHER_POLICY_ABI)
		return TETHER_EABI;
	if (!ops->name || !*ops->name || !ops->create || !ops->destroy ||
	    !ops->next || !ops->on_success)
		return TETHER_EINVAL;
	init();
	pthread_mutex_lock(&lock);
	if (find_locked(ops->name)) {
		rc = TETHER_EEXIST;
		goto out;
	}
	if (ntypes == captypes) {
		size_t cap = 2 * captypes;
		const struct tether_policy_ops **v;

		if (types == fixed_slots) {
			v = malloc(cap * sizeof(*v));
			if (v)
				memcpy(v, fixed_slots, sizeof(fixed_slots));
		} else {
			v = realloc(types, cap * sizeof(*v));
		}
		if (!v) {
			rc = TETHER_ENOMEM;
			goto out;
		}
		types = v;
		captypes = cap;
	}
	types[ntypes++] = ops;
out:
	pthread_mutex_unlock(&lock);
	return rc;
}

TETHER_EXPORT const struct tether_policy_ops *
tether_policy_lookup(const char *name)
{
	const struct tether_policy_ops *ops;

	if (!name)
		return NULL;
	init();
	pthread_mutex_lock(&lock);
	ops = find_locked(name);
	pthread_mutex_unlock(&lock);
	return ops;
}

TETHER_EXPORT size_t tether_policy_count(void)
{
	size_t n;

	init();
	pthread_mutex_lock(&lock);
	n = ntypes;
	pthread_mutex_unlock(&lock);
	return n;
}

TETHER_EXPORT const struct tether_policy_ops *tether_policy_at(size_t i)
{
	const struct tether_policy_ops *ops;

	init();
	pthread_mutex_lock(&lock);
	ops = i < ntypes ? types[i] : NULL;
	pthread_mutex_unlock(&lock);
	return ops;
}

int tth_policy_names(char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	init();
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ntypes; i++) {
		const char *sep = i ? ", " : "";
		size_t need = strlen(sep) + strlen(types[i]->name);

		/* whole names only, and room left to say there are more */
		if (used + need + 5 >= len) {
			used += (size_t)snprintf(buf + used, len - used,
						 "%s...", sep);
			break;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s", sep,
					 types[i]->name);
	}
	pthread_mutex_unlock(&lock);
	return (int)used;
}

const char *tth_policy_suggest(const char *name)
{
	const char *best = NULL;
	int bestd = 3;

	if (!name)
		return NULL;
	init();
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ntypes; i++) {
		int d = tth_edit_distance(name, types[i]->name, 2);

		if (d < bestd) {
			bestd = d;
			best = types[i]->name;
		}
	}
	pthread_mutex_unlock(&lock);
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
	if (tth_params_text(params, "type", "a policy type", &type) < 0) {
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
