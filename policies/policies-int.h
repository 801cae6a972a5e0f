/* The built-in policy vtables (registered by policies/registry.c). */
#ifndef TETHER_POLICIES_INT_H
#define TETHER_POLICIES_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tether/policy.h>

extern const struct tether_policy_ops tth_policy_fixed;
extern const struct tether_policy_ops tth_policy_exponential;
extern const struct tether_policy_ops tth_policy_adaptive;
extern const struct tether_policy_ops tth_policy_breaker;

/* A policy instance: its type and the state its create() made. */
struct tether_policy {
	const struct tether_policy_ops *ops;
	void *state;
};

/*
 * The registered type names joined by ", ", whole names only, ending in
 * "..." when they do not all fit. Returns the length written.
 */
int tth_policy_names(char *buf, size_t len);

/* The registered type name nearest to name (edit distance <= 2), or NULL. */
const char *tth_policy_suggest(const char *name);

/* For tests: a breaker state's position: 0 closed, 1 open, 2 half-open. */
int tth_breaker_state(const void *state, uint64_t now_ms);

#endif
