/*
 * The registries of policy and transport types, kept in core.
 *
 * A registry is a table of name -> vtable that only grows: an entry is
 * never removed or replaced, so a vtable pointer read from it stays valid,
 * and so do the names (each is the vtable's own `name`, and a registered
 * vtable must outlive the process). The built-in types are plug-ins like
 * any other: tth_builtins_register() registers them once, through the same
 * tether_policy_register() and tether_transport_register() a third party
 * calls, before the first registration, lookup or listing.
 */
#ifndef TETHER_REGISTRY_INT_H
#define TETHER_REGISTRY_INT_H

#include <pthread.h>
#include <stddef.h>

#include <tether/policy.h>

/* Entries held in the registry itself: enough for the built-ins and the
 * usual third party without an allocation. */
#define TTH_REGISTRY_SLOTS 16

struct tth_reg_entry {
	const char *name; /* borrowed from the vtable */
	const void *ops;
};

struct tth_registry {
	pthread_mutex_t lock;
	struct tth_reg_entry slots[TTH_REGISTRY_SLOTS];
	struct tth_reg_entry *heap; /* every entry, once past the slots */
	size_t n, cap;		    /* cap 0: the slots are in use */
};

#define TTH_REGISTRY_INIT {.lock = PTHREAD_MUTEX_INITIALIZER}

/* Add name -> ops. Returns 0, TETHER_EEXIST (name taken), TETHER_ENOMEM. */
int tth_registry_add(struct tth_registry *r, const char *name,
		     const void *ops);

/* The vtable registered under name, or NULL. */
const void *tth_registry_find(struct tth_registry *r, const char *name);

/* Number of entries, and the vtable at an index (registration order) or
 * NULL past the end. */
size_t tth_registry_count(struct tth_registry *r);
const void *tth_registry_at(struct tth_registry *r, size_t i);

/* Register the built-in policies and transports, once per process; every
 * registry entry point calls it first. Thread-safe. */
void tth_builtins_register(void);

/* A policy instance: its type and the state its create() made. */
struct tether_policy {
	const struct tether_policy_ops *ops;
	void *state;
};

/*
 * The registered policy type names joined by ", ", whole names only,
 * ending in "..." when they do not all fit. Returns the length written.
 */
int tth_policy_names(char *buf, size_t len);

/* The registered policy type name nearest to name (edit distance <= 2),
 * or NULL. */
const char *tth_policy_suggest(const char *name);

#endif
