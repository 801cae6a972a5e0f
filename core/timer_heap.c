/* Intrusive binary min-heap of timers ordered by (due_ms, seq). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>

#include <tether/tether.h>

#include "timer_heap-int.h"

#define TTH_HEAP_MIN_CAP 16

static int timer_before(const struct tth_timer *a, const struct tth_timer *b)
{
	if (a->due_ms != b->due_ms)
		return a->due_ms < b->due_ms;
	return a->seq < b->seq;
}

static void heap_place(struct tth_heap *h, size_t i, struct tth_timer *t)
{
	h->v[i] = t;
	t->idx = i;
}

/* Moves the hole at i towards the root until t fits there. */
static void sift_up(struct tth_heap *h, size_t i, struct tth_timer *t)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, h->v[parent]))
			break;
		heap_place(h, i, h->v[parent]);
		i = parent;
	}
	heap_place(h, i, t);
}

/* Moves the hole at i towards the leaves until t fits there. */
static void sift_down(struct tth_heap *h, size_t i, struct tth_timer *t)
{
	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n &&
		    timer_before(h->v[child + 1], h->v[child]))
			child++;
		if (!timer_before(h->v[child], t))
			break;
		heap_place(h, i, h->v[child]);
		i = child;
	}
	heap_place(h, i, t);
}

/* Restores the heap property for a timer whose key changed at slot i. */
static void heap_fix(struct tth_heap *h, size_t i, struct tth_timer *t)
{
	if (i > 0 && timer_before(t, h->v[(i - 1) / 2]))
		sift_up(h, i, t);
	else
		sift_down(h, i, t);
}

static int heap_grow(struct tth_heap *h)
{
	size_t cap;
	struct tth_timer **v;

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
	struct tth_timer *t = h->v[i];
	struct tth_timer *last = h->v[--h->n];

	t->idx = SIZE_MAX;
	if (last != t)
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
	if (tth_timer_armed(t)) {
		t->due_ms = due_ms;
		t->seq = h->seq++;
		heap_fix(h, t->idx, t);
		return 0;
	}
	if (h->n == h->cap) {
		int rc = heap_grow(h);

		if (rc < 0)
			return rc;
	}
	t->due_ms = due_ms;
	t->seq = h->seq++;
	h->n++;
	sift_up(h, h->n - 1, t);
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
	return h->n ? h->v[0] : NULL;
}

struct tth_timer *tth_heap_pop_due(struct tth_heap *h, uint64_t now_ms)
{
	struct tth_timer *t = tth_heap_peek(h);

	if (!t || t->due_ms > now_ms)
		return NULL;
	heap_remove_at(h, 0);
	return t;
}

size_t tth_heap_size(const struct tth_heap *h)
{
	return h->n;
}
