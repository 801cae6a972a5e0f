/*
 * A 4-ary min-heap of timers embedded in their owners (intrusive): arm,
 * re-arm and cancel are O(log n) with no allocation per timer. Timers due
 * at the same millisecond pop in the order they were armed. Time is plain
 * milliseconds from whatever clock the owner uses (virtual in tests).
 * Single-threaded.
 */
#ifndef TETHER_TIMER_HEAP_INT_H
#define TETHER_TIMER_HEAP_INT_H

#include <stddef.h>
#include <stdint.h>

struct tth_timer {
	uint64_t due_ms;
	uint64_t seq; /* arm order, breaks ties */
	size_t idx;   /* slot in the heap; SIZE_MAX when not armed */
};

/* Children per node (timer_heap.c says why four). */
#define TTH_HEAP_ARITY 4

/* A slot of the heap: the timer's keys, inline, and the timer. */
struct tth_heap_entry {
	uint64_t due_ms;
	uint64_t seq;
	struct tth_timer *t;
};

struct tth_heap {
	struct tth_heap_entry *v;
	size_t n, cap;
	uint64_t seq;
};

void tth_heap_init(struct tth_heap *h);
/* Frees the heap's array; armed timers are simply forgotten. */
void tth_heap_cleanup(struct tth_heap *h);
/* Mark a timer as not armed. Call once before first use. */
void tth_timer_init(struct tth_timer *t);
int tth_timer_armed(const struct tth_timer *t);
/* Arm (or re-arm) t to fire at due_ms. 0, or TETHER_ENOMEM (t untouched). */
int tth_heap_arm(struct tth_heap *h, struct tth_timer *t, uint64_t due_ms);
/* Disarm t; no-op when it is not armed. */
void tth_heap_cancel(struct tth_heap *h, struct tth_timer *t);
/* Earliest timer, or NULL. */
struct tth_timer *tth_heap_peek(const struct tth_heap *h);
/* Remove and return the earliest timer if due_ms <= now_ms, else NULL. */
struct tth_timer *tth_heap_pop_due(struct tth_heap *h, uint64_t now_ms);
size_t tth_heap_size(const struct tth_heap *h);

#endif
