/* Intrusive 4-ary min-heap of timers ordered by (due_ms, seq). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>

#include <tether/tether.h>

#include "timer_heap-int.h"

#define TTH_HEAP_MIN_CAP 16

/*
 * The keys are kept in the heap's array next to the timer pointer, so a
 * sift compares entries in one contiguous array instead of reaching into
 * timers scattered over every connection (at 10,000 connections the cache
 * misses of that were most of the heap's cost). The timer keeps a copy of
 * its due time for its owner, and its slot.
 *
 * Four children per node, not two: a sift writes the new slot into every
 * timer it moves, and those timers sit in connections all over memory, so
 * each level costs a cache miss; four children halve the levels (7 for
 * 10,000 connections' timers instead of 14) for a few more comparisons
 * within one array (perf at 10,000 idle WebSocket links: the binary
 * heap's sift was 11 % of the process's CPU; docs/BENCHMARKS.md).
 */
#define ARITY TTH_HEAP_ARITY
static int entry_before(const struct tth_heap_entry *a,
			const struct tth_heap_entry *b)
{
	if (a->due_ms != b->due_ms)
		return a->due_ms < b->due_ms;
	return a->seq < b->seq;
}

static void heap_place(struct tth_heap *h, size_t i,
		       const struct tth_heap_entry *e)
{
	h->v[i] = *e;
	e->t->idx = i;
}

/* Moves the hole at i towards the root until e fits there. */
static void sift_up(struct tth_heap *h, size_t i, struct tth_heap_entry e)
{
	while (i > 0) {
		size_t parent = (i - 1) / ARITY;

		if (!entry_before(&e, &h->v[parent]))
			break;
		heap_place(h, i, &h->v[parent]);
		i = parent;
	}
	heap_place(h, i, &e);
}

/* Moves the hole at i towards the leaves until e fits there. */
static void sift_down(struct tth_heap *h, size_t i, struct tth_heap_entry e)
{
	for (;;) {
		size_t first = ARITY * i + 1, child = first, end;

		if (first >= h->n)
			break;
		end = h->n - first < ARITY ? h->n : first + ARITY;
		for (size_t k = first + 1; k < end; k++)
			if (entry_before(&h->v[k], &h->v[child]))
				child = k;
		if (!entry_before(&h->v[child], &e))
			break;
		heap_place(h, i, &h->v[child]);
		i = child;
	}
	heap_place(h, i, &e);
}

/* Restores the heap property for a timer whose key changed at slot i. */
static void heap_fix(struct tth_heap *h, size_t i, struct tth_heap_entry e)
{
	if (i > 0 && entry_before(&e, &h->v[(i - 1) / ARITY]))
		sift_up(h, i, e);
	else
		sift_down(h, i, e);
}

static int heap_grow(struct tth_heap *h)
{
	size_t cap;
	struct tth_heap_entry *v;

	if (h->cap > SIZE_MAX / 2 / sizeof(*h->v))
		return TETHER_ENOMEM;
	cap = h->cap ? h->cap * 2 : TTH_HEAP_MIN_CAP;
	v = realloc(h->v, cap * sizeof(*v));
	if (!v)
		return TETHER_ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

static void heap_remove_at(struct tth_heap *h, size_t i)
{
	struct tth_timer *t = h->v[i].t;
	struct tth_heap_entry last = h->v[--h->n];

	t->idx = SIZE_MAX;
	if (last.t != t)
		heap_fix(h, i, last);
}

void tth_heap_init(struct tth_heap *h)
{
	h->v = NULL;
	h->n = 0;
	h->cap = 0;
	h->seq = 0;
}

void tth_heap_cleanup(struct tth_heap *h)
{
	/* The owners may already be gone, so their timers are not touched. */
	free(h->v);
	tth_heap_init(h);
}

void tth_timer_init(struct tth_timer *t)
{
	t->due_ms = 0;
	t->seq = 0;
	t->idx = SIZE_MAX;
}

int tth_timer_armed(const struct tth_timer *t)
{
	return t->idx != SIZE_MAX;
}

int tth_heap_arm(struct tth_heap *h, struct tth_timer *t, uint64_t due_ms)
{
	struct tth_heap_entry e;

	if (tth_timer_armed(t)) {
		t->due_ms = due_ms;
		t->seq = h->seq++;
		e.due_ms = due_ms;
		e.seq = t->seq;
		e.t = t;
		heap_fix(h, t->idx, e);
		return 0;
	}
	if (h->n == h->cap) {
		int rc = heap_grow(h);

		if (rc < 0)
			return rc;
	}
	t->due_ms = due_ms;
	t->seq = h->seq++;
	e.due_ms = due_ms;
	e.seq = t->seq;
	e.t = t;
	h->n++;
	sift_up(h, h->n - 1, e);
	return 0;
}

void tth_heap_cancel(struct tth_heap *h, struct tth_timer *t)
{
	if (!tth_timer_armed(t))
		return;
	heap_remove_at(h, t->idx);
}

struct tth_timer *tth_heap_peek(const struct tth_heap *h)
{
	return h->n ? h->v[0].t : NULL;
}

struct tth_timer *tth_heap_pop_due(struct tth_heap *h, uint64_t now_ms)
{
	struct tth_timer *t;

	if (!h->n || h->v[0].due_ms > now_ms)
		return NULL;
	t = h->v[0].t;
	heap_remove_at(h, 0);
	return t;
}

size_t tth_heap_size(const struct tth_heap *h)
{
	return h->n;
}
