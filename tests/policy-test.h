/* Helpers shared by the policy suites: build a policy from YAML text, ask
 * it for decisions, and gather delay statistics over many draws. Every
 * helper fails the running test (ck_assert) when a step it relies on fails. */
#ifndef TETHER_POLICY_TEST_H
#define TETHER_POLICY_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <tether/policy.h>

/* The loop clock when pt_ask's failure streak began: far from 0, so a
 * policy that confuses now_ms with elapsed_ms shows it. */
#define PT_START_MS 1000000

/* Parse text (named file in messages); the parse must succeed. */
tether_params *pt_params(const char *file, const char *text);

/* A policy from text; creating it must succeed. */
tether_policy *pt_make(const char *file, const char *text);

/* Try to create a policy from text, which must parse. On success the
 * policy is freed; on failure the out handle must have been set to NULL.
 * Returns tether_policy_new's code; its message is in err. */
int pt_try_new(const char *file, const char *text, char *err, size_t errlen);

/* The decision after a transient failure, attempt `attempt`, elapsed_ms
 * into a streak that began at PT_START_MS. */
struct tether_policy_decision pt_ask(tether_policy *pol, uint32_t attempt,
				     uint64_t elapsed_ms,
				     struct tether_rng *rng);

/* The decision after a transient failure at now_ms (elapsed_ms 0). */
struct tether_policy_decision pt_ask_at(tether_policy *pol, uint32_t attempt,
					uint64_t now_ms,
					struct tether_rng *rng);

/* The delay after a failure for reason r; the verdict must be RETRY. */
uint64_t pt_retry(tether_policy *pol, uint32_t attempt,
		  const struct tether_reason *r, struct tether_rng *rng);

/* pt_ask must give up, with `why`. */
void pt_expect_give_up(tether_policy *pol, uint32_t attempt,
		       uint64_t elapsed_ms, const char *why,
		       struct tether_rng *rng);

/* Delays seen over many decisions. */
struct pt_stats {
	int n;
	uint64_t lo, hi;
	double sum;
	int decile[10]; /* pt_draw: counts per tenth of [min, max] */
};

void pt_stats_init(struct pt_stats *st);
void pt_stats_add(struct pt_stats *st, uint64_t delay_ms);
double pt_stats_mean(const struct pt_stats *st);

/* n decisions from pt_ask(pol, attempt, 0): each must be a RETRY with a
 * delay in [min, max]; st gathers them. */
void pt_draw(tether_policy *pol, uint32_t attempt, int n, uint64_t min,
	     uint64_t max, struct tether_rng *rng, struct pt_stats *st);

#endif
