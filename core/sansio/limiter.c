/* The manager-wide connect limiter: token bucket, in-flight cap, FIFO. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>

#include "limiter-int.h"
#include "util-int.h"

#define TTH_MICRO 1000000u /* micro-tokens per token */
/* Keeps burst * TTH_MICRO and the refill products inside 64 bits. */
#define TTH_BURST_MAX (UINT64_MAX / TTH_MICRO / 2)
#define TTH_RATE_MILLI_MAX 1000000000000000ull /* 10^12 tokens/s */

static uint64_t rate_to_milli(double rate)
{
	double m;

	/* Also catches NaN: every comparison with it is false. */
	if (!(rate > 0))
		return 0;
	m = rate * 1000.0;
	if (m >= (double)TTH_RATE_MILLI_MAX)
		return TTH_RATE_MILLI_MAX;
	/* A tiny positive rate must stay a limit, not round to "unlimited". */
	if (m < 1.0)
		return 1;
	return (uint64_t)llround(m);
}

static uint64_t clamp_burst(uint64_t burst)
{
	if (burst < 1)
		return 1;
	return burst > TTH_BURST_MAX ? TTH_BURST_MAX : burst;
}

static uint64_t bucket_full(const struct tth_limiter *l)
{
	return l->burst * TTH_MICRO;
}

static void refill(struct tth_limiter *l, uint64_t now_ms)
{
	uint64_t full = bucket_full(l);
	uint64_t elapsed, need;

	/* A clock that steps back neither refills nor moves last_ms back, so
	 * the same interval is never credited twice. */
	if (now_ms <= l->last_ms) {
		if (l->rate_milli == 0)
			l->tokens_u = full;
		return;
	}
	elapsed = now_ms - l->last_ms;
	l->last_ms = now_ms;
	if (l->rate_milli == 0 || l->tokens_u >= full) {
		l->tokens_u = full;
		return;
	}
	need = full - l->tokens_u;
	/* Past this many ms the bucket is full anyway; below it the product is
	 * smaller than need, so it cannot overflow. */
	if (elapsed >= (need + l->rate_milli - 1) / l->rate_milli)
		l->tokens_u = full;
	else
		l->tokens_u += elapsed * l->rate_milli;
}

static int has_token(const struct tth_limiter *l)
{
	return l->rate_milli == 0 || l->tokens_u >= TTH_MICRO;
}

static int has_slot(const struct tth_limiter *l)
{
	return l->max_connecting == 0 || l->connecting < l->max_connecting;
}

static void take(struct tth_limiter *l)
{
	if (l->rate_milli != 0)
		l->tokens_u -= TTH_MICRO;
	/* Counted even without a cap, so a cap set later sees what is in
	 * flight. */
	l->connecting++;
	l->granted_total++;
}

static void unlink_waiter(struct tth_limiter *l, struct tth_waiter *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->queued = 0;
	l->waiting--;
}

void tth_limiter_init(struct tth_limiter *l, double rate, uint64_t burst,
		      uint32_t max_connecting, uint64_t now_ms)
{
	l->rate_milli = rate_to_milli(rate);
	l->burst = clamp_burst(burst);
	l->max_connecting = max_connecting;
	l->tokens_u = bucket_full(l);
	l->last_ms = now_ms;
	l->connecting = 0;
	l->head.prev = l->head.next = &l->head;
	l->head.queued = 0;
	l->waiting = 0;
	l->granted_total = 0;
	l->queued_total = 0;
}

void tth_limiter_configure(struct tth_limiter *l, double rate, uint64_t burst,
			   uint32_t max_connecting, uint64_t now_ms)
{
	/* Time until now was earned at the old rate. */
	refill(l, now_ms);
	l->rate_milli = rate_to_milli(rate);
	l->burst = clamp_burst(burst);
	l->max_connecting = max_connecting;
	if (l->rate_milli == 0 || l->tokens_u > bucket_full(l))
		l->tokens_u = bucket_full(l);
}

void tth_limiter_waiter_init(struct tth_waiter *w)
{
	w->prev = w->next = NULL;
	w->queued = 0;
}

int tth_limiter_acquire(struct tth_limiter *l, struct tth_waiter *w,
			uint64_t now_ms)
{
	refill(l, now_ms);
	if (l->waiting == 0 && has_token(l) && has_slot(l)) {
		take(l);
		return 1;
	}
	w->next = &l->head;
	w->prev = l->head.prev;
	l->head.prev->next = w;
	l->head.prev = w;
	w->queued = 1;
	l->waiting++;
	l->queued_total++;
	return 0;
}

void tth_limiter_cancel(struct tth_limiter *l, struct tth_waiter *w)
{
	if (w->queued)
		unlink_waiter(l, w);
}

void tth_limiter_release(struct tth_limiter *l)
{
	if (l->connecting > 0)
		l->connecting--;
}

struct tth_waiter *tth_limiter_grant_next(struct tth_limiter *l,
					  uint64_t now_ms)
{
	struct tth_waiter *w;

	refill(l, now_ms);
	if (l->waiting == 0 || !has_token(l) || !has_slot(l))
		return NULL;
	w = l->head.next;
	unlink_waiter(l, w);
	take(l);
	return w;
}

uint64_t tth_limiter_next_ms(struct tth_limiter *l, uint64_t now_ms)
{
	uint64_t deficit;

	refill(l, now_ms);
	if (l->waiting == 0)
		return TTH_NEVER;
	if (has_token(l))
		return has_slot(l) ? now_ms : TTH_NEVER;
	deficit = TTH_MICRO - l->tokens_u;
	/* last_ms, not now_ms: they differ only if the clock stepped back. */
	return l->last_ms + (deficit + l->rate_milli - 1) / l->rate_milli;
}
