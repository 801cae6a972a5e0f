/*
 * The inbound bound (tether_conn_set_inbound): a connection's messages
 * that a transport reported (tether_transport_message) and the loop has
 * not yet handed to the application are counted, in messages and in
 * payload + topic bytes. The count goes up when a MESSAGE post is made,
 * on the transport's thread, and down when the post is freed, on the
 * loop, delivered or not. tether_transport_message never refuses: what
 * to do when the queue is full is the transport's choice, since only it
 * knows whether it can stop reading (docs/architecture.md, "An inbound
 * message"). A transport with threads of its own waits for room on the
 * connection's condition variable, which the loop signals as it hands
 * messages over; drops are told later, from the loop, one event for
 * every run of them.
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "mailbox-int.h"
#include "mgr-int.h"

int tth_inbound_init(tether_conn *c)
{
	pthread_condattr_t a;
	int rc;

	if (pthread_mutex_init(&c->in.mu, NULL) != 0)
		return TETHER_ENOMEM;
	if (pthread_condattr_init(&a) != 0) {
		pthread_mutex_destroy(&c->in.mu);
		return TETHER_ENOMEM;
	}
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&c->in.cv, &a);
	pthread_condattr_destroy(&a);
	if (rc != 0) {
		pthread_mutex_destroy(&c->in.mu);
		return TETHER_ENOMEM;
	}
	c->in.ready = 1;
	tth_inbound_apply(c);
	return 0;
}

void tth_inbound_cleanup(tether_conn *c)
{
	if (!c->in.ready)
		return;
	pthread_cond_destroy(&c->in.cv);
	pthread_mutex_destroy(&c->in.mu);
	c->in.ready = 0;
}

static int full(const tether_conn *c)
{
	uint64_t n = atomic_load(&c->in.msgs);

	/* one message, however large, always fits in an empty queue */
	return n > 0 && (n >= atomic_load(&c->in.max_msgs) ||
			 atomic_load(&c->in.bytes) >= atomic_load(&c->in.max_bytes));
}

static void wake(tether_conn *c)
{
	if (!atomic_load(&c->in.waiters))
		return;
	pthread_mutex_lock(&c->in.mu);
	pthread_cond_broadcast(&c->in.cv);
	pthread_mutex_unlock(&c->in.mu);
}

void tth_inbound_apply(tether_conn *c)
{
	atomic_store(&c->in.max_msgs, c->set.in_max_messages);
	atomic_store(&c->in.max_bytes, c->set.in_max_bytes);
	if (c->in.ready)
		wake(c);
}

void tth_inbound_add(tether_conn *c, uint64_t bytes)
{
	atomic_fetch_add(&c->in.msgs, 1);
	atomic_fetch_add(&c->in.bytes, bytes);
}

void tth_inbound_done(tether_conn *c, uint64_t bytes)
{
	atomic_fetch_sub(&c->in.msgs, 1);
	atomic_fetch_sub(&c->in.bytes, bytes);
	wake(c);
}

TETHER_EXPORT int tether_conn_set_inbound(tether_conn *c,
					  uint32_t max_messages,
					  uint64_t max_bytes)
{
	if (!c || !max_messages || !max_bytes)
		return TETHER_EINVAL;
	/* plain stores of the settings value: read by the loop only for a
	   reload's comparison, which a racing setter cannot make wrong in a
	   way that matters (the atomics are what the transports read) */
	c->set.in_max_messages = max_messages;
	c->set.in_max_bytes = max_bytes;
	tth_inbound_apply(c);
	return 0;
}

TETHER_EXPORT int tether_transport_inbound_full(const tether_conn *c)
{
	return c && full(c);
}

TETHER_EXPORT int tether_transport_inbound_wait(tether_conn *c, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	if (!c || timeout_ms < 0)
		return TETHER_EINVAL;
	if (!full(c))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	atomic_fetch_add(&c->in.waiters, 1);
	pthread_mutex_lock(&c->in.mu);
	while (full(c) && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&c->in.cv, &c->in.mu, &until);
	pthread_mutex_unlock(&c->in.mu);
	atomic_fetch_sub(&c->in.waiters, 1);
	return full(c) ? TETHER_EFULL : 0;
}

TETHER_EXPORT void tether_transport_inbound_dropped(tether_conn *c,
						    uint32_t attempt, int err,
						    uint64_t n)
{
	_Atomic uint64_t *pend;
	struct tth_post *p;

	if (!c || !n)
		return;
	pend = err == TETHER_ETOOBIG ? &c->in.pend_big : &c->in.pend_full;
	atomic_fetch_add(err == TETHER_ETOOBIG ? &c->in.dropped_big
					       : &c->in.dropped_full,
			 n);
	if (atomic_fetch_add(pend, n) != 0)
		return; /* a post is on its way: it tells these too */
	p = tth_post_new(TTH_POST_IN_DROPPED, c, attempt);
	if (p)
		tth_post(c->mgr, p);
}

/* One event per cause with what was dropped since the last (loop). */
void tth_inbound_report(tether_conn *c)
{
	static const int errs[2] = {TETHER_EFULL, TETHER_ETOOBIG};
	_Atomic uint64_t *pend[2] = {&c->in.pend_full, &c->in.pend_big};

	for (int i = 0; i < 2; i++) {
		uint64_t n = atomic_exchange(pend[i], 0);
		struct tether_event ev;

		if (!n)
			continue;
		tth_event_init(c, TETHER_EV_INBOUND_DROPPED, &ev);
		ev.count = n;
		ev.error = errs[i];
		tth_user_event(c, &ev);
	}
}
