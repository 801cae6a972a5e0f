/* Unit tests for the intrusive timer heap (core/sansio/timer_heap.c). */
#include <stdint.h>
#include <stdlib.h>

#include <tether/tether.h>

#include "check-int.h"
#include "timer_heap-int.h"
#include "util-int.h"

#define MANY 10000

static struct tth_heap heap;
static struct tth_timer timers[MANY];
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* xorshift64: enough spread for test data, and reproducible. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void setup(void)
{
	size_t i;

	tth_heap_init(&heap);
	for (i = 0; i < MANY; i++)
		tth_timer_init(&timers[i]);
	rng_state = 0x9e3779b97f4a7c15ull;
}

static void teardown(void)
{
	tth_heap_cleanup(&heap);
}

/* Every slot knows its index and no child sorts before its parent. */
static void assert_heap_valid(void)
{
	size_t i;

	for (i = 0; i < heap.n; i++) {
		const struct tth_timer *t = heap.v[i].t;

		ck_assert_uint_eq(t->idx, i);
		/* the slot's inline keys are the timer's */
		ck_assert_uint_eq(heap.v[i].due_ms, t->due_ms);
		ck_assert_uint_eq(heap.v[i].seq, t->seq);
		if (i > 0) {
			const struct tth_timer *p = heap.v[(i - 1) / TTH_HEAP_ARITY].t;

			ck_assert(p->due_ms < t->due_ms ||
				  (p->due_ms == t->due_ms && p->seq < t->seq));
		}
	}
}

static size_t timer_index(const struct tth_timer *t)
{
	return (size_t)(t - timers);
}

/* Expected pop order: by due time, then by the order they were armed. */
static int cmp_timer(const void *a, const void *b)
{
	const struct tth_timer *x = *(const struct tth_timer *const *)a;
	const struct tth_timer *y = *(const struct tth_timer *const *)b;

	if (x->due_ms != y->due_ms)
		return x->due_ms < y->due_ms ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* Pops everything and checks it comes out in (due, arm order). */
static void assert_pops_sorted(void)
{
	const struct tth_timer **sorted_armed;
	size_t n = 0, i;
	struct tth_timer *t;

	sorted_armed = malloc(MANY * sizeof(*sorted_armed));
	ck_assert_ptr_nonnull(sorted_armed);
	for (i = 0; i < MANY; i++)
		if (tth_timer_armed(&timers[i]))
			sorted_armed[n++] = &timers[i];
	ck_assert_uint_eq(n, tth_heap_size(&heap));
	qsort(sorted_armed, n, sizeof(*sorted_armed), cmp_timer);
	for (i = 0; i < n; i++) {
		t = tth_heap_pop_due(&heap, UINT64_MAX);
		ck_assert_ptr_eq(t, sorted_armed[i]);
		ck_assert(!tth_timer_armed(t));
	}
	ck_assert_ptr_null(tth_heap_pop_due(&heap, UINT64_MAX));
	ck_assert_uint_eq(tth_heap_size(&heap), 0);
	free(sorted_armed);
}

START_TEST(test_timer_heap_random_order)
{
	size_t i;
	uint64_t prev_due = 0, prev_seq = 0;
	struct tth_timer *t;

	/* A narrow range, so many timers share a millisecond. */
	for (i = 0; i < MANY; i++)
		ck_assert_int_eq(
		    tth_heap_arm(&heap, &timers[i], rng_next() % 3000), 0);
	ck_assert_uint_eq(tth_heap_size(&heap), MANY);
	assert_heap_valid();
	for (i = 0; i < MANY; i++) {
		t = tth_heap_pop_due(&heap, UINT64_MAX);
		ck_assert_ptr_nonnull(t);
		if (i > 0) {
			ck_assert_uint_ge(t->due_ms, prev_due);
			if (t->due_ms == prev_due)
				ck_assert_uint_gt(t->seq, prev_seq);
		}
		prev_due = t->due_ms;
		prev_seq = t->seq;
	}
	ck_assert_ptr_null(tth_heap_peek(&heap));
}
END_TEST

START_TEST(test_timer_heap_random_matches_sorted)
{
	size_t i;

	for (i = 0; i < MANY; i++)
		ck_assert_int_eq(tth_heap_arm(&heap, &timers[i], rng_next()),
				 0);
	assert_pops_sorted();
}
END_TEST

START_TEST(test_timer_heap_ties_pop_in_arm_order)
{
	size_t i;

	/* Armed in a scrambled index order, all at the same millisecond. */
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(
		    tth_heap_arm(&heap, &timers[(i * 37) % 100], 500), 0);
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[100], 499), 0);
	ck_assert_ptr_eq(tth_heap_pop_due(&heap, 500), &timers[100]);
	for (i = 0; i < 100; i++)
		ck_assert_uint_eq(timer_index(tth_heap_pop_due(&heap, 500)),
				  (i * 37) % 100);
	ck_assert_uint_eq(tth_heap_size(&heap), 0);
}
END_TEST

START_TEST(test_timer_heap_cancel_root)
{
	size_t i;

	for (i = 0; i < 50; i++)
		ck_assert_int_eq(tth_heap_arm(&heap, &timers[i], 1000 - i), 0);
	ck_assert_ptr_eq(tth_heap_peek(&heap), &timers[49]);
	tth_heap_cancel(&heap, &timers[49]);
	ck_assert(!tth_timer_armed(&timers[49]));
	ck_assert_uint_eq(tth_heap_size(&heap), 49);
	assert_heap_valid();
	ck_assert_ptr_eq(tth_heap_peek(&heap), &timers[48]);
	assert_pops_sorted();
}
END_TEST

START_TEST(test_timer_heap_cancel_last)
{
	size_t i;
	struct tth_timer *last;

	for (i = 0; i < 50; i++)
		ck_assert_int_eq(tth_heap_arm(&heap, &timers[i], i * 7 % 13),
				 0);
	last = heap.v[heap.n - 1].t;
	tth_heap_cancel(&heap, last);
	ck_assert(!tth_timer_armed(last));
	ck_assert_uint_eq(tth_heap_size(&heap), 49);
	assert_heap_valid();
	assert_pops_sorted();
}
END_TEST

START_TEST(test_timer_heap_cancel_arbitrary)
{
	size_t i, left = MANY;

	for (i = 0; i < MANY; i++)
		ck_assert_int_eq(
		    tth_heap_arm(&heap, &timers[i], rng_next() % 100000), 0);
	for (i = 0; i < MANY; i++) {
		if (rng_next() % 3 == 0) {
			tth_heap_cancel(&heap, &timers[i]);
			ck_assert(!tth_timer_armed(&timers[i]));
			left--;
		}
	}
	ck_assert_uint_eq(tth_heap_size(&heap), left);
	assert_heap_valid();
	assert_pops_sorted();
}
END_TEST

START_TEST(test_timer_heap_cancel_unarmed_is_noop)
{
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[0], 10), 0);
	tth_heap_cancel(&heap, &timers[1]);
	ck_assert_uint_eq(tth_heap_size(&heap), 1);
	tth_heap_cancel(&heap, &timers[0]);
	tth_heap_cancel(&heap, &timers[0]);
	ck_assert_uint_eq(tth_heap_size(&heap), 0);
	ck_assert_ptr_null(tth_heap_peek(&heap));
}
END_TEST

START_TEST(test_timer_heap_rearm_earlier)
{
	size_t i;

	for (i = 0; i < 100; i++)
		ck_assert_int_eq(tth_heap_arm(&heap, &timers[i], 100 + i), 0);
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[80], 5), 0);
	ck_assert_uint_eq(tth_heap_size(&heap), 100);
	assert_heap_valid();
	ck_assert_ptr_eq(tth_heap_peek(&heap), &timers[80]);
	ck_assert_uint_eq(timers[80].due_ms, 5);
	assert_pops_sorted();
}
END_TEST

START_TEST(test_timer_heap_rearm_later)
{
	size_t i;
	struct tth_timer *t = NULL;

	for (i = 0; i < 100; i++)
		ck_assert_int_eq(tth_heap_arm(&heap, &timers[i], 100 + i), 0);
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[0], 1000), 0);
	ck_assert_uint_eq(tth_heap_size(&heap), 100);
	assert_heap_valid();
	ck_assert_ptr_eq(tth_heap_peek(&heap), &timers[1]);
	for (i = 0; i < 100; i++)
		t = tth_heap_pop_due(&heap, UINT64_MAX);
	ck_assert_ptr_eq(t, &timers[0]);
}
END_TEST

START_TEST(test_timer_heap_rearm_same_time_goes_behind_ties)
{
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[0], 50), 0);
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[1], 50), 0);
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[2], 50), 0);
	/* Re-arming is arming: it queues behind timers armed before it. */
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[0], 50), 0);
	ck_assert_ptr_eq(tth_heap_pop_due(&heap, 50), &timers[1]);
	ck_assert_ptr_eq(tth_heap_pop_due(&heap, 50), &timers[2]);
	ck_assert_ptr_eq(tth_heap_pop_due(&heap, 50), &timers[0]);
}
END_TEST

START_TEST(test_timer_heap_pop_due_respects_now)
{
	ck_assert_ptr_null(tth_heap_pop_due(&heap, UINT64_MAX));
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[0], 100), 0);
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[1], 200), 0);
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[2], TTH_NEVER), 0);
	ck_assert_ptr_null(tth_heap_pop_due(&heap, 0));
	ck_assert_ptr_null(tth_heap_pop_due(&heap, 99));
	ck_assert_uint_eq(tth_heap_size(&heap), 3);
	ck_assert_ptr_eq(tth_heap_pop_due(&heap, 100), &timers[0]);
	ck_assert_ptr_null(tth_heap_pop_due(&heap, 100));
	ck_assert_ptr_eq(tth_heap_pop_due(&heap, 5000), &timers[1]);
	ck_assert_ptr_null(tth_heap_pop_due(&heap, 5000));
	ck_assert_ptr_eq(tth_heap_peek(&heap), &timers[2]);
	ck_assert_ptr_eq(tth_heap_pop_due(&heap, TTH_NEVER), &timers[2]);
	ck_assert_uint_eq(tth_heap_size(&heap), 0);
}
END_TEST

START_TEST(test_timer_heap_peek_does_not_remove)
{
	ck_assert_ptr_null(tth_heap_peek(&heap));
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[3], 7), 0);
	ck_assert_ptr_eq(tth_heap_peek(&heap), &timers[3]);
	ck_assert_ptr_eq(tth_heap_peek(&heap), &timers[3]);
	ck_assert_uint_eq(tth_heap_size(&heap), 1);
	ck_assert(tth_timer_armed(&timers[3]));
}
END_TEST

START_TEST(test_timer_heap_enomem_leaves_timer_untouched)
{
	struct tth_heap full;
	struct tth_heap_entry slot = {0, 0, NULL};
	struct tth_timer t;

	/* A heap whose capacity cannot double without overflowing size_t:
	 * growth must fail cleanly before touching the (fake) array. */
	full.v = &slot;
	full.cap = SIZE_MAX / 2 / sizeof(*full.v) + 1;
	full.n = full.cap;
	full.seq = 42;
	tth_timer_init(&t);
	t.due_ms = 1234;
	ck_assert_int_eq(tth_heap_arm(&full, &t, 10), TETHER_ENOMEM);
	ck_assert(!tth_timer_armed(&t));
	ck_assert_uint_eq(t.due_ms, 1234);
	ck_assert_uint_eq(t.seq, 0);
	ck_assert_uint_eq(full.n, full.cap);
	ck_assert_uint_eq(full.seq, 42);
	ck_assert_ptr_eq(full.v, &slot);
}
END_TEST

START_TEST(test_timer_heap_cleanup_and_reuse)
{
	size_t i;

	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(tth_heap_arm(&heap, &timers[i], i), 0);
	ck_assert_uint_ge(heap.cap, 1000);
	tth_heap_cleanup(&heap);
	ck_assert_uint_eq(tth_heap_size(&heap), 0);
	ck_assert_ptr_null(tth_heap_peek(&heap));
	/* The owners' timers were forgotten, so they start over. */
	tth_timer_init(&timers[0]);
	ck_assert_int_eq(tth_heap_arm(&heap, &timers[0], 3), 0);
	ck_assert_ptr_eq(tth_heap_pop_due(&heap, 3), &timers[0]);
}
END_TEST

static Suite *timer_heap_suite(void)
{
	Suite *s = suite_create("timer_heap");
	TCase *tc;

	tc = tcase_create("order");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_timer_heap_random_order);
	tcase_add_test(tc, test_timer_heap_random_matches_sorted);
	tcase_add_test(tc, test_timer_heap_ties_pop_in_arm_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_timer_heap_cancel_root);
	tcase_add_test(tc, test_timer_heap_cancel_last);
	tcase_add_test(tc, test_timer_heap_cancel_arbitrary);
	tcase_add_test(tc, test_timer_heap_cancel_unarmed_is_noop);
	suite_add_tcase(s, tc);

	tc = tcase_create("rearm");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_timer_heap_rearm_earlier);
	tcase_add_test(tc, test_timer_heap_rearm_later);
	tcase_add_test(tc, test_timer_heap_rearm_same_time_goes_behind_ties);
	suite_add_tcase(s, tc);

	tc = tcase_create("due");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_timer_heap_pop_due_respects_now);
	tcase_add_test(tc, test_timer_heap_peek_does_not_remove);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_timer_heap_enomem_leaves_timer_untouched);
	tcase_add_test(tc, test_timer_heap_cleanup_and_reuse);
	suite_add_tcase(s, tc);

	return s;
}

TTH_CHECK_MAIN(timer_heap_suite)
