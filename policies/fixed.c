/*
 * fixed: the same interval before every retry, optionally spread by
 * +/- jitter so that clients that failed together do not retry together.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "builtin.h"

#define HOUR_MS 3600000ULL

static const struct tether_option fixed_options[] = {
    {.name = "interval", .type = TETHER_OPTION_DURATION, .def = "5s",
     .doc = "the delay before every retry", .reload = TETHER_OPTION_LIVE,
     .min = 1, .max = 24 * HOUR_MS},
    {.name = "jitter", .type = TETHER_OPTION_DOUBLE, .def = "0",
     .doc = "spread each delay by +/- this fraction of it",
     .reload = TETHER_OPTION_LIVE, .min = 0, .max = 1},
    TTH_OPT_MAX_ATTEMPTS,
    TTH_OPT_MAX_ELAPSED,
    {.name = NULL},
};

struct fixed {
	uint64_t interval;
	double jitter;
	uint64_t max_attempts;
	uint64_t max_elapsed;
};

static int fixed_create(tether_params *p, void **state)
{
	const struct tether_option *t = fixed_options;
	union tether_option_value v;
	struct fixed f;
	struct fixed *s;
	int rc = 0;

	rc |= tether_params_option(p, t, "interval", &v);
	f.interval = v.u;
	rc |= tether_params_option(p, t, "jitter", &v);
	f.jitter = v.d;
	rc |= tether_params_option(p, t, "max_attempts", &v);
	f.max_attempts = v.u;
	rc |= tether_params_option(p, t, "max_elapsed", &v);
	f.max_elapsed = v.u;
	if (rc)
		return TETHER_ECONFIG;
	s = malloc(sizeof(*s));
	if (!s)
		return TETHER_ENOMEM;
	*s = f;
	*state = s;
	return 0;
}

static void fixed_destroy(void *state)
{
	free(state);
}

static void fixed_next(void *state, const struct tether_policy_input *in,
		       struct tether_rng *rng,
		       struct tether_policy_decision *out)
{
	const struct fixed *f = state;
	double d;
	uint64_t delay;

	if (f->max_attempts && in->attempt >= f->max_attempts) {
		out->verdict = TETHER_VERDICT_GIVE_UP;
		out->delay_ms = 0;
		out->why = "max_attempts reached";
		return;
	}
	if (f->max_elapsed && in->elapsed_ms >= f->max_elapsed) {
		out->verdict = TETHER_VERDICT_GIVE_UP;
		out->delay_ms = 0;
		out->why = "max_elapsed reached";
		return;
	}
	delay = f->interval;
	if (f->jitter > 0) {
		d = (double)f->interval *
		    (1 + f->jitter * (2 * tether_rng_uniform(rng) - 1));
		delay = d > 0 ? (uint64_t)llround(d) : 0;
	}
	/* the last retry still happens by max_elapsed */
	if (f->max_elapsed && delay > f->max_elapsed - in->elapsed_ms)
		delay = f->max_elapsed - in->elapsed_ms;
	out->verdict = TETHER_VERDICT_RETRY;
	out->delay_ms = delay;
	out->why = NULL;
}

static void fixed_on_success(void *state, uint64_t now_ms)
{
	(void)state;
	(void)now_ms;
}

static int fixed_describe(void *state, char *buf, size_t len)
{
	const struct fixed *f = state;
	char iv[32], me[32];

	tether_duration_format(f->interval, iv, sizeof(iv));
	tether_duration_format(f->max_elapsed, me, sizeof(me));
	return snprintf(
	    buf, len, "interval=%s jitter=%g max_attempts=%llu max_elapsed=%s",
	    iv, f->jitter, (unsigned long long)f->max_attempts, me);
}

const struct tether_policy_ops tth_policy_fixed = {
    .abi = TETHER_POLICY_ABI,
    .name = "fixed",
    .summary = "the same interval before every retry (+/- jitter)",
    .create = fixed_create,
    .destroy = fixed_destroy,
    .next = fixed_next,
    .on_success = fixed_on_success,
    .observe = NULL,
    .describe = fixed_describe,
    .options = fixed_options,
};
