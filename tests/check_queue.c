/* Unit tests for the outbound message queue (core/store/queue.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/tether.h>

#include "check-int.h"
#include "queue-int.h"
#include "util-int.h"

static struct tth_queue q;
static struct tth_qout out;

static void limits(struct tth_queue_limits *l, uint32_t n, uint64_t bytes,
		   enum tether_overflow ov, uint64_t ttl)
{
	l->max_messages = n;
	l->max_bytes = bytes;
	l->overflow = ov;
	l->ttl_ms = ttl;
}

static void start(uint32_t n, uint64_t bytes, enum tether_overflow ov,
		  uint64_t ttl)
{
	struct tth_queue_limits l;

	limits(&l, n, bytes, ov, ttl);
	tth_queue_init(&q, &l);
	tth_qout_init(&out);
}

static void teardown(void)
{
	tth_queue_cleanup(&q);
	tth_qout_free_all(&out);
}

/* A message with a len-byte payload (and topic "t" when topic != 0). */
static struct tth_qentry *entry(uint64_t id, size_t len, int qos,
				uint64_t ttl)
{
	static char buf[256];
	struct tether_message m;
	struct tth_qentry *e;

	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	memset(buf, 'a' + (int)(id % 26), sizeof(buf));
	m.payload = buf;
	m.len = len;
	m.qos = qos;
	m.ttl_ms = ttl;
	e = tth_qentry_new(&m, id);
	ck_assert_ptr_nonnull(e);
	return e;
}

static int push(uint64_t id, size_t len)
{
	struct tth_qentry *e = entry(id, len, 1, 0);
	int rc = tth_queue_push(&q, e, 0, &out);

	if (rc != 0)
		tth_qentry_free(e);
	return rc;
}

static int push_first(uint64_t id, size_t len)
{
	struct tth_qentry *e = entry(id, len, 0, 0);
	int rc = tth_queue_push_first(&q, e, 0, &out);

	if (rc != 0)
		tth_qentry_free(e);
	return rc;
}

/* Takes one and returns its id (asserts there is one). */
static uint64_t take(void)
{
	struct tth_qentry *e = tth_queue_take(&q);

	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->where, TTH_Q_INFLIGHT);
	return e->id;
}

static void settle(uint64_t id)
{
	struct tth_qentry *e = tth_queue_settle(&q, id);

	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->id, id);
	tth_qentry_free(e);
}

/* Pops one dropped entry and checks its id and error. */
static void assert_dropped(uint64_t id, int err)
{
	struct tth_qentry *e = tth_qout_pop(&out);

	ck_assert_msg(e != NULL, "expected %llu dropped", (unsigned long long)id);
	ck_assert_uint_eq(e->id, id);
	ck_assert_int_eq(e->err, err);
	ck_assert_int_eq(e->where, TTH_Q_OUT);
	tth_qentry_free(e);
}

/* The ids of WAITING, front to back, as a string "1 2 3". */
static const char *waiting_ids(void)
{
	static char s[512];
	const struct tth_qentry *e;
	size_t n = 0;

	s[0] = '\0';
	for (e = q.waiting.head; e; e = e->next)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%s%llu",
				      n ? " " : "", (unsigned long long)e->id);
	return s;
}

/* --- basics ----------------------------------------------------------- */

START_TEST(test_queue_entry_copies_message)
{
	struct tether_message m;
	char topic[] = "a/b";
	char payload[] = "hello";
	struct tth_qentry *e;

	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.topic = topic;
	m.payload = payload;
	m.len = 5;
	m.qos = 2;
	m.retain = 1;
	m.binary = 1;
	m.ttl_ms = 77;
	e = tth_qentry_new(&m, 42);
	ck_assert_ptr_nonnull(e);
	topic[0] = 'X';
	payload[0] = 'X';
	ck_assert_str_eq(e->msg.topic, "a/b");
	ck_assert_int_eq(memcmp(e->msg.payload, "hello", 5), 0);
	ck_assert_uint_eq(e->msg.len, 5);
	ck_assert_int_eq(e->msg.qos, 2);
	ck_assert_int_eq(e->msg.retain, 1);
	ck_assert_int_eq(e->msg.binary, 1);
	ck_assert_uint_eq(e->msg.ttl_ms, 77);
	ck_assert_uint_eq(e->id, 42);
	ck_assert_uint_eq(e->bytes, 8);
	tth_qentry_free(e);

	m.topic = NULL; /* WebSocket: no topic, empty payload */
	m.payload = NULL;
	m.len = 0;
	e = tth_qentry_new(&m, 1);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_null(e->msg.topic);
	ck_assert_uint_eq(e->bytes, 0);
	tth_qentry_free(e);
}
END_TEST

START_TEST(test_queue_fifo_take_settle)
{
	uint64_t i;

	start(10, 1000, TETHER_OVERFLOW_REJECT, 0);
	for (i = 1; i <= 5; i++)
		ck_assert_int_eq(push(i, 10), 0);
	ck_assert_uint_eq(tth_queue_waiting(&q), 5);
	ck_assert_uint_eq(tth_queue_bytes(&q), 50);
	ck_assert_uint_eq(tth_queue_peek(&q)->id, 1);
	ck_assert_uint_eq(take(), 1);
	ck_assert_uint_eq(take(), 2);
	ck_assert_uint_eq(tth_queue_waiting(&q), 3);
	ck_assert_uint_eq(tth_queue_inflight(&q), 2);
	ck_assert_uint_eq(tth_queue_bytes(&q), 50); /* inflight counts */
	settle(2);                                  /* out of order */
	settle(1);
	ck_assert_ptr_null(tth_queue_settle(&q, 1)); /* settled already */
	ck_assert_ptr_null(tth_queue_settle(&q, 3)); /* waiting, not sent */
	ck_assert_ptr_null(tth_queue_settle(&q, 99));
	ck_assert_uint_eq(tth_queue_bytes(&q), 30);
	ck_assert_uint_eq(take(), 3);
	ck_assert_uint_eq(take(), 4);
	ck_assert_uint_eq(take(), 5);
	ck_assert_ptr_null(tth_queue_take(&q));
	ck_assert_ptr_null(tth_queue_peek(&q));
	ck_assert_uint_eq(out.n, 0);
	ck_assert_uint_eq(q.pushed, 5);
	ck_assert_uint_eq(q.taken, 5);
	ck_assert_uint_eq(q.settled, 2);
}
END_TEST

START_TEST(test_queue_refuses_bad_pushes)
{
	struct tth_qentry *e;

	start(10, 100, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(push(1, 101), TETHER_ETOOBIG);
	ck_assert_int_eq(push(1, 100), 0);
	ck_assert_int_eq(push(1, 0), TETHER_EEXIST);
	e = tth_queue_find(&q, 1);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(tth_queue_push(&q, e, 0, &out), TETHER_EINVAL);
	ck_assert_int_eq(tth_queue_push(&q, NULL, 0, &out), TETHER_EINVAL);
	ck_assert_uint_eq(tth_queue_waiting(&q), 1);
	ck_assert_uint_eq(out.n, 0);
	ck_assert_uint_eq(q.pushed, 1);
}
END_TEST

/* --- overflow ---------------------------------------------------------- */

START_TEST(test_queue_drop_oldest_by_count)
{
	start(3, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(push(1, 1), 0);
	ck_assert_int_eq(push(2, 1), 0);
	ck_assert_int_eq(push(3, 1), 0);
	ck_assert_int_eq(push(4, 1), 0);
	assert_dropped(1, TETHER_EFULL);
	ck_assert_str_eq(waiting_ids(), "2 3 4");
	ck_assert_ptr_null(tth_queue_find(&q, 1));
}
END_TEST

/* Recovered from the spool: taken past the bounds, never an overflow
   victim (DROP_OLDEST, DROP_NEWEST, REJECT, set_limits), also after a
   requeue; the bounds hold again once they drain. */
START_TEST(test_queue_recovered_are_never_overflow_victims)
{
	static const enum tether_overflow ov[] = {TETHER_OVERFLOW_DROP_OLDEST,
						  TETHER_OVERFLOW_DROP_NEWEST,
						  TETHER_OVERFLOW_REJECT};
	struct tth_queue_limits l;

	for (size_t k = 0; k < 3; k++) {
		start(2, 1000, ov[k], 0);
		for (uint64_t id = 1; id <= 5; id++)
			ck_assert_int_eq(tth_queue_push_recovered(&q,
					     entry(id, 10, 1, 0), 0),
					 0);
		ck_assert_int_eq(push(6, 1),
				 ov[k] == TETHER_OVERFLOW_REJECT ? TETHER_EFULL
								 : 0);
		if (ov[k] != TETHER_OVERFLOW_REJECT)
			assert_dropped(6, TETHER_EFULL); /* the new one */
		ck_assert_ptr_null(tth_qout_pop(&out));
		ck_assert_str_eq(waiting_ids(), "1 2 3 4 5");
		limits(&l, 1, 1000, ov[k], 0);
		ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), 0);
		ck_assert_ptr_null(tth_qout_pop(&out));
		ck_assert_uint_eq(take(), 1);
		ck_assert_uint_eq(take(), 2);
		ck_assert_uint_eq(tth_queue_requeue(&q, 1, 0, &out), 2);
		ck_assert_str_eq(waiting_ids(), "1 2 3 4 5");
		for (uint64_t id = 1; id <= 5; id++) {
			ck_assert_uint_eq(take(), id);
			settle(id);
		}
		/* drained: the bounds are the bounds again */
		limits(&l, 2, 1000, ov[k], 0);
		ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), 0);
		ck_assert_int_eq(push(7, 1), 0);
		ck_assert_int_eq(push(8, 1), 0);
		ck_assert_int_eq(push(9, 1),
				 ov[k] == TETHER_OVERFLOW_REJECT ? TETHER_EFULL
								 : 0);
		if (ov[k] == TETHER_OVERFLOW_DROP_OLDEST)
			assert_dropped(7, TETHER_EFULL);
		else if (ov[k] == TETHER_OVERFLOW_DROP_NEWEST)
			assert_dropped(9, TETHER_EFULL);
		teardown();
	}
}
END_TEST

/* With recovered entries at the front, DROP_OLDEST drops the oldest of
   the others. */
START_TEST(test_queue_drop_oldest_skips_recovered)
{
	start(4, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(tth_queue_push_recovered(&q, entry(1, 1, 1, 0), 0), 0);
	ck_assert_int_eq(tth_queue_push_recovered(&q, entry(2, 1, 1, 0), 0), 0);
	ck_assert_int_eq(push(3, 1), 0);
	ck_assert_int_eq(push(4, 1), 0);
	ck_assert_int_eq(push(5, 1), 0);
	assert_dropped(3, TETHER_EFULL);
	ck_assert_str_eq(waiting_ids(), "1 2 4 5");
}
END_TEST

START_TEST(test_queue_drop_oldest_by_bytes_drops_several)
{
	start(100, 100, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(push(1, 30), 0);
	ck_assert_int_eq(push(2, 30), 0);
	ck_assert_int_eq(push(3, 30), 0);
	ck_assert_int_eq(push(4, 70), 0); /* needs 1 and 2 gone */
	assert_dropped(1, TETHER_EFULL);
	assert_dropped(2, TETHER_EFULL);
	ck_assert_ptr_null(tth_qout_pop(&out));
	ck_assert_str_eq(waiting_ids(), "3 4");
	ck_assert_uint_eq(tth_queue_bytes(&q), 100);
}
END_TEST

START_TEST(test_queue_drop_oldest_never_drops_inflight)
{
	start(3, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(push(1, 1), 0);
	ck_assert_int_eq(push(2, 1), 0);
	ck_assert_int_eq(push(3, 1), 0);
	take();
	take();
	ck_assert_int_eq(push(4, 1), 0); /* drops 3, the only waiting one */
	assert_dropped(3, TETHER_EFULL);
	take();
	ck_assert_int_eq(push(5, 1), 0); /* all inflight: the new one goes */
	assert_dropped(5, TETHER_EFULL);
	ck_assert_uint_eq(tth_queue_inflight(&q), 3);
	ck_assert_uint_eq(tth_queue_waiting(&q), 0);
}
END_TEST

START_TEST(test_queue_drop_oldest_keeps_backlog_when_useless)
{
	/* 1 inflight (60 bytes), 2 waiting (30): a 50-byte message cannot
	   fit even without 2, so 2 is kept and the new one is dropped. */
	start(10, 100, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(push(1, 60), 0);
	ck_assert_int_eq(push(2, 30), 0);
	take();
	ck_assert_int_eq(push(3, 50), 0);
	assert_dropped(3, TETHER_EFULL);
	ck_assert_ptr_null(tth_qout_pop(&out));
	ck_assert_str_eq(waiting_ids(), "2");
}
END_TEST

START_TEST(test_queue_drop_newest)
{
	start(2, 1000, TETHER_OVERFLOW_DROP_NEWEST, 0);
	ck_assert_int_eq(push(1, 1), 0);
	ck_assert_int_eq(push(2, 1), 0);
	ck_assert_int_eq(push(3, 1), 0); /* accepted, dropped at once */
	assert_dropped(3, TETHER_EFULL);
	ck_assert_str_eq(waiting_ids(), "1 2");
	ck_assert_ptr_null(tth_queue_find(&q, 3));
	ck_assert_uint_eq(q.pushed, 3);
	ck_assert_uint_eq(q.dropped, 1);
}
END_TEST

START_TEST(test_queue_reject)
{
	start(2, 1000, TETHER_OVERFLOW_REJECT, 0);
	ck_assert_int_eq(push(1, 1), 0);
	ck_assert_int_eq(push(2, 1), 0);
	ck_assert_int_eq(push(3, 1), TETHER_EFULL);
	ck_assert_uint_eq(out.n, 0);
	ck_assert_str_eq(waiting_ids(), "1 2");
	settle(take());
	ck_assert_int_eq(push(3, 1), 0);
	ck_assert_str_eq(waiting_ids(), "2 3");
}
END_TEST

/* --- first region, requeue --------------------------------------------- */

START_TEST(test_queue_push_first_goes_before_backlog_in_order)
{
	start(10, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(push(1, 1), 0);
	ck_assert_int_eq(push(2, 1), 0);
	ck_assert_int_eq(push_first(100, 1), 0);
	ck_assert_int_eq(push_first(101, 1), 0);
	ck_assert_int_eq(push(3, 1), 0);
	ck_assert_str_eq(waiting_ids(), "100 101 1 2 3");
	ck_assert_uint_eq(take(), 100);
	ck_assert_int_eq(push_first(102, 1), 0); /* region: 101 still there */
	ck_assert_str_eq(waiting_ids(), "101 102 1 2 3");
	ck_assert_uint_eq(take(), 101);
	ck_assert_uint_eq(take(), 102);
	ck_assert_int_eq(push_first(103, 1), 0); /* region empty: front */
	ck_assert_str_eq(waiting_ids(), "103 1 2 3");
	ck_assert_uint_eq(q.nfirst, 1);
}
END_TEST

START_TEST(test_queue_drop_oldest_spares_first_region)
{
	start(3, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(push(1, 1), 0);
	ck_assert_int_eq(push(2, 1), 0);
	ck_assert_int_eq(push_first(100, 1), 0);
	ck_assert_int_eq(push(3, 1), 0);
	assert_dropped(1, TETHER_EFULL);
	ck_assert_str_eq(waiting_ids(), "100 2 3");
	ck_assert_int_eq(push_first(101, 1), 0);
	assert_dropped(2, TETHER_EFULL);
	ck_assert_str_eq(waiting_ids(), "100 101 3");
	ck_assert_uint_eq(q.first_bytes, 2);
}
END_TEST

START_TEST(test_queue_requeue_restores_send_order)
{
	struct tth_qentry *e;

	start(10, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	for (uint64_t i = 1; i <= 6; i++)
		ck_assert_int_eq(push(i, 1), 0);
	take();
	take();
	take();
	take();
	settle(2);
	ck_assert_uint_eq(tth_queue_requeue(&q, 1, TETHER_ECLOSED, &out), 3);
	ck_assert_uint_eq(out.n, 0);
	ck_assert_str_eq(waiting_ids(), "1 3 4 5 6");
	e = tth_queue_peek(&q);
	ck_assert_int_eq(e->msg.dup, 1);
	ck_assert_int_eq(tth_queue_find(&q, 5)->msg.dup, 0);
	ck_assert_uint_eq(take(), 1);
	ck_assert_uint_eq(e->sends, 2);
	/* the resume hook's message still goes before the resends */
	ck_assert_int_eq(push_first(100, 1), 0);
	ck_assert_uint_eq(tth_queue_requeue(&q, 1, TETHER_ECLOSED, &out), 1);
	ck_assert_str_eq(waiting_ids(), "100 1 3 4 5 6");
	ck_assert_uint_eq(q.requeued, 4);
}
END_TEST

START_TEST(test_queue_requeue_drops_qos0_when_asked)
{
	struct tth_qentry *e;

	start(10, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(push(1, 1), 0);
	e = entry(2, 1, 0, 0);
	ck_assert_int_eq(tth_queue_push(&q, e, 0, &out), 0);
	ck_assert_int_eq(push(3, 1), 0);
	take();
	take();
	take();
	ck_assert_uint_eq(tth_queue_requeue(&q, 0, TETHER_ECLOSED, &out), 2);
	assert_dropped(2, TETHER_ECLOSED);
	ck_assert_str_eq(waiting_ids(), "1 3");
}
END_TEST

/* --- ttl --------------------------------------------------------------- */

START_TEST(test_queue_expire_waiting)
{
	struct tth_qentry *e;

	start(10, 1000, TETHER_OVERFLOW_DROP_OLDEST, 100);
	ck_assert_uint_eq(tth_queue_next_expiry(&q), TTH_NEVER);
	ck_assert_int_eq(tth_queue_push(&q, entry(1, 1, 1, 0), 1000, &out), 0);
	ck_assert_int_eq(tth_queue_push(&q, entry(2, 1, 1, 30), 1010, &out),
			 0);
	ck_assert_int_eq(tth_queue_push(&q, entry(3, 1, 1, 500), 1020, &out),
			 0);
	ck_assert_uint_eq(tth_queue_find(&q, 1)->expires_ms, 1100);
	ck_assert_uint_eq(tth_queue_next_expiry(&q), 1040);
	ck_assert_uint_eq(tth_queue_expire(&q, 1039, &out), 0);
	ck_assert_uint_eq(tth_queue_expire(&q, 1040, &out), 1);
	assert_dropped(2, TETHER_EEXPIRED);
	ck_assert_uint_eq(tth_queue_next_expiry(&q), 1100);
	ck_assert_uint_eq(tth_queue_expire(&q, 2000, &out), 2);
	assert_dropped(1, TETHER_EEXPIRED);
	assert_dropped(3, TETHER_EEXPIRED);
	ck_assert_uint_eq(tth_queue_waiting(&q), 0);
	ck_assert_uint_eq(tth_queue_next_expiry(&q), TTH_NEVER);
	/* no ttl at all: never expires */
	teardown();
	start(10, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	e = entry(9, 1, 1, 0);
	ck_assert_int_eq(tth_queue_push(&q, e, 5, &out), 0);
	ck_assert_uint_eq(e->expires_ms, TTH_NEVER);
	ck_assert_uint_eq(tth_queue_expire(&q, UINT64_MAX - 1, &out), 0);
}
END_TEST

START_TEST(test_queue_expire_inflight_only_on_requeue)
{
	start(10, 1000, TETHER_OVERFLOW_DROP_OLDEST, 100);
	ck_assert_int_eq(tth_queue_push(&q, entry(1, 1, 1, 0), 0, &out), 0);
	ck_assert_int_eq(tth_queue_push(&q, entry(2, 1, 1, 0), 0, &out), 0);
	ck_assert_int_eq(tth_queue_push(&q, entry(3, 1, 1, 1000), 0, &out),
			 0);
	take();
	take();
	take();
	ck_assert_uint_eq(tth_queue_expire(&q, 200, &out), 0);
	ck_assert_uint_eq(out.n, 0);
	ck_assert(tth_queue_find(&q, 1)->expired);
	settle(1); /* delivered after all: delivered it is */
	ck_assert_uint_eq(tth_queue_requeue(&q, 1, TETHER_ECLOSED, &out), 1);
	assert_dropped(2, TETHER_EEXPIRED);
	ck_assert_str_eq(waiting_ids(), "3");
	ck_assert_uint_eq(tth_queue_next_expiry(&q), 1000);
}
END_TEST

/* --- live limits, drain ------------------------------------------------ */

START_TEST(test_queue_set_limits_shrinks)
{
	struct tth_queue_limits l;

	start(10, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	for (uint64_t i = 1; i <= 6; i++)
		ck_assert_int_eq(push(i, 10), 0);
	take();
	limits(&l, 0, 10, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), TETHER_EINVAL);
	limits(&l, 1, 0, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), TETHER_EINVAL);
	limits(&l, 1, 10, (enum tether_overflow)7, 0);
	ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), TETHER_EINVAL);
	ck_assert_uint_eq(q.lim.max_messages, 10);

	limits(&l, 4, 1000, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), 0);
	assert_dropped(2, TETHER_EFULL);
	assert_dropped(3, TETHER_EFULL);
	ck_assert_str_eq(waiting_ids(), "4 5 6");

	limits(&l, 4, 20, TETHER_OVERFLOW_DROP_NEWEST, 0);
	ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), 0);
	assert_dropped(6, TETHER_EFULL);
	assert_dropped(5, TETHER_EFULL);
	ck_assert_str_eq(waiting_ids(), "4");

	limits(&l, 1, 1000, TETHER_OVERFLOW_REJECT, 0);
	ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), 0);
	ck_assert_uint_eq(out.n, 0); /* REJECT never drops */
	ck_assert_uint_eq(tth_queue_waiting(&q) + tth_queue_inflight(&q), 2);
	ck_assert_int_eq(push(7, 10), TETHER_EFULL);
	settle(1);
	ck_assert_int_eq(push(7, 10), TETHER_EFULL);
	settle(take());
	ck_assert_int_eq(push(7, 10), 0);

	take(); /* everything inflight: nothing to drop */
	limits(&l, 1, 5, TETHER_OVERFLOW_DROP_OLDEST, 0);
	ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), 0);
	ck_assert_uint_eq(out.n, 0);
}
END_TEST

START_TEST(test_queue_drain_everything_once)
{
	start(10, 1000, TETHER_OVERFLOW_DROP_OLDEST, 50);
	for (uint64_t i = 1; i <= 5; i++)
		ck_assert_int_eq(push(i, 1), 0);
	ck_assert_int_eq(push_first(9, 1), 0);
	take();
	take();
	ck_assert_uint_eq(tth_queue_drain(&q, TETHER_ECLOSED, &out), 6);
	assert_dropped(9, TETHER_ECLOSED);
	assert_dropped(1, TETHER_ECLOSED);
	assert_dropped(2, TETHER_ECLOSED);
	assert_dropped(3, TETHER_ECLOSED);
	assert_dropped(4, TETHER_ECLOSED);
	assert_dropped(5, TETHER_ECLOSED);
	ck_assert_uint_eq(tth_queue_bytes(&q), 0);
	ck_assert_uint_eq(tth_queue_next_expiry(&q), TTH_NEVER);
	ck_assert_uint_eq(tth_queue_drain(&q, TETHER_ECLOSED, &out), 0);
	ck_assert_uint_eq(tth_queue_expire(&q, 10000, &out), 0);
}
END_TEST

START_TEST(test_queue_limits_from_cfg)
{
	struct tether_queue_cfg cfg;
	struct tth_queue_limits l;

	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg);
	cfg.max_messages = 5;
	cfg.max_bytes = 6;
	cfg.overflow = TETHER_OVERFLOW_REJECT;
	cfg.ttl_ms = 7;
	ck_assert_int_eq(tth_queue_limits_from_cfg(&l, &cfg), 0);
	ck_assert_uint_eq(l.max_messages, 5);
	ck_assert_uint_eq(l.max_bytes, 6);
	ck_assert_int_eq(l.overflow, TETHER_OVERFLOW_REJECT);
	ck_assert_uint_eq(l.ttl_ms, 7);
	cfg.max_messages = 0;
	ck_assert_int_eq(tth_queue_limits_from_cfg(&l, &cfg), TETHER_EINVAL);
	cfg.max_messages = 1;
	cfg.overflow = (enum tether_overflow)3;
	ck_assert_int_eq(tth_queue_limits_from_cfg(&l, &cfg), TETHER_EINVAL);
	ck_assert_int_eq(tth_queue_limits_from_cfg(&l, NULL), TETHER_EINVAL);
}
END_TEST

/* --- the exactly-once property, randomized ---------------------------- */

/* 100,000 operations; 20,000 under valgrind (TETHER_TEST_SLOW), where the
 * invariant check after each one makes the full run take two minutes. */
#define RAND_OPS (getenv("TETHER_TEST_SLOW") ? 20000u : 100000u)
#define FIRST_BASE (1ull << 40) /* ids of push_first messages */

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	/* xorshift64: reproducible test data */
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

struct rand_run {
	uint8_t *accepted; /* per slot: push returned 0 */
	uint8_t *outcomes; /* per slot: settles + drops seen */
	uint64_t now;
	uint64_t last_first_send;   /* highest backlog id sent the first time */
	uint64_t last_since_requeue; /* highest backlog id taken since then */
	int drain_err;               /* also allowed once draining */
};

static size_t slot_of(uint64_t id)
{
	return id < FIRST_BASE ? (size_t)id : RAND_OPS + 1 + (size_t)(id - FIRST_BASE);
}

/* Every dropped entry: accepted once, first outcome, a plausible error. */
static void rand_collect(struct rand_run *r)
{
	struct tth_qentry *e;

	while ((e = tth_qout_pop(&out))) {
		size_t s = slot_of(e->id);

		ck_assert_msg(r->accepted[s], "dropped %llu never accepted",
			      (unsigned long long)e->id);
		ck_assert_uint_eq(r->outcomes[s], 0);
		r->outcomes[s]++;
		ck_assert(e->err == TETHER_EFULL || e->err == TETHER_EEXPIRED ||
			  (e->err == TETHER_ECLOSED && e->msg.qos == 0) ||
			  (r->drain_err && e->err == r->drain_err));
		if (e->err == TETHER_EEXPIRED)
			ck_assert_uint_le(e->expires_ms, r->now);
		tth_qentry_free(e);
	}
}

/* The lists add up: counts, bytes, first region, where. */
static void rand_check_lists(void)
{
	const struct tth_qentry *e;
	size_t n = 0, nfirst = 0;
	uint64_t bytes = 0;
	int in_region = 1;

	for (e = q.waiting.head; e; e = e->next, n++) {
		ck_assert_int_eq(e->where, TTH_Q_WAITING);
		bytes += e->bytes;
		if (e->first) {
			ck_assert(in_region); /* the region is a prefix */
			nfirst++;
		} else {
			in_region = 0;
		}
	}
	ck_assert_uint_eq(n, q.waiting.n);
	ck_assert_uint_eq(bytes, q.waiting.bytes);
	ck_assert_uint_eq(nfirst, q.nfirst);
	n = 0;
	bytes = 0;
	for (e = q.inflight.head; e; e = e->next, n++) {
		ck_assert_int_eq(e->where, TTH_Q_INFLIGHT);
		bytes += e->bytes;
	}
	ck_assert_uint_eq(n, q.inflight.n);
	ck_assert_uint_eq(bytes, q.inflight.bytes);
}

static void rand_push(struct rand_run *r, uint64_t id, int first)
{
	size_t len = (size_t)(rnd() % 41);
	uint64_t ttl = rnd() % 10 < 3 ? 1 + rnd() % 500 : 0;
	struct tth_qentry *e = entry(id, len, (int)(rnd() % 3), ttl);
	int rc = first ? tth_queue_push_first(&q, e, r->now, &out)
		       : tth_queue_push(&q, e, r->now, &out);

	if (rc != 0) {
		ck_assert(rc == TETHER_EFULL || rc == TETHER_ETOOBIG);
		if (rc == TETHER_EFULL)
			ck_assert_int_eq(q.lim.overflow, TETHER_OVERFLOW_REJECT);
		else
			ck_assert_uint_gt(len, q.lim.max_bytes);
		tth_qentry_free(e);
		return;
	}
	r->accepted[slot_of(id)] = 1;
	if (e->where == TTH_Q_WAITING) {
		ck_assert_uint_le(tth_queue_waiting(&q) + tth_queue_inflight(&q),
				  q.lim.max_messages);
		ck_assert_uint_le(tth_queue_bytes(&q), q.lim.max_bytes);
	}
}

static void rand_take(struct rand_run *r)
{
	struct tth_qentry *e = tth_queue_take(&q);

	if (!e)
		return;
	if (e->id >= FIRST_BASE)
		return;
	/* backlog order: first sends in push order, resends in order */
	if (e->sends == 1) {
		ck_assert_uint_gt(e->id, r->last_first_send);
		r->last_first_send = e->id;
	}
	ck_assert_uint_gt(e->id, r->last_since_requeue);
	r->last_since_requeue = e->id;
}

static void rand_settle(struct rand_run *r)
{
	struct tth_qentry *e = q.inflight.head;
	size_t skip;

	if (!e)
		return;
	if (rnd() % 10 >= 7)
		for (skip = rnd() % q.inflight.n; skip; skip--)
			e = e->next;
	e = tth_queue_settle(&q, e->id);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(r->outcomes[slot_of(e->id)], 0);
	r->outcomes[slot_of(e->id)]++;
	tth_qentry_free(e);
}

START_TEST(test_queue_random_exactly_one_outcome)
{
	struct rand_run r;
	struct tth_queue_limits l;
	uint64_t next_id = 1, next_first = FIRST_BASE;
	size_t ops = RAND_OPS, nslots = 2 * (ops + 1), i;
	uint64_t accepted = 0;

	memset(&r, 0, sizeof(r));
	r.accepted = calloc(nslots, 1);
	r.outcomes = calloc(nslots, 1);
	ck_assert(r.accepted && r.outcomes);
	rnd_state = 0x2545f4914f6cdd1dull;
	start(32, 600, TETHER_OVERFLOW_DROP_OLDEST, 0);
	for (i = 0; i < ops; i++) {
		unsigned op = (unsigned)(rnd() % 100);

		if (op < 35) {
			rand_push(&r, next_id++, 0);
		} else if (op < 39) {
			rand_push(&r, next_first++, 1);
		} else if (op < 64) {
			rand_take(&r);
		} else if (op < 84) {
			rand_settle(&r);
		} else if (op < 87) {
			tth_queue_requeue(&q, (int)(rnd() % 2), TETHER_ECLOSED,
					  &out);
			r.last_since_requeue = 0;
		} else if (op < 94) {
			r.now += rnd() % 100;
			tth_queue_expire(&q, r.now, &out);
			ck_assert_uint_gt(tth_queue_next_expiry(&q), r.now);
		} else if (op < 97) {
			limits(&l, 1 + (uint32_t)(rnd() % 64), 16 + rnd() % 2000,
			       (enum tether_overflow)(rnd() % 3),
			       rnd() % 2 ? rnd() % 300 : 0);
			ck_assert_int_eq(tth_queue_set_limits(&q, &l, &out), 0);
		} else if (op < 98) {
			ck_assert_ptr_null(tth_queue_settle(&q, next_id));
		} else {
			uint64_t id = 1 + rnd() % next_id;
			const struct tth_qentry *e = tth_queue_find(&q, id);

			if (e)
				ck_assert_uint_eq(e->id, id);
		}
		rand_collect(&r);
		rand_check_lists();
	}
	r.drain_err = TETHER_ECLOSED;
	tth_queue_drain(&q, TETHER_ECLOSED, &out);
	rand_collect(&r);
	for (i = 0; i < nslots; i++) {
		ck_assert_uint_eq(r.outcomes[i], r.accepted[i]);
		accepted += r.accepted[i];
	}
	ck_assert_uint_eq(q.pushed, accepted);
	ck_assert_uint_eq(q.settled + q.dropped, accepted);
	/* the run exercised every way out */
	ck_assert_uint_gt(q.settled, ops / 100);
	ck_assert_uint_gt(q.dropped, ops / 100);
	ck_assert_uint_gt(q.requeued, ops / 1000);
	free(r.accepted);
	free(r.outcomes);
}
END_TEST

static Suite *queue_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *tc;

	tc = tcase_create("basics");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_queue_entry_copies_message);
	tcase_add_test(tc, test_queue_fifo_take_settle);
	tcase_add_test(tc, test_queue_refuses_bad_pushes);
	tcase_add_test(tc, test_queue_limits_from_cfg);
	suite_add_tcase(s, tc);

	tc = tcase_create("overflow");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_queue_drop_oldest_by_count);
	tcase_add_test(tc, test_queue_drop_oldest_by_bytes_drops_several);
	tcase_add_test(tc, test_queue_drop_oldest_never_drops_inflight);
	tcase_add_test(tc, test_queue_drop_oldest_keeps_backlog_when_useless);
	tcase_add_test(tc, test_queue_drop_newest);
	tcase_add_test(tc, test_queue_reject);
	tcase_add_test(tc, test_queue_recovered_are_never_overflow_victims);
	tcase_add_test(tc, test_queue_drop_oldest_skips_recovered);
	suite_add_tcase(s, tc);

	tc = tcase_create("order");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_queue_push_first_goes_before_backlog_in_order);
	tcase_add_test(tc, test_queue_drop_oldest_spares_first_region);
	tcase_add_test(tc, test_queue_requeue_restores_send_order);
	tcase_add_test(tc, test_queue_requeue_drops_qos0_when_asked);
	suite_add_tcase(s, tc);

	tc = tcase_create("ttl");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_queue_expire_waiting);
	tcase_add_test(tc, test_queue_expire_inflight_only_on_requeue);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_queue_set_limits_shrinks);
	tcase_add_test(tc, test_queue_drain_everything_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_queue_random_exactly_one_outcome);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(queue_suite)
