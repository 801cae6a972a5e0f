/* Spool tests for hostile or damaged input (issue 14): forged records in
   a damaged body, symbolic links, a directory others can write, huge
   ids, version 1 files, acks that find no space. Part of check_spool. */
#define _GNU_SOURCE /* memmem */
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

TCase *spool_hardening_tcase(void);

#define FH TTH_SPOOL_FILE_HDR

static void le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A record header as a writer would make it: salted when salt_it. */
static void rec_hdr(uint8_t *h, const char *magic, int type, uint16_t tlen,
		    uint32_t plen, uint64_t id, const void *body, int salt_it,
		    uint64_t salt)
{
	uint8_t s8[8];
	uint32_t crc = 0;

	memcpy(h, magic, 4);
	h[4] = (uint8_t)type;
	h[5] = type == TTH_SPOOL_REC_ACK ? 0 : (1 | (tlen ? TTH_SPOOL_F_TOPIC : 0));
	le(h + 6, tlen, 2);
	le(h + 8, plen, 4);
	le(h + 12, id, 8);
	le(h + 20, 0, 8);
	le(h + 28, tth_crc32c(0, body, (size_t)tlen + plen), 4);
	if (salt_it) {
		le(s8, salt, 8);
		crc = tth_crc32c(0, s8, 8);
	}
	le(h + 32, tth_crc32c(crc, h, 32), 4);
}

static uint64_t file_salt(const char *name)
{
	unsigned char *b;
	size_t len;
	uint64_t s = 0;

	read_whole(name, &b, &len);
	ck_assert_uint_ge(len, FH);
	ck_assert_int_eq(memcmp(b, "TSPF", 4), 0);
	for (int i = 7; i >= 0; i--)
		s = s << 8 | b[8 + i];
	free(b);
	return s;
}

static int payload_has(size_t i, const char *s)
{
	return memmem(got[i].payload, got[i].len, s, strlen(s)) != NULL;
}

/*
 * The probe of issue 14: a message whose payload carries a well-formed
 * record (checksummed as version 1 did, and as version 2 would without
 * the salt), then the real record's header is damaged. Recovery must
 * skip the damaged record whole, deliver no forged message, and keep the
 * twelve real records after it.
 */
START_TEST(test_spool_forged_record_in_damaged_body_is_not_trusted)
{
	uint8_t payload[400], fake_body[] = "t/xFORGED";
	struct tether_message m;
	unsigned char *buf;
	size_t len, off = 0, p = 0;
	char topic[32];

	reopen();
	append_n(1, 20, 0);
	/* message 2: "FAKE" records with every checksum a forger can make */
	memset(payload, 'x', sizeof(payload));
	p = 8;
	for (int k = 0; k < 3; k++) {
		static const uint64_t ids[] = {2, 3, UINT64_C(1) << 40};

		rec_hdr(payload + p, "TSR2", TTH_SPOOL_REC_MSG, 3,
			sizeof(fake_body) - 1 - 3, ids[k], fake_body, 0, 0);
		memcpy(payload + p + TTH_SPOOL_HDR, fake_body,
		       sizeof(fake_body) - 1);
		p += TTH_SPOOL_HDR + sizeof(fake_body) - 1;
	}
	rec_hdr(payload + p, "TSR1", TTH_SPOOL_REC_MSG, 3,
		sizeof(fake_body) - 1 - 3, 2, fake_body, 0, 0);
	memcpy(payload + p + TTH_SPOOL_HDR, fake_body, sizeof(fake_body) - 1);
	make_msg(&m, 2, topic, payload, 0);
	m.payload = payload;
	m.len = sizeof(payload);
	ck_assert_int_eq(tth_spool_append(sp, &m, 2000, 0, NULL), 0);
	for (uint64_t n = 3; n <= 14; n++)
		append_n(n, 30, 0);
	tth_spool_close(sp);
	sp = NULL;
	read_whole(SEG1, &buf, &len);
	off = FH + TTH_SPOOL_HDR + 3 + 20; /* record 2 */
	buf[off + 1] ^= 0x20;               /* its magic: header damaged */
	write_whole(SEG1, buf, len);
	free(buf);
	reopen();
	ck_assert_uint_eq(ngot, 13);
	ck_assert_uint_eq(got[0].id, 1);
	for (size_t i = 0; i < ngot; i++) {
		ck_assert_msg(!payload_has(i, "FORGED"), "forged record %zu", i);
		ck_assert_str_ne(got[i].topic, "t/x");
	}
	for (uint64_t n = 3; n <= 14; n++) {
		ck_assert_uint_eq(got[n - 2].id, n);
		assert_got(n - 2, n, 30);
	}
	ck_assert_int_eq(nwarn, 1);
	ck_assert_uint_eq(warn_off, off);
	ck_assert_msg(strstr(warn_what, "damaged record header"), "%s", warn_what);
}
END_TEST

/* A sound (salted) record whose id is far beyond its neighbours', or
   above TTH_SPOOL_ID_MAX: skipped, no huge bookkeeping, no failure. */
START_TEST(test_spool_huge_id_is_skipped_not_out_of_memory)
{
	static const uint64_t bad[] = {UINT64_MAX, UINT64_C(1) << 62 | 1,
				       UINT64_C(1) << 40};
	uint8_t rec[TTH_SPOOL_HDR + 4];
	unsigned char *buf;
	size_t len;
	uint64_t salt;

	for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
		if (k)
			remove_segments();
		reopen();
		append_n(1, 10, 0);
		append_n(2, 10, 0);
		tth_spool_close(sp);
		sp = NULL;
		salt = file_salt(SEG1);
		rec_hdr(rec, "TSR2", TTH_SPOOL_REC_MSG, 0, 4, bad[k], "huge", 1,
			salt);
		memcpy(rec + TTH_SPOOL_HDR, "huge", 4);
		read_whole(SEG1, &buf, &len);
		buf = realloc(buf, len + sizeof(rec));
		memcpy(buf + len, rec, sizeof(rec));
		write_whole(SEG1, buf, len + sizeof(rec));
		free(buf);
		reopen();
		ck_assert_uint_eq(ngot, 2);
		ck_assert_uint_eq(got[1].id, 2);
		ck_assert_int_eq(nwarn, 1);
		ck_assert_msg(strstr(warn_what, "cut off"), "%s", warn_what);
		/* ids go on from the real ones */
		ck_assert_uint_eq(append_n(3, 10, 0), 3);
		tth_spool_close(sp);
		sp = NULL;
	}
}
END_TEST

START_TEST(test_spool_symlinked_files_are_refused)
{
	struct tth_spool_cfg c;
	struct tth_spool *s2 = NULL;
	char err[256], target[160];
	static const char *const names[] = {SEG1, "0000000000000001.ack",
					    "lock"};

	cfg_init(&c, 1 << 20, 0, TETHER_FSYNC_NEVER);
	snprintf(target, sizeof(target), "%s/precious", tmpdir);
	for (size_t k = 0; k < 3; k++) {
		int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "keep me", 7), 7);
		close(fd);
		reopen();
		append_n(1, 10, 0);
		tth_spool_close(sp);
		sp = NULL;
		remove_segments();
		if (k == 1) /* an .ack is read when its .seg is there */
			write_whole(SEG1, (const unsigned char *)"", 0);
		if (k == 2)
			ck_assert_int_eq(unlink(path_of("lock")), 0);
		ck_assert_int_eq(symlink(target, path_of(names[k])), 0);
		ck_assert_int_eq(tth_spool_open(&s2, dir, &c, NULL, NULL, err,
						sizeof(err)),
				 TETHER_EIO);
		ck_assert_msg(strstr(err, "symbolic link") && strstr(err, names[k]),
			      "%s", err);
		ck_assert_ptr_null(s2);
		{
			struct stat st;

			ck_assert_int_eq(stat(target, &st), 0);
			ck_assert_int_eq(st.st_size, 7); /* untouched */
		}
		ck_assert_int_eq(unlink(path_of(names[k])), 0);
		unlink(path_of(SEG1));
	}
}
END_TEST

START_TEST(test_spool_directory_writable_by_others_is_refused)
{
	static const struct {
		mode_t mode;
		const char *says;
	} cases[] = {{0770, "its group"}, {0707, "others"}, {01777, "others"}};
	struct tth_spool_cfg c;
	struct tth_spool *s2 = NULL;
	char err[256];

	cfg_init(&c, 1 << 20, 0, TETHER_FSYNC_NEVER);
	reopen(); /* creates it, 0700 */
	tth_spool_close(sp);
	sp = NULL;
	for (size_t k = 0; k < 3; k++) {
		ck_assert_int_eq(chmod(dir, cases[k].mode), 0);
		ck_assert_int_eq(tth_spool_open(&s2, dir, &c, NULL, NULL, err,
						sizeof(err)),
				 TETHER_ECONFIG);
		ck_assert_msg(strstr(err, "writable by") &&
				      strstr(err, cases[k].says),
			      "%s", err);
		ck_assert_ptr_null(s2);
	}
	ck_assert_int_eq(chmod(dir, 0755), 0); /* readable is fine */
	ck_assert_int_eq(tth_spool_open(&s2, dir, &c, NULL, NULL, err,
					sizeof(err)),
			 0);
	tth_spool_close(s2);
}
END_TEST

/* A spool of format version 1 (before the salt) is read; new records
   go to a version 2 file; the old file goes once its messages are acked,
   its acks written in its own format meanwhile. */
START_TEST(test_spool_version1_files_are_read_and_drain)
{
	uint8_t file[3 * (TTH_SPOOL_HDR + 8)], ack[TTH_SPOOL_HDR];
	char body[8];
	unsigned char *b;
	size_t len;

	reopen(); /* creates the directory */
	tth_spool_close(sp);
	sp = NULL;
	for (int k = 0; k < 3; k++) {
		uint8_t *r = file + k * (TTH_SPOOL_HDR + 8);

		snprintf(body, sizeof(body), "t/1old%d", k);
		rec_hdr(r, "TSR1", TTH_SPOOL_REC_MSG, 3, 5, 7 + (uint64_t)k, body,
			0, 0);
		memcpy(r + TTH_SPOOL_HDR, body, 8);
	}
	write_whole(SEG1, file, sizeof(file));
	rec_hdr(ack, "TSR1", TTH_SPOOL_REC_ACK, 0, 0, 8, "", 0, 0);
	write_whole("0000000000000001.ack", ack, sizeof(ack));
	reopen();
	ck_assert_int_eq(nwarn, 0);
	ck_assert_uint_eq(ngot, 2);
	ck_assert_uint_eq(got[0].id, 7);
	ck_assert_uint_eq(got[1].id, 9);
	ck_assert_int_eq(memcmp(got[1].payload, "old2", 4), 0);
	/* appends never go to a version 1 file */
	ck_assert_uint_eq(append_n(1, 10, 0), 10);
	ck_assert_int_eq(count_files("seg"), 2);
	read_whole("0000000000000002.seg", &b, &len);
	ck_assert_int_eq(memcmp(b, "TSPF", 4), 0);
	free(b);
	/* an ack for the old file is a version 1 record there */
	ck_assert_int_eq(tth_spool_ack(sp, 7), 0);
	ck_assert_int_eq(file_size("0000000000000001.ack"), 2 * TTH_SPOOL_HDR);
	reopen();
	ck_assert_uint_eq(ngot, 2);
	ck_assert_uint_eq(got[0].id, 9);
	ck_assert_int_eq(tth_spool_ack(sp, 9), 0);
	ck_assert_int_eq(file_size(SEG1), -1);
	reopen();
	ck_assert_uint_eq(ngot, 1);
	assert_got(0, 1, 10);
}
END_TEST

START_TEST(test_spool_newer_version_and_damaged_file_header)
{
	struct tth_spool_cfg c;
	struct tth_spool *s2 = NULL;
	char err[256];
	unsigned char *b;
	size_t len;

	cfg_init(&c, 1 << 20, 0, TETHER_FSYNC_NEVER);
	reopen();
	append_n(1, 10, 0);
	tth_spool_close(sp);
	sp = NULL;
	read_whole(SEG1, &b, &len);
	b[4] = 3; /* version 3, checksum made right */
	le(b + 16, tth_crc32c(0, b, 16), 4);
	write_whole(SEG1, b, len);
	ck_assert_int_eq(tth_spool_open(&s2, dir, &c, NULL, NULL, err,
					sizeof(err)),
			 TETHER_EIO);
	ck_assert_msg(strstr(err, "version 3") && strstr(err, SEG1), "%s", err);
	ck_assert_int_eq(file_size(SEG1), (off_t)len); /* untouched */
	/* a damaged file header: set aside whole, never cut */
	b[4] = 2;
	b[10] ^= 0xff; /* the salt, checksum not made right */
	write_whole(SEG1, b, len);
	reopen();
	ck_assert_uint_eq(ngot, 0);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_msg(strstr(warn_what, "set aside"), "%s", warn_what);
	ck_assert_int_eq(file_size(SEG1 ".damaged"), (off_t)len);
	ck_assert_int_eq(file_size(SEG1), -1);
	/* a damaged magic is no reason to cut a whole segment either */
	tth_spool_close(sp);
	sp = NULL;
	ck_assert_int_eq(unlink(path_of(SEG1 ".damaged")), 0);
	b[10] ^= 0xff; /* the salt right again */
	b[0] ^= 0x01;
	write_whole(SEG1, b, len);
	reopen();
	ck_assert_uint_eq(ngot, 0);
	ck_assert_msg(strstr(warn_what, "set aside"), "%s", warn_what);
	ck_assert_int_eq(file_size(SEG1 ".damaged"), (off_t)len);
	b[0] ^= 0x01;
	/* a torn one (a crash right after the create) is cut to nothing */
	tth_spool_close(sp);
	sp = NULL;
	remove_segments();
	write_whole(SEG1, b, FH - 3);
	reopen();
	ck_assert_uint_eq(ngot, 0);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_msg(strstr(warn_what, "torn file header"), "%s", warn_what);
	ck_assert_uint_eq(append_n(1, 10, 0), 1);
	free(b);
}
END_TEST

/* In a child: acks while the .ack file cannot grow (RLIMIT_FSIZE): each
   is applied at once, waits in memory, and is written once it can be. */
static int acks_without_space(off_t limit)
{
	struct rlimit rl;
	struct tth_spool_stats st;

	signal(SIGXFSZ, SIG_IGN);
	if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 2;
	rl.rlim_cur = (rlim_t)limit; /* the hard limit stays: raised again */
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 2;
	for (uint64_t id = 1; id <= 3; id++)
		if (tth_spool_ack(sp, id) != 0)
			return 3;
	tth_spool_get_stats(sp, &st);
	if (st.pending_acks != 3 || st.live != 7)
		return 4;
	if (tth_spool_ack(sp, 2) != TETHER_ENOENT)
		return 5; /* applied: not live any more */
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 6;
	if (tth_spool_flush(sp, 0) != 0)
		return 7;
	tth_spool_get_stats(sp, &st);
	if (st.pending_acks != 0)
		return 8;
	if (tth_spool_ack(sp, 4) != 0)
		return 9;
	tth_spool_close(sp);
	return 0;
}

START_TEST(test_spool_acks_without_space_wait_in_memory)
{
	pid_t child;
	int status;

	reopen();
	for (uint64_t n = 1; n <= 10; n++)
		append_n(n, 10, 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(acks_without_space(0));
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	reopen();
	ck_assert_uint_eq(ngot, 6);
	ck_assert_uint_eq(got[0].id, 5);
}
END_TEST

TCase *spool_hardening_tcase(void)
{
	TCase *tc = tcase_create("hardening");

	tcase_add_checked_fixture(tc, spool_setup, spool_teardown);
	tcase_add_test(tc, test_spool_forged_record_in_damaged_body_is_not_trusted);
	tcase_add_test(tc, test_spool_huge_id_is_skipped_not_out_of_memory);
	tcase_add_test(tc, test_spool_symlinked_files_are_refused);
	tcase_add_test(tc, test_spool_directory_writable_by_others_is_refused);
	tcase_add_test(tc, test_spool_version1_files_are_read_and_drain);
	tcase_add_test(tc, test_spool_newer_version_and_damaged_file_header);
	tcase_add_test(tc, test_spool_acks_without_space_wait_in_memory);
	return tc;
}
