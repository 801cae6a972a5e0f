/* The spool across many segments: deletion as acks come in any order,
   and a randomized run against a model (core/store/spool.c, spool_open.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tether/tether.h>

#include "check-int.h"
#include "spool-int.h"
#include "spool-test.h"
#include "util-int.h"

TCase *spool_segments_tcase(void);

/* --- many segments ----------------------------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

#define MANY 10000

START_TEST(test_spool_many_segments_random_acks)
{
	struct tth_spool_cfg c;
	struct tth_spool_stats s;
	static uint64_t order[MANY];
	static uint8_t acked[MANY + 1];
	size_t i, left;
	int max_files = 0;

	cfg_init(&c, 64u << 20, 64u << 10, TETHER_FSYNC_NEVER);
	reopen_cfg(&c);
	for (uint64_t n = 1; n <= MANY; n++)
		ck_assert_uint_eq(append_n(n, 50 + n % 250, 0), n);
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_gt(s.segments, 10);
	max_files = count_files("seg");
	ck_assert_int_eq(max_files, (int)s.segments);
	for (i = 0; i < MANY; i++)
		order[i] = i + 1;
	for (i = MANY - 1; i > 0; i--) { /* Fisher-Yates */
		size_t j = (size_t)(rnd() % (i + 1));
		uint64_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < MANY; i++) {
		ck_assert_int_eq(tth_spool_ack(sp, order[i]), 0);
		acked[order[i]] = 1;
		if (i == MANY / 2) {
			/* a restart half way gives back exactly the rest */
			reopen_cfg(&c);
			ck_assert_int_eq(nwarn, 0);
			ck_assert_uint_eq(ngot, MANY - MANY / 2 - 1);
			left = 0;
			for (uint64_t n = 1; n <= MANY; n++) {
				if (acked[n])
					continue;
				ck_assert_uint_eq(got[left].id, n);
				assert_got(left, n, 50 + n % 250);
				left++;
			}
		}
		if (i % 500 == 0) {
			tth_spool_get_stats(sp, &s);
			ck_assert_int_eq(count_files("seg"), (int)s.segments);
		}
	}
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.live, 0);
	ck_assert_uint_gt(s.segments_deleted, 0);
	ck_assert_int_le(count_files("seg"), 1); /* at most the active one */
	ck_assert_int_le(count_files("ack"), 1);
	reopen_cfg(&c);
	ck_assert_uint_eq(ngot, 0);
	ck_assert_int_eq(nwarn, 0);
}
END_TEST

START_TEST(test_spool_in_order_acks_keep_few_files)
{
	struct tth_spool_cfg c;
	struct tth_spool_stats s;

	cfg_init(&c, 1 << 20, 8192, TETHER_FSYNC_NEVER);
	reopen_cfg(&c);
	for (uint64_t n = 1; n <= 2000; n++) {
		append_n(n, 100, 0);
		if (n > 3)
			ck_assert_int_eq(tth_spool_ack(sp, n - 3), 0);
		ck_assert_int_le(count_files("seg"), 2);
	}
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.live, 3);
	ck_assert_uint_gt(s.segments_deleted, 20);
	ck_assert_uint_le(s.bytes, 3 * 8192);
}
END_TEST

/* --- randomized, against a model ---------------------------------------- */

#define MODEL_OPS 4000
#define MODEL_MAX_BYTES (96u << 10)

static size_t model_len(uint64_t n)
{
	return (size_t)(n * 37 % 500);
}

/* What must be live: keys in append order, with their current ids. */
struct model {
	uint64_t keys[MODEL_OPS + 1];
	uint64_t ids[MODEL_OPS + 1];
	size_t n;
};

static void model_remove(struct model *md, size_t i)
{
	memmove(&md->keys[i], &md->keys[i + 1],
		(md->n - i - 1) * sizeof(md->keys[0]));
	memmove(&md->ids[i], &md->ids[i + 1],
		(md->n - i - 1) * sizeof(md->ids[0]));
	md->n--;
}

/* Reopens with a random fsync policy: exactly the live ones come back. */
static void model_reopen(struct model *md)
{
	struct tth_spool_cfg c;

	cfg_init(&c, MODEL_MAX_BYTES, 8192,
		 (enum tether_fsync)(rnd() % 3));
	reopen_cfg(&c);
	ck_assert_int_eq(nwarn, 0);
	ck_assert_uint_eq(ngot, md->n);
	for (size_t i = 0; i < md->n; i++) {
		assert_got(i, md->keys[i], model_len(md->keys[i]));
		md->ids[i] = got[i].id; /* ids may differ after a restart */
	}
}

START_TEST(test_spool_random_against_model)
{
	static struct model md;
	struct tth_spool_stats s;
	uint64_t key = 0, now = 0, full = 0, reopens = 0;

	md.n = 0;
	model_reopen(&md);
	for (int op = 0; op < MODEL_OPS; op++) {
		unsigned r = (unsigned)(rnd() % 100);

		now += rnd() % 50;
		if (r < 55) {
			struct tether_message m;
			char topic[32];
			unsigned char payload[512];
			uint64_t id;
			int rc;

			key++;
			make_msg(&m, key, topic, payload, model_len(key));
			rc = tth_spool_append(sp, &m, key * 1000, now, &id);
			if (rc == TETHER_EFULL) {
				size_t size = TTH_SPOOL_HDR + m.len +
					      (m.topic ? strlen(m.topic) : 0);

				tth_spool_get_stats(sp, &s);
				ck_assert_uint_gt(s.bytes + size,
						  MODEL_MAX_BYTES);
				full++;
				continue;
			}
			ck_assert_int_eq(rc, 0);
			md.keys[md.n] = key;
			md.ids[md.n++] = id;
		} else if (r < 93) {
			size_t i;

			if (!md.n)
				continue;
			/* mostly the oldest, as a transport reports */
			i = rnd() % 4 ? 0 : (size_t)(rnd() % md.n);
			ck_assert_int_eq(tth_spool_ack(sp, md.ids[i]), 0);
			ck_assert_int_eq(tth_spool_ack(sp, md.ids[i]),
					 TETHER_ENOENT);
			model_remove(&md, i);
		} else if (r < 96) {
			model_reopen(&md);
			reopens++;
		} else {
			ck_assert_int_eq(tth_spool_flush(sp, now), 0);
		}
		tth_spool_get_stats(sp, &s);
		ck_assert_uint_eq(s.live, md.n);
		if (op % 64 == 0)
			ck_assert_int_eq(count_files("seg"), (int)s.segments);
	}
	ck_assert_uint_gt(full, 0); /* the bound was reached */
	ck_assert_uint_gt(reopens, 10);
	while (md.n) {
		ck_assert_int_eq(tth_spool_ack(sp, md.ids[md.n - 1]), 0);
		md.n--;
	}
	model_reopen(&md);
}
END_TEST

TCase *spool_segments_tcase(void)
{
	TCase *tc = tcase_create("segments");

	tcase_add_checked_fixture(tc, spool_setup, spool_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_spool_many_segments_random_acks);
	tcase_add_test(tc, test_spool_in_order_acks_keep_few_files);
	tcase_add_test(tc, test_spool_random_against_model);
	return tc;
}
