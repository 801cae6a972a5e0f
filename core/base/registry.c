/*
 * A registry of named vtables (see registry-int.h): the storage behind the
 * policy and transport registries. Each call takes the registry's lock;
 * entries are only ever appended, so what a caller read stays valid.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "registry-int.h"

static struct tth_reg_entry *entries(struct tth_registry *r)
{
	return r->heap ? r->heap : r->slots;
}

static const void *find_locked(struct tth_registry *r, const char *name)
{
	const struct tth_reg_entry *e = entries(r);

	for (size_t i = 0; i < r->n; i++)
		if (strcmp(e[i].name, name) == 0)
			return e[i].ops;
	return NULL;
}

int tth_registry_add(struct tth_registry *r, const char *name,
		     const void *ops)
{
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (find_locked(r, name)) {
		rc = TETHER_EEXIST;
		goto out;
	}
	if (r->n == (r->heap ? r->cap : TTH_REGISTRY_SLOTS)) {
		size_t cap = 2 * r->n;
		struct tth_reg_entry *v;

		if (r->heap) {
			v = realloc(r->heap, cap * sizeof(*v));
		} else {
			v = malloc(cap * sizeof(*v));
			if (v)
				memcpy(v, r->slots, sizeof(r->slots));
		}
		if (!v) {
			rc = TETHER_ENOMEM;
			goto out;
		}
		r->heap = v;
		r->cap = cap;
	}
	entries(r)[r->n].name = name;
	entries(r)[r->n].ops = ops;
	r->n++;
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

const void *tth_registry_find(struct tth_registry *r, const char *name)
{
	const void *ops;

	pthread_mutex_lock(&r->lock);
	ops = find_locked(r, name);
	pthread_mutex_unlock(&r->lock);
	return ops;
}

size_t tth_registry_count(struct tth_registry *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

const void *tth_registry_at(struct tth_registry *r, size_t i)
{
	const void *ops;

	pthread_mutex_lock(&r->lock);
	ops = i < r->n ? entries(r)[i].ops : NULL;
	pthread_mutex_unlock(&r->lock);
	return ops;
}
