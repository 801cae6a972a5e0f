/* Unit tests for the durable spool (core/store/spool.c, core/store/spool_open.c), on
   real files in a temporary directory (helpers in spool-test.c; the
   segment tests in check_spool_segments.c). */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether/tether.h>

#include "check-int.h"
#include "spool-int.h"
#include "spool-test.h"
#include "util-int.h"

TCase *spool_segments_tcase(void);
TCase *spool_hardening_tcase(void);

/* --- format ------------------------------------------------------------ */

START_TEST(test_spool_crc32c_known_values)
{
	ck_assert_uint_eq(tth_crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(tth_crc32c(0, "", 0), 0);
	ck_assert_uint_eq(tth_crc32c(tth_crc32c(0, "1234", 4), "56789", 5),
			  0xe3069283u);
}
END_TEST

START_TEST(test_spool_cfg_from_queue)
{
	struct tether_queue_cfg q;
	struct tth_spool_cfg c;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.spool_max_bytes = 12345;
	q.fsync = TETHER_FSYNC_INTERVAL;
	q.fsync_interval_ms = 250;
	ck_assert_int_eq(tth_spool_cfg_from_queue(&c, &q), 0);
	ck_assert_uint_eq(c.max_bytes, 12345);
	ck_assert_int_eq(c.fsync, TETHER_FSYNC_INTERVAL);
	ck_assert_uint_eq(c.fsync_interval_ms, 250);
	ck_assert_uint_eq(c.segment_bytes, 0);
	q.fsync = (enum tether_fsync)9;
	ck_assert_int_eq(tth_spool_cfg_from_queue(&c, &q), TETHER_EINVAL);
	q.fsync = TETHER_FSYNC_NEVER;
	q.spool_max_bytes = 0;
	ck_assert_int_eq(tth_spool_cfg_from_queue(&c, &q), TETHER_EINVAL);
}
END_TEST

/* --- round trip, restart, ack ------------------------------------------ */

START_TEST(test_spool_round_trip_and_restart)
{
	struct stat st;
	struct tth_spool_stats s;

	reopen(); /* creates a/spool under the temp dir */
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert_uint_eq(ngot, 0);
	for (uint64_t n = 1; n <= 20; n++)
		ck_assert_uint_eq(append_n(n, n * 7, 0), n);
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.live, 20);
	ck_assert_uint_eq(s.appends, 20);
	ck_assert_uint_eq(s.segments, 1);
	ck_assert_uint_eq(s.bytes, (uint64_t)file_size(SEG1));
	reopen();
	ck_assert_int_eq(nwarn, 0);
	ck_assert_uint_eq(ngot, 20);
	for (uint64_t n = 1; n <= 20; n++) {
		ck_assert_uint_eq(got[n - 1].id, n);
		assert_got(n - 1, n, n * 7);
	}
	/* ids go on after a restart; the last segment is continued */
	ck_assert_uint_eq(append_n(21, 3, 0), 21);
	reopen();
	ck_assert_uint_eq(ngot, 21);
	assert_got(20, 21, 3);
	ck_assert_int_eq(count_files("seg"), 1);
}
END_TEST

/* A message with MQTT 5 properties (record type 3) comes back with them;
   the records around it, without, are as before. */
START_TEST(test_spool_properties_round_trip)
{
	struct tether_property props[] = {
	    {.name = "content_type", .value = "text/plain", .len = 10},
	    {.name = "message_expiry_interval", .number = 300},
	    {.name = "correlation_data", .value = "c\0d", .len = 3},
	    {.name = "site", .value = "gw-01", .len = 5, .user = 1},
	};
	struct tether_message m = {.size = sizeof m, .topic = "t/p",
				   .payload = "body", .len = 4, .qos = 1,
				   .props = props, .nprops = 4};
	uint64_t id;

	reopen();
	ck_assert_uint_eq(append_n(1, 5, 0), 1);
	ck_assert_int_eq(tth_spool_append(sp, &m, 0, 0, &id), 0);
	ck_assert_uint_eq(append_n(3, 7, 0), 3);
	/* a property the spool cannot encode is refused, nothing written */
	props[0].name = "topic_alias";
	ck_assert_int_eq(tth_spool_append(sp, &m, 0, 0, &id), TETHER_ENOTSUP);
	reopen();
	ck_assert_int_eq(nwarn, 0);
	ck_assert_uint_eq(ngot, 3);
	assert_got(0, 1, 5);
	assert_got(2, 3, 7);
	ck_assert_str_eq(got[1].topic, "t/p");
	ck_assert_uint_eq(got[1].len, 4);
	ck_assert_int_eq(memcmp(got[1].payload, "body", 4), 0);
	ck_assert_str_eq(got[1].props,
			 "content_type=text/plain;message_expiry_interval=300;"
			 "correlation_data=c;user:site=gw-01;");
	ck_assert_str_eq(got[0].props, "");
}
END_TEST

START_TEST(test_spool_ack_then_restart)
{
	reopen();
	for (uint64_t n = 1; n <= 5; n++)
		append_n(n, 10, 0);
	ck_assert_int_eq(tth_spool_ack(sp, 2), 0);
	ck_assert_int_eq(tth_spool_ack(sp, 4), 0);
	ck_assert_int_eq(tth_spool_ack(sp, 4), TETHER_ENOENT);
	ck_assert_int_eq(tth_spool_ack(sp, 99), TETHER_ENOENT);
	ck_assert_int_eq(tth_spool_ack(sp, 0), TETHER_ENOENT);
	reopen();
	ck_assert_uint_eq(ngot, 3);
	ck_assert_uint_eq(got[0].id, 1);
	ck_assert_uint_eq(got[1].id, 3);
	ck_assert_uint_eq(got[2].id, 5);
	ck_assert_int_eq(tth_spool_ack(sp, 1), 0);
	ck_assert_int_eq(tth_spool_ack(sp, 3), 0);
	ck_assert_int_eq(tth_spool_ack(sp, 5), 0);
	reopen();
	ck_assert_uint_eq(ngot, 0);
	ck_assert_int_eq(nwarn, 0);
	ck_assert_uint_eq(append_n(6, 1, 0), 6);
}
END_TEST

START_TEST(test_spool_orphan_ack_and_strangers)
{
	reopen();
	append_n(1, 10, 0);
	tth_spool_close(sp);
	sp = NULL;
	write_whole("00000000000000a0.ack", (const unsigned char *)"x", 1);
	write_whole("notes.txt", (const unsigned char *)"keep", 4);
	reopen();
	ck_assert_uint_eq(ngot, 1);
	ck_assert_int_eq(file_size("00000000000000a0.ack"), -1);
	ck_assert_int_eq(file_size("notes.txt"), 4);
}
END_TEST

/* --- damage ------------------------------------------------------------ */

#define FH TTH_SPOOL_FILE_HDR /* records start after the file header */

/* Appends 5 messages and returns where the last record starts. */
static size_t five_and_last_offset(size_t *total)
{
	reopen();
	for (uint64_t n = 1; n <= 4; n++)
		append_n(n, 20, 0);
	*total = (size_t)file_size(SEG1);
	append_n(5, 50, 0);
	tth_spool_close(sp);
	sp = NULL;
	{
		size_t last = *total;

		*total = (size_t)file_size(SEG1);
		return last;
	}
}

START_TEST(test_spool_torn_tail_every_offset)
{
	unsigned char *orig;
	size_t len, last = five_and_last_offset(&len), olen;

	read_whole(SEG1, &orig, &olen);
	ck_assert_uint_eq(olen, len);
	for (size_t cut = last; cut < len; cut++) {
		remove_segments(); /* what the last round appended */
		write_whole(SEG1, orig, cut);
		reopen();
		ck_assert_uint_eq(ngot, 4);
		for (uint64_t n = 1; n <= 4; n++)
			assert_got(n - 1, n, 20);
		if (cut == last) {
			ck_assert_int_eq(nwarn, 0); /* a clean boundary */
		} else {
			ck_assert_int_eq(nwarn, 1);
			ck_assert_str_eq(warn_file, SEG1);
			ck_assert_uint_eq(warn_off, last);
			ck_assert_msg(strstr(warn_what, "cut off") != NULL,
				      "%s", warn_what);
		}
		ck_assert_int_eq(file_size(SEG1), (off_t)last);
		/* appending goes on cleanly after the cut (in a new segment
		   when the last one was damaged) */
		append_n(6, 5, 0);
		reopen();
		ck_assert_int_eq(nwarn, 0);
		ck_assert_uint_eq(ngot, 5);
		assert_got(4, 6, 5);
		tth_spool_close(sp);
		sp = NULL;
	}
	free(orig);
}
END_TEST

START_TEST(test_spool_bad_body_checksum_skipped)
{
	unsigned char *buf;
	size_t len, rec = TTH_SPOOL_HDR + 3 + 20; /* "t/n" + 20 bytes */

	five_and_last_offset(&len);
	read_whole(SEG1, &buf, &len);
	buf[FH + 2 * rec + TTH_SPOOL_HDR + 7] ^= 0x40; /* payload of record 3 */
	write_whole(SEG1, buf, len);
	reopen();
	ck_assert_uint_eq(ngot, 4);
	ck_assert_uint_eq(got[0].id, 1);
	ck_assert_uint_eq(got[1].id, 2);
	ck_assert_uint_eq(got[2].id, 4);
	ck_assert_uint_eq(got[3].id, 5);
	assert_got(3, 5, 50);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_uint_eq(warn_off, FH + 2 * rec);
	ck_assert_msg(strstr(warn_what, "checksum") != NULL, "%s", warn_what);
	ck_assert_int_eq(file_size(SEG1), (off_t)len); /* nothing cut */
	ck_assert_uint_eq(append_n(6, 1, 0), 6); /* ids go on */
	/* ... in a new segment; the damaged one goes with its last ack, and
	   the warning with it */
	ck_assert_int_eq(count_files("seg"), 2);
	reopen();
	ck_assert_int_eq(nwarn, 1);
	ck_assert_uint_eq(ngot, 5);
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(tth_spool_ack(sp, got[i].id), 0);
	ck_assert_int_eq(file_size(SEG1), -1);
	reopen();
	ck_assert_int_eq(nwarn, 0);
	ck_assert_uint_eq(ngot, 1);
	assert_got(0, 6, 1);
	free(buf);
}
END_TEST

START_TEST(test_spool_bad_header_skipped)
{
	unsigned char *buf;
	size_t len, rec = TTH_SPOOL_HDR + 3 + 20;

	five_and_last_offset(&len);
	read_whole(SEG1, &buf, &len);
	buf[FH + 1 * rec + 13] ^= 0x01; /* the id of record 2 */
	write_whole(SEG1, buf, len);
	reopen();
	ck_assert_uint_eq(ngot, 4);
	ck_assert_uint_eq(got[0].id, 1);
	ck_assert_uint_eq(got[1].id, 3);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_uint_eq(warn_off, FH + rec);
	ck_assert_msg(strstr(warn_what, "header") != NULL, "%s", warn_what);
	ck_assert_msg(strstr(warn_what, "skipped") != NULL, "%s", warn_what);
	free(buf);
}
END_TEST

START_TEST(test_spool_torn_ack_tail)
{
	char ack[] = "0000000000000001.ack";
	off_t alen;

	reopen();
	for (uint64_t n = 1; n <= 4; n++)
		append_n(n, 10, 0);
	ck_assert_int_eq(tth_spool_ack(sp, 1), 0);
	ck_assert_int_eq(tth_spool_ack(sp, 3), 0);
	tth_spool_close(sp);
	sp = NULL;
	alen = file_size(ack);
	ck_assert_int_eq(alen, FH + 2 * TTH_SPOOL_HDR);
	ck_assert_int_eq(truncate(path_of(ack), alen - 5), 0);
	reopen(); /* the ack of 3 is lost: 3 comes back, never 1 */
	ck_assert_int_eq(nwarn, 1);
	ck_assert_str_eq(warn_file, ack);
	ck_assert_uint_eq(ngot, 3);
	ck_assert_uint_eq(got[0].id, 2);
	ck_assert_uint_eq(got[1].id, 3);
	ck_assert_uint_eq(got[2].id, 4);
	ck_assert_int_eq(file_size(ack), FH + TTH_SPOOL_HDR);
}
END_TEST

/* --- bounds, durability, errors ---------------------------------------- */

START_TEST(test_spool_full_and_too_big)
{
	struct tth_spool_cfg c;
	struct tether_message m;
	struct tth_spool_stats s;
	char topic[32];
	unsigned char payload[512];
	static char longtopic[70000];
	uint64_t id, n = 0;
	int rc;

	cfg_init(&c, 4096, 0, TETHER_FSYNC_NEVER);
	reopen_cfg(&c);
	make_msg(&m, 1, topic, payload, 100); /* 36 + 3 + 100 = 139 */
	while ((rc = tth_spool_append(sp, &m, 0, 0, &id)) == 0)
		ck_assert_uint_lt(++n, 100);
	ck_assert_int_eq(rc, TETHER_EFULL);
	ck_assert_uint_eq(n, 4096 / 139);
	ck_assert_msg(strstr(tth_spool_error(sp), "full") != NULL, "%s",
		      tth_spool_error(sp));
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_le(s.bytes, 4096);
	/* acks free the space once the whole segment is acknowledged */
	for (uint64_t i = 1; i < n; i++)
		ck_assert_int_eq(tth_spool_ack(sp, i), 0);
	ck_assert_int_eq(tth_spool_append(sp, &m, 0, 0, &id), TETHER_EFULL);
	ck_assert_int_eq(tth_spool_ack(sp, n), 0);
	ck_assert_int_eq(tth_spool_append(sp, &m, 0, 0, &id), 0);
	ck_assert_uint_eq(id, n + 1);
	ck_assert_int_eq(count_files("seg"), 1);

	m.len = 4096; /* a record larger than the whole spool */
	m.payload = longtopic;
	ck_assert_int_eq(tth_spool_append(sp, &m, 0, 0, &id), TETHER_ETOOBIG);
	memset(longtopic, 'x', sizeof(longtopic) - 1);
	m.topic = longtopic; /* longer than 65535 */
	m.len = 1;
	ck_assert_int_eq(tth_spool_append(sp, &m, 0, 0, &id), TETHER_ETOOBIG);
	m.topic = NULL;
	m.qos = 3;
	ck_assert_int_eq(tth_spool_append(sp, &m, 0, 0, &id), TETHER_EINVAL);
}
END_TEST

START_TEST(test_spool_fsync_always)
{
	struct tth_spool_cfg c;
	struct tth_spool_stats s;

	cfg_init(&c, 1 << 20, 0, TETHER_FSYNC_ALWAYS);
	reopen_cfg(&c);
	for (uint64_t n = 1; n <= 5; n++)
		append_n(n, 10, 0);
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.syncs, 5);
	ck_assert_uint_eq(tth_spool_next_flush(sp), TTH_NEVER);
	ck_assert_int_eq(tth_spool_flush(sp, 0), 0); /* nothing dirty */
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.syncs, 5);
}
END_TEST

START_TEST(test_spool_fsync_interval)
{
	struct tth_spool_cfg c;
	struct tth_spool_stats s;

	cfg_init(&c, 1 << 20, 0, TETHER_FSYNC_INTERVAL);
	reopen_cfg(&c);
	ck_assert_uint_eq(tth_spool_next_flush(sp), TTH_NEVER);
	append_n(1, 10, 0); /* 0 ms since the (initial) last sync */
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.syncs, 0);
	ck_assert_uint_eq(tth_spool_next_flush(sp), 1000);
	append_n(2, 10, 999);
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.syncs, 0);
	append_n(3, 10, 1000); /* the interval passed: synced now */
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.syncs, 1);
	ck_assert_uint_eq(tth_spool_next_flush(sp), TTH_NEVER);
	append_n(4, 10, 1200);
	ck_assert_uint_eq(tth_spool_next_flush(sp), 2000);
	ck_assert_int_eq(tth_spool_flush(sp, 2000), 0); /* the timer */
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.syncs, 2);
	ck_assert_uint_eq(tth_spool_next_flush(sp), TTH_NEVER);
	ck_assert_int_eq(tth_spool_ack(sp, 1), 0); /* acks wait for a flush */
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.syncs, 2);
	ck_assert_uint_eq(tth_spool_next_flush(sp), 3000);
}
END_TEST

START_TEST(test_spool_fsync_never)
{
	struct tth_spool_cfg c;
	struct tth_spool_stats s;

	cfg_init(&c, 1 << 20, 0, TETHER_FSYNC_NEVER);
	reopen_cfg(&c);
	for (uint64_t n = 1; n <= 5; n++)
		append_n(n, 10, n * 5000);
	ck_assert_uint_eq(tth_spool_next_flush(sp), TTH_NEVER);
	ck_assert_int_eq(tth_spool_flush(sp, 99999), 0);
	tth_spool_get_stats(sp, &s);
	ck_assert_uint_eq(s.syncs, 0);
}
END_TEST

/* In a child (the file size limit would hit Check's own files too):
   0 when the append failed as it should. */
static int append_over_size_limit(off_t limit)
{
	struct rlimit rl;
	struct tether_message m;
	char topic[32];
	unsigned char payload[512];
	uint64_t id;

	signal(SIGXFSZ, SIG_IGN);
	rl.rlim_cur = rl.rlim_max = (rlim_t)limit;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 2;
	make_msg(&m, 2, topic, payload, 200);
	if (tth_spool_append(sp, &m, 0, 0, &id) != TETHER_EIO)
		return 3;
	if (!strstr(tth_spool_error(sp), "File too large"))
		return 4;
	return 0;
}

START_TEST(test_spool_write_error_is_eio_and_leaves_no_torn_record)
{
	off_t before;
	pid_t child;
	int status;

	reopen();
	append_n(1, 10, 0);
	before = file_size(SEG1);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(append_over_size_limit(before + 40));
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* the part written was cut back: no torn record left behind */
	ck_assert_int_eq(file_size(SEG1), before);
	reopen();
	ck_assert_int_eq(nwarn, 0);
	ck_assert_uint_eq(ngot, 1);
}
END_TEST

START_TEST(test_spool_open_errors)
{
	struct tth_spool_cfg c;
	struct tth_spool *s2 = NULL;
	char err[256];
	char file[128];

	cfg_init(&c, 0, 0, TETHER_FSYNC_NEVER);
	ck_assert_int_eq(tth_spool_open(&s2, dir, &c, NULL, NULL, err,
					sizeof(err)),
			 TETHER_EINVAL);
	cfg_init(&c, 1000, 0, (enum tether_fsync)5);
	ck_assert_int_eq(tth_spool_open(&s2, dir, &c, NULL, NULL, err,
					sizeof(err)),
			 TETHER_EINVAL);
	snprintf(file, sizeof(file), "%s/plain", tmpdir);
	close(open(file, O_WRONLY | O_CREAT, 0600));
	cfg_init(&c, 1000, 0, TETHER_FSYNC_NEVER);
	snprintf(file, sizeof(file), "%s/plain/spool", tmpdir);
	ck_assert_int_eq(tth_spool_open(&s2, file, &c, NULL, NULL, err,
					sizeof(err)),
			 TETHER_EIO);
	ck_assert_msg(strstr(err, "Not a directory") != NULL, "%s", err);
	ck_assert_ptr_null(s2);
}
END_TEST

START_TEST(test_spool_lock_excludes_second_owner)
{
	struct tth_spool_cfg c;
	struct tth_spool *s2 = NULL;
	char err[256], pid[32];
	pid_t child;
	int status;

	reopen();
	cfg_init(&c, 1 << 20, 0, TETHER_FSYNC_NEVER);
	ck_assert_int_eq(tth_spool_open(&s2, dir, &c, NULL, NULL, err,
					sizeof(err)),
			 TETHER_ESTATE);
	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	ck_assert_msg(strstr(err, "in use") && strstr(err, pid), "%s", err);
	/* another process gets the same answer */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int rc = tth_spool_open(&s2, dir, &c, NULL, NULL, err,
					sizeof(err));
		_exit(rc == TETHER_ESTATE ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tth_spool_close(sp);
	sp = NULL;
	ck_assert_int_eq(tth_spool_open(&s2, dir, &c, NULL, NULL, err,
					sizeof(err)),
			 0);
	tth_spool_close(s2);
}
END_TEST

static Suite *spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc;

	tc = tcase_create("format");
	tcase_add_test(tc, test_spool_crc32c_known_values);
	tcase_add_test(tc, test_spool_cfg_from_queue);
	suite_add_tcase(s, tc);

	tc = tcase_create("recovery");
	tcase_add_checked_fixture(tc, spool_setup, spool_teardown);
	tcase_add_test(tc, test_spool_round_trip_and_restart);
	tcase_add_test(tc, test_spool_properties_round_trip);
	tcase_add_test(tc, test_spool_ack_then_restart);
	tcase_add_test(tc, test_spool_orphan_ack_and_strangers);
	suite_add_tcase(s, tc);

	tc = tcase_create("damage");
	tcase_add_checked_fixture(tc, spool_setup, spool_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_spool_torn_tail_every_offset);
	tcase_add_test(tc, test_spool_bad_body_checksum_skipped);
	tcase_add_test(tc, test_spool_bad_header_skipped);
	tcase_add_test(tc, test_spool_torn_ack_tail);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, spool_setup, spool_teardown);
	tcase_add_test(tc, test_spool_full_and_too_big);
	tcase_add_test(tc, test_spool_fsync_always);
	tcase_add_test(tc, test_spool_fsync_interval);
	tcase_add_test(tc, test_spool_fsync_never);
	tcase_add_test(tc, test_spool_write_error_is_eio_and_leaves_no_torn_record);
	tcase_add_test(tc, test_spool_open_errors);
	tcase_add_test(tc, test_spool_lock_excludes_second_owner);
	suite_add_tcase(s, tc);

	suite_add_tcase(s, spool_segments_tcase());
	suite_add_tcase(s, spool_hardening_tcase());
	return s;
}

TTH_CHECK_MAIN(spool_suite)
