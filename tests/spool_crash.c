/*
 * Crash test for the durable spool (the module-level version of issue 5's
 * crash test). A child process appends to the spool in a loop and acks in
 * order, telling the parent through a pipe what succeeded; the parent
 * kills it with SIGKILL at a random moment, opens the spool and checks:
 * every append that returned success and was not acked comes back, with
 * its content; nothing acked comes back; nothing appears that was not
 * appended (except the one append the child was in when it died). Then
 * the next round starts on the same directory. Bounded: ROUNDS rounds of
 * at most a few hundred milliseconds each.
 */
#define _GNU_SOURCE /* nftw flags */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tether/tether.h>

#include "check-int.h"
#include "spool-int.h"
#include "util-int.h"
#include "net.h"

#define ROUNDS 8
#define CHILD_MAX_APPENDS 200000
#define CHILD_MAX_MS 5000

static char dir[64];

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t payload_len(uint64_t id)
{
	return (size_t)(id % 300) + 1;
}

static unsigned char payload_byte(uint64_t id, size_t i)
{
	return (unsigned char)(id * 131 + i);
}

static void cfg_for(struct tth_spool_cfg *c, int round)
{
	memset(c, 0, sizeof(*c));
	c->max_bytes = 32u << 20;
	c->segment_bytes = 32u << 10; /* many rotations and deletions */
	c->fsync = (enum tether_fsync)(round % 3);
	c->fsync_interval_ms = 5;
}

/* ---------------------------------------------------------------- child */

/* One line to the parent; the parent ignores a line cut by the kill. */
static void say(int fd, char what, uint64_t id, uint64_t key)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%c %llu %llu\n", what,
			 (unsigned long long)id, (unsigned long long)key);

	if (write(fd, line, (size_t)n) != n)
		_exit(3);
}

/* Message `key`: topic "c/<key>", payload derived from key. */
static void make_msg(struct tether_message *m, uint64_t key, char *topic,
		     unsigned char *payload)
{
	memset(m, 0, sizeof(*m));
	m->size = sizeof(*m);
	snprintf(topic, 32, "c/%llu", (unsigned long long)key);
	m->topic = topic;
	m->len = payload_len(key);
	for (size_t i = 0; i < m->len; i++)
		payload[i] = payload_byte(key, i);
	m->payload = payload;
	m->qos = 1;
}

/* Appends and acks in order until killed (or the bounds run out). */
static void child_run(int fd, int round)
{
	struct tth_spool_cfg c;
	struct tth_spool *sp;
	static uint64_t outstanding[1024], keys[1024];
	uint64_t head = 0, tail = 0, start = mono_ms(), n;
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	unsigned char payload[512];
	char topic[32];

	cfg_for(&c, round);
	if (tth_spool_open(&sp, dir, &c, NULL, NULL, NULL, 0) != 0)
		_exit(2);
	for (n = 0; n < CHILD_MAX_APPENDS && mono_ms() - start < CHILD_MAX_MS;
	     n++) {
		struct tether_message m;
		uint64_t key = (uint64_t)round * CHILD_MAX_APPENDS + n, id;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		if (tail - head > 20 + seed % 40 || tail - head == 1024) {
			uint64_t a = outstanding[head % 1024];
			uint64_t ak = keys[head % 1024];

			say(fd, 'P', a, ak); /* from here it may be gone */
			if (tth_spool_ack(sp, a) != 0)
				_exit(4);
			say(fd, 'K', a, ak);
			head++;
			continue;
		}
		make_msg(&m, key, topic, payload);
		if (tth_spool_append(sp, &m, 0, mono_ms(), &id) != 0)
			_exit(5);
		say(fd, 'A', id, key);
		keys[tail % 1024] = key;
		outstanding[tail++ % 1024] = id;
	}
	_exit(0);
}

/* --------------------------------------------------------------- parent */

/*
 * What the parent knows, per key (round * CHILD_MAX_APPENDS + n: never
 * reused, unlike spool ids, which may be given again once every record
 * with them is gone).
 */
#define NKEYS ((size_t)ROUNDS * CHILD_MAX_APPENDS)
#define L_APPENDED 1
#define L_PENDING 2 /* an ack started */
#define L_ACKED 4
#define L_SEEN 8    /* recovered in this round */

struct ledger {
	uint8_t *st;
	uint64_t *seen_ids; /* spool ids recovered this round, to ack */
	size_t nseen, capseen;
	uint64_t unknown, warnings;
	int round;
};

/* Applies the complete lines of buf; returns how many it applied. */
static size_t ledger_apply(struct ledger *l, char *buf, size_t len)
{
	size_t n = 0;
	char *p = buf, *end = buf + len;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char what;
		unsigned long long id, key;

		if (!nl)
			break; /* cut by the kill */
		*nl = '\0';
		ck_assert_int_eq(sscanf(p, "%c %llu %llu", &what, &id, &key), 3);
		ck_assert_uint_lt(key, NKEYS);
		if (what == 'A')
			l->st[key] |= L_APPENDED;
		else if (what == 'P')
			l->st[key] |= L_PENDING;
		else if (what == 'K')
			l->st[key] |= L_ACKED;
		else
			ck_abort_msg("bad line %s", p);
		n++;
		p = nl + 1;
	}
	return n;
}

static int on_msg(void *ud, uint64_t id, uint64_t expires,
		  const struct tether_message *m)
{
	struct ledger *l = ud;
	unsigned long long key;

	(void)expires;
	ck_assert_ptr_nonnull(m->topic);
	ck_assert_int_eq(sscanf(m->topic, "c/%llu", &key), 1);
	ck_assert_uint_lt(key, NKEYS);
	/* the content is whole */
	ck_assert_uint_eq(m->len, payload_len(key));
	for (size_t i = 0; i < m->len; i++)
		ck_assert_uint_eq(((const unsigned char *)m->payload)[i],
				  payload_byte(key, i));
	if (!(l->st[key] & L_APPENDED)) {
		/* the append the child died in, before it could tell */
		ck_assert_uint_ge(key, (uint64_t)l->round * CHILD_MAX_APPENDS);
		l->unknown++;
	} else {
		ck_assert_msg(!(l->st[key] & L_ACKED), "acked key %llu came back",
			      key);
		ck_assert(!(l->st[key] & L_SEEN));
		l->st[key] |= L_SEEN;
	}
	if (l->nseen == l->capseen) {
		l->capseen = l->capseen ? l->capseen * 2 : 1024;
		l->seen_ids = realloc(l->seen_ids,
				      l->capseen * sizeof(*l->seen_ids));
		ck_assert_ptr_nonnull(l->seen_ids);
	}
	l->seen_ids[l->nseen++] = id;
	return 0;
}

static void on_warn(void *ud, const char *file, uint64_t off, const char *what)
{
	struct ledger *l = ud;

	l->warnings++;
	fprintf(stderr, "spool_crash: warning: %s: offset %llu: %s\n", file,
		(unsigned long long)off, what);
}

/* Runs a child for about ms milliseconds, kills it, reads its lines. */
static size_t run_and_kill(struct ledger *l, int round, int ms)
{
	int fds[2], status;
	pid_t child;
	char *buf = NULL;
	size_t len = 0, cap = 0, lines;
	uint64_t deadline = mono_ms() + (uint64_t)ms;
	int killed = 0;

	ck_assert_int_eq(pipe(fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(fds[0]);
		child_run(fds[1], round);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = {fds[0], POLLIN, 0};
		uint64_t now = mono_ms();
		ssize_t r;

		if (!killed && now >= deadline) {
			kill(child, SIGKILL);
			killed = 1;
		}
		if (poll(&pfd, 1, killed ? 1000 : (int)(deadline - now)) <= 0)
			continue;
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 1 << 16;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		r = read(fds[0], buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* EOF: the child is gone */
		len += (size_t)r;
	}
	close(fds[0]);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "child ended on its own (status 0x%x)", status);
	lines = ledger_apply(l, buf, len);
	free(buf);
	return lines;
}

START_TEST(test_spool_crash_loses_nothing_acked_or_not)
{
	struct ledger l;
	uint64_t total_recovered = 0, total_lines = 0, total_unknown = 0;
	unsigned seed = 12345;

	memset(&l, 0, sizeof(l));
	l.st = calloc(NKEYS, 1);
	ck_assert_ptr_nonnull(l.st);
	snprintf(dir, sizeof(dir), "/tmp/tether-crash-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (int round = 0; round < ROUNDS; round++) {
		struct tth_spool_cfg c;
		struct tth_spool_recover_ops ops = {on_msg, on_warn};
		struct tth_spool *sp;
		char err[256];
		uint64_t missing = 0;
		size_t k;

		seed = seed * 1103515245u + 12345u;
		total_lines += run_and_kill(&l, round, 30 + (int)(seed % 200));
		l.round = round;
		l.nseen = 0;
		l.unknown = 0;
		cfg_for(&c, round);
		ck_assert_msg(tth_spool_open(&sp, dir, &c, &ops, &l, err,
					     sizeof(err)) == 0,
			      "open: %s", err);
		ck_assert_uint_le(l.unknown, 1);
		for (k = 0; k < NKEYS; k++) {
			uint8_t s = l.st[k];

			if ((s & L_APPENDED) && !(s & (L_ACKED | L_PENDING)) &&
			    !(s & L_SEEN))
				missing++;
			/* after this round all of it is acked, one way or
			   the other */
			if (s & L_APPENDED)
				l.st[k] = L_APPENDED | L_ACKED;
		}
		ck_assert_msg(missing == 0, "round %d: %llu appended and not "
			      "acked messages lost", round,
			      (unsigned long long)missing);
		/* a clean slate for the next round */
		for (k = 0; k < l.nseen; k++)
			ck_assert_int_eq(tth_spool_ack(sp, l.seen_ids[k]), 0);
		total_recovered += l.nseen;
		total_unknown += l.unknown;
		tth_spool_close(sp);
	}
	fprintf(stderr, "spool_crash: %d kills, %llu reports read, %llu "
		"messages recovered (%llu from an append cut short), %llu "
		"warnings\n", ROUNDS, (unsigned long long)total_lines,
		(unsigned long long)total_recovered,
		(unsigned long long)total_unknown,
		(unsigned long long)l.warnings);
	/* the rounds did real work */
	ck_assert_uint_gt(total_lines, 1000);
	ck_assert_uint_gt(total_recovered, ROUNDS);
	free(l.st);
	free(l.seen_ids);
	th_rm_rf(dir);
}
END_TEST

static Suite *crash_suite(void)
{
	Suite *s = suite_create("spool_crash");
	TCase *tc = tcase_create("sigkill");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_spool_crash_loses_nothing_acked_or_not);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(crash_suite)
