/*
 * The manager-wide connect limiter (docs/architecture.md): a token bucket
 * (connects_per_second, burst) and a cap on attempts in flight
 * (max_connecting), with FIFO waiters. Sans-I/O: the caller passes the
 * time and arms a timer for tth_limiter_next_ms().
 *
 * Arithmetic is exact integers: the bucket holds micro-tokens and refills
 * rate_milli micro-tokens per millisecond, where rate_milli is the rate in
 * tokens per 1000 s (so rates with up to three decimals are exact). Over any
 * window of W ms the grants never exceed burst + rate * W / 1000.
 */
#ifndef TETHER_LIMITER_INT_H
#define TETHER_LIMITER_INT_H

#include <stddef.h>
#include <stdint.h>

struct tth_waiter {
	struct tth_waiter *prev, *next;
	int queued;
};

struct tth_limiter {
	uint64_t rate_milli;     /* tokens per 1000 s; 0 = no rate limit */
	uint64_t burst;          /* bucket size in tokens (>= 1) */
	uint32_t max_connecting; /* 0 = no cap */
	uint64_t tokens_u;       /* micro-tokens in the bucket */
	uint64_t last_ms;        /* time of the last refill */
	uint32_t connecting;     /* granted and not yet released */
	struct tth_waiter head;  /* sentinel of the FIFO */
	size_t waiting;
	uint64_t granted_total;
	uint64_t queued_total;   /* acquisitions that had to wait */
};

/* rate in tokens/s (0 = unlimited), burst >= 1, max_connecting 0 = no cap.
 * The bucket starts full. */
void tth_limiter_init(struct tth_limiter *l, double rate, uint64_t burst,
		      uint32_t max_connecting, uint64_t now_ms);
/* Change the settings live; tokens are kept (clamped to the new burst). */
void tth_limiter_configure(struct tth_limiter *l, double rate, uint64_t burst,
			   uint32_t max_connecting, uint64_t now_ms);
void tth_limiter_waiter_init(struct tth_waiter *w);
/* Ask for a connect token and a connecting slot. Returns 1 when granted at
 * once (nobody waiting, a token and a slot free), else queues w at the tail
 * and returns 0. w must not be queued already. */
int tth_limiter_acquire(struct tth_limiter *l, struct tth_waiter *w,
			uint64_t now_ms);
/* Remove w from the queue; no-op when not queued. */
void tth_limiter_cancel(struct tth_limiter *l, struct tth_waiter *w);
/* An attempt that was granted has finished (up, failed or aborted). */
void tth_limiter_release(struct tth_limiter *l);
/* Grant the head waiter if a token and a slot are free now: it is dequeued
 * and returned; else NULL. Call in a loop until NULL. */
struct tth_waiter *tth_limiter_grant_next(struct tth_limiter *l,
					  uint64_t now_ms);
/* When to call grant_next again: now_ms if the head can be granted now, the
 * time the bucket will hold a token, or TTH_NEVER when nobody waits or the
 * head waits only for a connecting slot (a release will make progress). */
uint64_t tth_limiter_next_ms(struct tth_limiter *l, uint64_t now_ms);

#endif
