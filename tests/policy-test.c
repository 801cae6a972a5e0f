/* Helpers shared by the policy suites (see policy-test.h). */
#include "config.h"

#include <check.h>
#include <string.h>

#include "params-int.h"
#include "policy-test.h"

static const struct tether_reason transient = {.cls = TETHER_CLASS_TRANSIENT};

tether_params *pt_params(const char *file, const char *text)
{
	tether_params *y = NULL;
	char err[512];

	ck_assert_msg(tth_params_from_yaml(text, strlen(text), file, &y, err,
					   sizeof(err)) == 0,
		      "%s", err);
	return y;
}

tether_policy *pt_make(const char *file, const char *text)
{
	tether_params *y = pt_params(file, text);
	tether_policy *pol = NULL;
	char err[512];

	ck_assert_msg(tether_policy_new(y, &pol, err, sizeof(err)) == 0, "%s",
		      err);
	tether_params_free(y);
	return pol;
}

int pt_try_new(const char *file, const char *text, char *err, size_t errlen)
{
	tether_params *y = pt_params(file, text);
	tether_policy *pol = (tether_policy *)1;
	int rc = tether_policy_new(y, &pol, err, errlen);

	if (rc == 0)
		tether_policy_free(pol);
	else
		ck_assert_ptr_null(pol);
	tether_params_free(y);
	return rc;
}

static struct tether_policy_decision decide(tether_policy *pol,
					    uint32_t attempt, uint64_t now_ms,
					    uint64_t elapsed_ms,
					    const struct tether_reason *r,
					    struct tether_rng *rng)
{
	struct tether_policy_input in = {.attempt = attempt,
					 .now_ms = now_ms,
					 .elapsed_ms = elapsed_ms,
					 .reason = r};
	struct tether_policy_decision d;

	tether_policy_next(pol, &in, rng, &d);
	return d;
}

struct tether_policy_decision pt_ask(tether_policy *pol, uint32_t attempt,
				     uint64_t elapsed_ms,
				     struct tether_rng *rng)
{
	return decide(pol, attempt, PT_START_MS + elapsed_ms, elapsed_ms,
		      &transient, rng);
}

struct tether_policy_decision pt_ask_at(tether_policy *pol, uint32_t attempt,
					uint64_t now_ms, struct tether_rng *rng)
{
	return decide(pol, attempt, now_ms, 0, &transient, rng);
}

uint64_t pt_retry(tether_policy *pol, uint32_t attempt,
		  const struct tether_reason *r, struct tether_rng *rng)
{
	struct tether_policy_decision d =
	    decide(pol, attempt, PT_START_MS, 0, r, rng);

	ck_assert_int_eq(d.verdict, TETHER_VERDICT_RETRY);
	return d.delay_ms;
}

void pt_expect_give_up(tether_policy *pol, uint32_t attempt,
		       uint64_t elapsed_ms, const char *why,
		       struct tether_rng *rng)
{
	struct tether_policy_decision d = pt_ask(pol, attempt, elapsed_ms, rng);

	ck_assert_int_eq(d.verdict, TETHER_VERDICT_GIVE_UP);
	ck_assert_str_eq(d.why, why);
}

void pt_stats_init(struct pt_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->lo = UINT64_MAX;
}

void pt_stats_add(struct pt_stats *st, uint64_t delay_ms)
{
	st->n++;
	st->sum += (double)delay_ms;
	st->lo = delay_ms < st->lo ? delay_ms : st->lo;
	st->hi = delay_ms > st->hi ? delay_ms : st->hi;
}

double pt_stats_mean(const struct pt_stats *st)
{
	ck_assert_int_gt(st->n, 0);
	return st->sum / st->n;
}

void pt_draw(tether_policy *pol, uint32_t attempt, int n, uint64_t min,
	     uint64_t max, struct tether_rng *rng, struct pt_stats *st)
{
	pt_stats_init(st);
	for (int i = 0; i < n; i++) {
		struct tether_policy_decision d = pt_ask(pol, attempt, 0, rng);

		ck_assert_int_eq(d.verdict, TETHER_VERDICT_RETRY);
		ck_assert_uint_ge(d.delay_ms, min);
		ck_assert_uint_le(d.delay_ms, max);
		pt_stats_add(st, d.delay_ms);
		st->decile[(d.delay_ms - min) * 10 / (max - min + 1)]++;
	}
}
