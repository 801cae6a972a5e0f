/*
 * A spool on a full disk (issue 14): a 1 MiB tmpfs fills, then space
 * returns; sends are accepted again and nothing is lost. Needs root (it
 * mounts a tmpfs, in a private mount namespace, so every mount goes with
 * the process even when a test fails) and mosquitto (the end-to-end
 * case): without either it reports SKIP (exit 77).
 */
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tether/tether.h>

#include "broker.h"
#include "check-int.h"
#include "itest.h"
#include "net.h"
#include "spool-int.h"

#define DISK "size=1m,mode=0700"
#define MSG_LEN 1000
#define MAX_SEQ 20000

static char mnt[64];
static char dir[96];
static struct tth_spool *sp;
static uint64_t *recovered;
static size_t nrecovered;

/* mnt is made and removed by main(): a failed test skips its teardown */
static void mount_setup(void)
{
	ck_assert_msg(mount("tmpfs", mnt, "tmpfs", 0, DISK) == 0, "mount: %s",
		      strerror(errno));
	snprintf(dir, sizeof(dir), "%s/spool", mnt);
	sp = NULL;
	nrecovered = 0;
}

static void mount_teardown(void)
{
	tth_spool_close(sp);
	sp = NULL;
	free(recovered);
	recovered = NULL;
	umount2(mnt, MNT_DETACH);
}

static void payload_of(uint64_t n, unsigned char *p)
{
	int k = snprintf((char *)p, MSG_LEN, "%llu:", (unsigned long long)n);

	for (size_t i = (size_t)k; i < MSG_LEN; i++)
		p[i] = (unsigned char)('a' + (n + i) % 26);
}

static int on_msg(void *ud, uint64_t id, uint64_t expires,
		  const struct tether_message *m)
{
	unsigned char want[MSG_LEN];

	(void)ud;
	ck_assert_uint_eq(m->len, MSG_LEN);
	payload_of(expires, want); /* expires carries the number here */
	ck_assert_int_eq(memcmp(m->payload, want, MSG_LEN), 0);
	recovered = realloc(recovered, (nrecovered + 1) * sizeof(*recovered));
	ck_assert_ptr_nonnull(recovered);
	recovered[nrecovered++] = id;
	return 0;
}

static const struct tth_spool_recover_ops rops = {on_msg, NULL};

static void open_spool(void)
{
	struct tth_spool_cfg c = {.max_bytes = 64u << 20,
				  .segment_bytes = 64u << 10,
				  .fsync = TETHER_FSYNC_ALWAYS};
	char err[256];

	tth_spool_close(sp);
	sp = NULL;
	nrecovered = 0;
	ck_assert_msg(tth_spool_open(&sp, dir, &c, &rops, NULL, err,
				     sizeof(err)) == 0,
		      "open: %s", err);
}

/* Appends message n (its number as the opaque expires). */
static int append(uint64_t n, uint64_t *id)
{
	unsigned char p[MSG_LEN];
	struct tether_message m = {.size = sizeof(m),
				   .topic = "t",
				   .payload = p,
				   .len = MSG_LEN,
				   .qos = 1};

	payload_of(n, p);
	return tth_spool_append(sp, &m, n, 0, id);
}

/*
 * The issue's probe: a spool larger than its disk fills it; everything
 * but the last ten is delivered (acked) while the disk is full; the
 * delivered segments go, space returns, sends are accepted again, and a
 * restart brings back exactly what was not delivered.
 */
START_TEST(test_spool_diskfull_fills_then_space_returns)
{
	uint64_t ids[2000], n = 0, more[200];
	struct tth_spool_stats st;
	int rc;

	open_spool();
	while ((rc = append(n, &ids[n])) == 0)
		ck_assert_uint_lt(++n, 2000);
	ck_assert_int_eq(rc, TETHER_EFULL);
	ck_assert_int_eq(tth_spool_nospace(sp), 1);
	ck_assert_msg(strstr(tth_spool_error(sp), "No space left"), "%s",
		      tth_spool_error(sp));
	ck_assert_uint_gt(n, 500); /* the disk, not some other bound */
	/* still full: refused again, nothing half written */
	ck_assert_int_eq(append(n, NULL), TETHER_EFULL);
	for (uint64_t i = 0; i + 10 < n; i++)
		ck_assert_int_eq(tth_spool_ack(sp, ids[i]), 0);
	tth_spool_get_stats(sp, &st);
	ck_assert_uint_eq(st.live, 10);
	ck_assert_uint_le(st.segments, 2); /* the delivered ones are gone */
	for (uint64_t i = 0; i < 200; i++)
		ck_assert_msg(append(n + i, &more[i]) == 0, "append %llu: %s",
			      (unsigned long long)i, tth_spool_error(sp));
	ck_assert_int_eq(tth_spool_nospace(sp), 0);
	open_spool(); /* nothing lost, nothing delivered comes back */
	ck_assert_uint_eq(nrecovered, 210);
	for (size_t i = 0; i < 10; i++)
		ck_assert_uint_eq(recovered[i], ids[n - 10 + i]);
	for (size_t i = 0; i < 200; i++)
		ck_assert_uint_eq(recovered[10 + i], more[i]);
}
END_TEST

/*
 * Someone else fills the disk: acks of the active segment find no space
 * for their records and wait in memory (pending_acks); once the space
 * returns they are written and appends go on. A restart in between
 * sends the pending ones again (never loses one).
 */
START_TEST(test_spool_diskfull_pending_acks_are_written_later)
{
	uint64_t ids[20];
	struct tth_spool_stats st;
	char filler[128];
	uint64_t extra = 0;
	int fd, rc;
	unsigned char block[4096];

	open_spool();
	for (uint64_t i = 0; i < 20; i++)
		ck_assert_int_eq(append(i, &ids[i]), 0);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	memset(block, 'f', sizeof(block));
	for (int i = 0; i < 1024 && write(fd, block, sizeof(block)) > 0; i++)
		;
	for (int i = 0; i < 4096 && write(fd, block, 1) > 0; i++)
		;
	close(fd);
	for (uint64_t i = 0; i < 5; i++)
		ck_assert_int_eq(tth_spool_ack(sp, ids[i]), 0);
	tth_spool_get_stats(sp, &st);
	ck_assert_uint_eq(st.live, 15);
	ck_assert_uint_eq(st.pending_acks, 5);
	/* what still fits in the segment's last page, then no more */
	while ((rc = append(20 + extra, NULL)) == 0)
		ck_assert_uint_lt(++extra, 8);
	ck_assert_int_eq(rc, TETHER_EFULL);
	ck_assert_int_eq(tth_spool_nospace(sp), 1);
	ck_assert_int_eq(unlink(filler), 0); /* space returns */
	ck_assert_int_eq(append(20 + extra, NULL), 0);
	ck_assert_int_eq(tth_spool_nospace(sp), 0);
	tth_spool_get_stats(sp, &st);
	ck_assert_uint_eq(st.pending_acks, 0);
	open_spool();
	ck_assert_uint_eq(nrecovered, 15 + extra + 1);
	ck_assert_uint_eq(recovered[0], ids[5]);
}
END_TEST

/* ------------------------------------------------------ end to end */

static struct th_broker *broker;
static tether_conn *snd, *sub;
static _Atomic uint32_t *seen;
static atomic_int n_distinct, n_probe, n_space_warn, n_back_warn;

static void hook(tether_conn *c, const struct tether_event *ev)
{
	unsigned long seq;

	if (ev->type == TETHER_EV_WARNING && c == snd && ev->detail) {
		if (strstr(ev->detail, "no space left"))
			atomic_fetch_add(&n_space_warn, 1);
		if (strstr(ev->detail, "space is back"))
			atomic_fetch_add(&n_back_warn, 1);
	}
	if (ev->type != TETHER_EV_MESSAGE || c != sub)
		return;
	if (strcmp(ev->message->topic, "df/probe") == 0) {
		atomic_fetch_add(&n_probe, 1);
		return;
	}
	seq = strtoul((const char *)ev->message->payload, NULL, 10);
	if (seq < MAX_SEQ && atomic_fetch_add(&seen[seq], 1) == 0)
		atomic_fetch_add(&n_distinct, 1);
}

static void e2e_setup(void)
{
	struct th_broker_opts bo = {.max_queued_messages = -1};

	mount_setup();
	seen = calloc(MAX_SEQ, sizeof(*seen));
	ck_assert_ptr_nonnull((void *)seen);
	atomic_store(&n_distinct, 0);
	atomic_store(&n_probe, 0);
	atomic_store(&n_space_warn, 0);
	atomic_store(&n_back_warn, 0);
	ck_assert_int_eq(th_broker_start(&bo, &broker), 0);
	it_setup(0);
	it_set_hook(hook);
}

static void e2e_teardown(void)
{
	it_teardown();
	th_broker_free(broker);
	broker = NULL;
	free((void *)seen);
	mount_teardown();
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int send_seq(uint64_t n)
{
	unsigned char p[MSG_LEN];
	struct tether_message m = {.size = sizeof(m),
				   .topic = "df/m",
				   .payload = p,
				   .len = MSG_LEN,
				   .qos = 1};

	payload_of(n, p);
	return tether_conn_send(snd, &m, NULL);
}

/*
 * Through tether_conn_send: QoS 1 sends before the start fill the disk
 * (each on disk before send returns) until TETHER_EFULL and a WARNING;
 * the start delivers them, the delivered segments go, sends are accepted
 * again (a second WARNING), and the subscriber gets every accepted one.
 */
START_TEST(test_spool_diskfull_end_to_end)
{
	struct tether_queue_cfg q;
	struct tether_message probe = {.size = sizeof(probe),
				       .topic = "df/probe",
				       .payload = "p",
				       .len = 1,
				       .qos = 1};
	char uri[64];
	uint64_t n = 0, total;
	int rc;

	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", th_broker_port(broker));
	ck_assert_int_eq(tether_conn_new(it_mgr, "sub", "mqtt", &sub), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(sub, uri), 0);
	ck_assert_int_eq(tether_conn_subscribe(sub, "df/#", 1), 0);
	it_use_fixed(sub, "100ms");
	it_start(sub);
	for (int i = 0; i < 40 && !atomic_load(&n_probe); i++) {
		if (tether_conn_state(sub) == TETHER_STATE_ONLINE)
			tether_conn_send(sub, &probe, NULL);
		sleep_ms(250);
	}
	ck_assert_msg(atomic_load(&n_probe) > 0, "subscriber not subscribed");

	ck_assert_int_eq(tether_conn_new(it_mgr, "snd", "mqtt", &snd), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(snd, uri), 0);
	tether_queue_cfg_defaults(&q);
	q.spool_dir = dir;
	ck_assert_int_eq(tether_conn_set_queue(snd, &q), 0);
	it_use_fixed(snd, "100ms");
	while ((rc = send_seq(n)) == 0)
		ck_assert_uint_lt(++n, MAX_SEQ / 2);
	ck_assert_int_eq(rc, TETHER_EFULL);
	ck_assert_uint_gt(n, 500);
	it_start(snd);
	/* delivered ones free their segments: sends are taken again */
	total = n;
	for (int i = 0; i < 200 && total < n + 300; i++) {
		while (total < n + 300 && send_seq(total) == 0)
			total++;
		sleep_ms(50);
	}
	ck_assert_uint_eq(total, n + 300);
	for (int i = 0; i < 200 && (uint64_t)atomic_load(&n_distinct) < total;
	     i++)
		sleep_ms(50);
	ck_assert_uint_eq((uint64_t)atomic_load(&n_distinct), total);
	ck_assert(it_wait(snd, TETHER_EV_SENT, (int)total, 5000));
	ck_assert_int_ge(atomic_load(&n_space_warn), 1);
	ck_assert_int_ge(atomic_load(&n_back_warn), 1);
}
END_TEST

static Suite *diskfull_suite(void)
{
	Suite *s = suite_create("spool_diskfull");
	TCase *tc = tcase_create("spool");

	tcase_add_checked_fixture(tc, mount_setup, mount_teardown);
	tcase_add_test(tc, test_spool_diskfull_fills_then_space_returns);
	tcase_add_test(tc, test_spool_diskfull_pending_acks_are_written_later);
	suite_add_tcase(s, tc);
	tc = it_tcase(s, "end_to_end", e2e_setup, e2e_teardown, 60);
	tcase_add_test(tc, test_spool_diskfull_end_to_end);
	return s;
}

int main(void)
{
	SRunner *sr;
	int nf;

	if (geteuid() != 0) {
		fprintf(stderr, "not root (a tmpfs is mounted): skipping\n");
		return 77;
	}
	if (access("/usr/sbin/mosquitto", X_OK) != 0 &&
	    access("/usr/bin/mosquitto", X_OK) != 0) {
		fprintf(stderr, "mosquitto not installed: skipping\n");
		return 77;
	}
	/* a private mount namespace: the tmpfs mounts die with us */
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		fprintf(stderr, "no private mount namespace (%s): skipping\n",
			strerror(errno));
		return 77;
	}
	snprintf(mnt, sizeof(mnt), "/tmp/tether-diskfull-XXXXXX");
	if (!mkdtemp(mnt)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	sr = srunner_create(diskfull_suite());
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* a failed test's tmpfs is still mounted (in our namespace only) */
	for (int i = 0; i < 8 && umount2(mnt, MNT_DETACH) == 0; i++)
		;
	rmdir(mnt);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
