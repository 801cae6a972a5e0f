/*
 * Accepted QoS 1 messages survive a crash of the sending process (issue
 * 5, docs/architecture.md): tests/spool_sender (one connection with a durable
 * spool) sends numbered messages to a real mosquitto and reports each
 * number whose send returned 0; the test kills it with SIGKILL mid-stream
 * four times and starts it again, resuming after the last number it
 * reported. Between two runs it damages the spool as a crash or a bad
 * disk would: a segment's last record cut short, a record's body
 * corrupted. A tether subscriber collects everything.
 *
 * Afterwards every accepted number arrived except the two damaged records
 * (which may or may not have), the restarted sender reported the damage
 * as TETHER_EV_WARNING events, and the records before the damage, still
 * unacknowledged when the sender died, were delivered.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether/tether.h>

#include "broker.h"
#include "check-int.h"
#include "itest.h"
#include "net.h"
#include "proxy.h"

#define MAX_SEQ 200000
#define MAX_WARN 32
/* messages per second: a run lasts long enough to connect (Paho takes
   about 1 s) and have deliveries in flight when it is killed */
#define RATE "2000"
#define HDR 36 /* spool record header (core/store/spool-int.h) */

static struct th_broker *broker;
static struct th_proxy *px;
static tether_mgr *mgr;
static tether_conn *sub;
static char *spool_dir;
static char *sender_exe;

static unsigned char *acc;     /* seq -> reported accepted */
static _Atomic uint16_t *seen; /* seq -> times the subscriber got it */
static atomic_uint n_probe, n_seen_distinct, n_wrong_thread, n_bad;

/* The running sender. */
struct child {
	pid_t pid;
	int out, in;
	char buf[4096];
	size_t len;
	unsigned accepted; /* this run */
	long last;	   /* highest seq accepted, any run; -1 none */
	unsigned rejected, dropped, byes;
	int nwarn;
	char *warn[MAX_WARN];
};
static struct child ch;

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	char buf[32];
	unsigned long seq;
	char *end;

	(void)c;
	(void)ud;
	if (!tether_mgr_is_loop_thread(mgr))
		atomic_fetch_add(&n_wrong_thread, 1);
	if (ev->type != TETHER_EV_MESSAGE)
		return;
	if (strcmp(ev->message->topic, "zl/probe") == 0) {
		atomic_fetch_add(&n_probe, 1);
		return;
	}
	if (ev->message->len == 0 || ev->message->len >= sizeof(buf)) {
		atomic_fetch_add(&n_bad, 1);
		return;
	}
	memcpy(buf, ev->message->payload, ev->message->len);
	buf[ev->message->len] = '\0';
	seq = strtoul(buf, &end, 10);
	if (*end || seq >= MAX_SEQ) {
		atomic_fetch_add(&n_bad, 1);
		return;
	}
	if (atomic_fetch_add(&seen[seq], 1) == 0)
		atomic_fetch_add(&n_seen_distinct, 1);
}

static char *find_sender(void)
{
	const char *top = getenv("top_builddir");
	char *p = NULL;

	if (top && asprintf(&p, "%s/tests/spool_sender", top) > 0 &&
	    access(p, X_OK) == 0)
		return p;
	free(p);
	return access("tests/spool_sender", X_OK) == 0
		   ? strdup("tests/spool_sender")
		   : NULL;
}

static void setup(void)
{
	int rc;

	memset(&ch, 0, sizeof(ch));
	ch.pid = -1;
	ch.out = ch.in = -1;
	ch.last = -1;
	broker = NULL;
	px = NULL;
	mgr = NULL;
	atomic_store(&n_probe, 0);
	atomic_store(&n_seen_distinct, 0);
	atomic_store(&n_wrong_thread, 0);
	atomic_store(&n_bad, 0);
	acc = calloc(MAX_SEQ, 1);
	seen = calloc(MAX_SEQ, sizeof(*seen));
	spool_dir = th_mkdtemp("tether-zl-spool");
	sender_exe = find_sender();
	ck_assert(acc && seen && spool_dir);
	ck_assert_msg(sender_exe, "tests/spool_sender not built");
	struct th_broker_opts bo = {.max_queued_messages = -1};
	rc = th_broker_start(&bo, &broker);
	ck_assert_msg(rc == 0, "mosquitto: %s", strerror(-rc));
	ck_assert_int_eq(th_proxy_start(th_broker_port(broker), &px), 0);
	ck_assert_int_eq(tether_mgr_new(&mgr), 0);
	ck_assert_int_eq(tether_mgr_set_event_cb(mgr, on_event, NULL), 0);
	ck_assert_int_eq(tether_mgr_start(mgr), 0);
}

static void child_close(void)
{
	if (ch.out >= 0)
		close(ch.out);
	if (ch.in >= 0)
		close(ch.in);
	ch.out = ch.in = -1;
}

static void teardown(void)
{
	if (ch.pid > 0) {
		kill(ch.pid, SIGKILL);
		waitpid(ch.pid, NULL, 0);
	}
	child_close();
	for (int i = 0; i < ch.nwarn; i++)
		free(ch.warn[i]);
	tether_mgr_free(mgr);
	th_proxy_free(px);
	th_broker_free(broker);
	if (spool_dir)
		th_rm_rf(spool_dir);
	free(spool_dir);
	free(sender_exe);
	free(acc);
	free((void *)seen);
}

static void line(char *s)
{
	unsigned long seq;

	if (sscanf(s, "accepted %lu", &seq) == 1 && seq < MAX_SEQ) {
		acc[seq] = 1;
		ch.accepted++;
		if ((long)seq > ch.last)
			ch.last = (long)seq;
	} else if (strncmp(s, "warning ", 8) == 0) {
		if (ch.nwarn < MAX_WARN)
			ch.warn[ch.nwarn++] = strdup(s + 8);
	} else if (strncmp(s, "rejected ", 9) == 0) {
		ch.rejected++;
	} else if (strncmp(s, "dropped ", 8) == 0) {
		ch.dropped++;
	} else if (strncmp(s, "bye ", 4) == 0) {
		ch.byes++;
	}
}

/* Read what the sender said, for at most ms. Returns 0 at its EOF. */
static int pump(int ms)
{
	struct pollfd p = {.fd = ch.out, .events = POLLIN};
	ssize_t n;

	if (ch.out < 0)
		return 0;
	if (poll(&p, 1, ms) <= 0)
		return 1;
	n = read(ch.out, ch.buf + ch.len, sizeof(ch.buf) - 1 - ch.len);
	if (n <= 0)
		return 0;
	ch.len += (size_t)n;
	ch.buf[ch.len] = '\0';
	for (char *nl; (nl = strchr(ch.buf, '\n'));) {
		*nl = '\0';
		line(ch.buf);
		ch.len -= (size_t)(nl + 1 - ch.buf);
		memmove(ch.buf, nl + 1, ch.len + 1);
	}
	if (ch.len == sizeof(ch.buf) - 1)
		ch.len = 0; /* no line is that long: garbage */
	return 1;
}

static void spawn(unsigned long first, unsigned long count)
{
	char uri[64], a_first[24], a_count[24];
	int out[2], in[2];
	pid_t parent = getpid();

	snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", th_proxy_port(px));
	snprintf(a_first, sizeof a_first, "%lu", first);
	snprintf(a_count, sizeof a_count, "%lu", count);
	char *argv[] = {sender_exe, uri,  spool_dir, a_first,
			a_count,    RATE, NULL};
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ch.pid = fork();
	ck_assert_int_ge(ch.pid, 0);
	if (ch.pid == 0) {
		/* async-signal-safe only: the parent runs threads */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
		    getppid() != parent)
			_exit(126);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	close(in[0]);
	ch.out = out[0];
	ch.in = in[1];
	ch.len = 0;
	ch.accepted = 0;
}

/* Until the run accepted n in all, at most ms; whether it did. */
static int until_accepted(unsigned n, int ms)
{
	uint64_t end = it_now_ms() + (uint64_t)ms;

	while (ch.accepted < n && it_now_ms() < end && pump(20))
		;
	return ch.accepted >= n;
}

static void crash(void)
{
	ck_assert_int_eq(kill(ch.pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(ch.pid, NULL, 0), ch.pid);
	ch.pid = -1;
	while (pump(100)) /* what it wrote before it died */
		;
	child_close();
}

/* ----------------------------------------------- the spool's records */

struct rec {
	size_t off, len;
	uint64_t id;
	long seq; /* -1: not a message of ours */
};

static uint64_t le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *b;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	b = malloc((size_t)st.st_size + 1);
	if (b && read(fd, b, (size_t)st.st_size) == st.st_size)
		*len = (size_t)st.st_size;
	close(fd);
	return b;
}

/* Where a spool file's records start: after the file header of format
   version 2 ("TSPF", 20 bytes), at 0 in a version 1 file. */
static size_t first_record(const unsigned char *b, size_t len)
{
	return len >= 20 && memcmp(b, "TSPF", 4) == 0 ? 20 : 0;
}

/* The newest segment's path, and the ids acknowledged in any .ack. */
static int newest_segment(char *path, size_t n, uint64_t **acked,
			  size_t *nacked)
{
	DIR *d = opendir(spool_dir);
	struct dirent *e;
	char best[256] = "";

	*acked = NULL;
	*nacked = 0;
	ck_assert(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), len;
		char p[600];
		unsigned char *b;

		if (l > 4 && strcmp(e->d_name + l - 4, ".seg") == 0 &&
		    strcmp(e->d_name, best) > 0)
			snprintf(best, sizeof best, "%s", e->d_name);
		if (l <= 4 || strcmp(e->d_name + l - 4, ".ack") != 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", spool_dir, e->d_name);
		b = slurp(p, &len);
		for (size_t off = b ? first_record(b, len) : 0;
		     b && off + HDR <= len; off += HDR) {
			uint64_t *v = realloc(*acked, (*nacked + 1) * 8);
			ck_assert(v);
			*acked = v;
			v[(*nacked)++] = le(b + off + 12, 8);
		}
		free(b);
	}
	closedir(d);
	snprintf(path, n, "%s/%s", spool_dir, best);
	return best[0] != '\0';
}

static char seg_path[600]; /* the segment unacked() read */

/* The records of the newest segment not acknowledged, in file order. */
static size_t unacked(struct rec *out, size_t max)
{
	char *path = seg_path;
	uint64_t *acked;
	size_t nacked, len, n = 0;
	unsigned char *b;

	ck_assert(newest_segment(path, sizeof seg_path, &acked, &nacked));
	b = slurp(path, &len);
	ck_assert(b);
	for (size_t off = first_record(b, len); off + HDR <= len && n < max;) {
		size_t tl = (size_t)le(b + off + 6, 2);
		size_t pl = (size_t)le(b + off + 8, 4);
		struct rec r = {.off = off,
				.len = HDR + tl + pl,
				.id = le(b + off + 12, 8),
				.seq = -1};
		int is_acked = 0;
		char num[24];

		ck_assert(memcmp(b + off, "TSR2", 4) == 0);
		if (off + r.len > len)
			break;
		for (size_t i = 0; i < nacked; i++)
			is_acked |= acked[i] == r.id;
		if (pl > 0 && pl < sizeof num) {
			memcpy(num, b + off + HDR + tl, pl);
			num[pl] = '\0';
			r.seq = strtol(num, NULL, 10);
		}
		if (!is_acked)
			out[n++] = r;
		off += r.len;
	}
	free(b);
	free(acked);
	return n;
}

/* Damage a record: cut the file in the middle of it (truncate), or flip
   a bit of its payload (corrupt). */
static void damage(const struct rec *r, int truncate_it)
{
	int fd = open(seg_path, O_RDWR | O_CLOEXEC);
	unsigned char c;
	off_t at = (off_t)(r->off + r->len - 1);

	ck_assert_int_ge(fd, 0);
	if (truncate_it) {
		ck_assert_int_eq(ftruncate(fd, (off_t)(r->off + r->len / 2)),
				 0);
	} else {
		ck_assert_int_eq(pread(fd, &c, 1, at), 1);
		c ^= 0x01;
		ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
	}
	close(fd);
}

static int warned(const char *what)
{
	for (int i = 0; i < ch.nwarn; i++)
		if (strstr(ch.warn[i], what))
			return 1;
	return 0;
}

/* Until the sender's start reported a warning with `what`, at most ms. */
static int until_warned(const char *what, int ms)
{
	uint64_t end = it_now_ms() + (uint64_t)ms;

	while (!warned(what) && it_now_ms() < end && pump(20))
		;
	return warned(what);
}

/* Sub sends a probe to itself until it comes back: subscribed. */
static void start_subscriber(void)
{
	char uri[64];
	struct tether_message m = {.size = sizeof m,
				   .topic = "zl/probe",
				   .payload = "p",
				   .len = 1,
				   .qos = 1};

	snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", th_broker_port(broker));
	ck_assert_int_eq(tether_conn_new(mgr, "sub", "mqtt", &sub), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(sub, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(sub, "version", "5"), 0);
	ck_assert_int_eq(tether_conn_set_option(sub, "clean_start", "false"),
			 0);
	ck_assert_int_eq(
	    tether_conn_set_option(sub, "client_id", "zl-spool-sub"), 0);
	ck_assert_int_eq(tether_conn_subscribe(sub, "zl/#", 1), 0);
	it_use_fixed(sub, "100ms");
	it_start(sub);
	for (int i = 0; i < 40 && !atomic_load(&n_probe); i++) {
		if (tether_conn_state(sub) == TETHER_STATE_ONLINE)
			ck_assert_int_eq(tether_conn_send(sub, &m, NULL), 0);
		sleep_ms(250);
	}
	ck_assert_msg(atomic_load(&n_probe) > 0, "the subscriber never got "
						 "its probe");
}

/* A run that goes offline (proxy refuses) after `online` accepted, and
   dies after `offline` more were accepted: they wait in the spool. */
static void run_offline_then_crash(unsigned online, unsigned offline)
{
	spawn((unsigned long)(ch.last + 1), 100000);
	ck_assert(until_accepted(online, 20000));
	th_proxy_set_mode(px, TH_PROXY_REFUSE, 0);
	th_proxy_cut(px, 1);
	ck_assert(until_accepted(ch.accepted + offline, 20000));
	crash();
	th_proxy_set_mode(px, TH_PROXY_PASS, 0);
}

static unsigned count_missing(const struct rec *r, size_t n)
{
	unsigned missing = 0;

	for (size_t i = 0; i < n; i++)
		missing += r[i].seq >= 0 && r[i].seq < MAX_SEQ &&
			   atomic_load(&seen[r[i].seq]) == 0;
	return missing;
}

#define MAX_REC 100000

START_TEST(test_zeroloss_spool_sigkill_and_damage)
{
	struct rec *torn_before = calloc(MAX_REC, sizeof(struct rec));
	struct rec *bad_around = calloc(MAX_REC, sizeof(struct rec));
	struct rec torn, bad;
	size_t n_torn_before, n_bad_around, n;
	unsigned kills = 0, accepted = 0, delivered = 0, dups = 0, missing;
	uint64_t t0 = it_now_ms(), end;
	int status = -1;
	char expect[128];

	ck_assert(torn_before && bad_around);
	start_subscriber();

	/* 1: killed mid-stream while online */
	spawn(0, 100000);
	ck_assert(until_accepted(3000, 20000));
	crash();
	kills++;

	/* 2: killed with a backlog (offline); then the segment's last
	   record is cut in half, as a crash inside write(2) leaves it */
	run_offline_then_crash(2500, 800);
	kills++;
	n = unacked(torn_before, MAX_REC);
	ck_assert_uint_ge(n, 100);
	torn = torn_before[n - 1];
	n_torn_before = n - 1;
	damage(&torn, 1);

	/* 3: recovery warns about the torn record and sends the rest; then
	   killed with a backlog again; a record in the middle of it gets a
	   flipped bit */
	run_offline_then_crash(2500, 800);
	kills++;
	snprintf(expect, sizeof expect, "at byte %zu: torn record", torn.off);
	ck_assert_msg(warned(expect), "no warning '%s' (%d warnings)", expect,
		      ch.nwarn);
	n = unacked(bad_around, MAX_REC);
	ck_assert_uint_ge(n, 100);
	bad = bad_around[n / 2];
	memmove(bad_around + n / 2, bad_around + n / 2 + 1,
		(n - n / 2 - 1) * sizeof(struct rec));
	n_bad_around = n - 1;
	damage(&bad, 0);

	/* 4: recovery skips the corrupted record with a warning; killed
	   mid-stream while online */
	spawn((unsigned long)(ch.last + 1), 100000);
	snprintf(expect, sizeof expect, "at byte %zu: bad body checksum",
		 bad.off);
	ck_assert_msg(until_warned(expect, 10000), "no warning '%s'", expect);
	ck_assert(until_accepted(3000, 20000));
	crash();
	kills++;

	/* 5: the last run sends 1000 more and delivers everything */
	spawn((unsigned long)(ch.last + 1), 1000);
	ck_assert(until_accepted(1000, 20000));
	end = it_now_ms() + 60000;
	for (;;) {
		missing = 0;
		for (long s = 0; s <= ch.last; s++)
			missing += acc[s] && s != torn.seq && s != bad.seq &&
				   atomic_load(&seen[s]) == 0;
		if (!missing || it_now_ms() > end)
			break;
		pump(50);
	}
	close(ch.in); /* the sender stops its connection and exits */
	ch.in = -1;
	end = it_now_ms() + 15000;
	while (it_now_ms() < end && pump(50))
		;
	ck_assert_int_eq(waitpid(ch.pid, &status, 0), ch.pid);
	ch.pid = -1;

	for (long s = 0; s <= ch.last; s++) {
		unsigned k = atomic_load(&seen[s]);
		accepted += acc[s];
		delivered += acc[s] && k;
		dups += k > 1 ? k - 1 : 0;
	}
	printf("zeroloss spool: %u accepted over 5 runs (%u SIGKILLs), %u "
	       "delivered, %u duplicates, %u missing; torn record seq %ld "
	       "(%s), %zu unacked records before it; corrupted record seq "
	       "%ld (%s), %zu unacked around it; warnings:",
	       accepted, kills, delivered, dups, missing, torn.seq,
	       torn.seq >= 0 && seen[torn.seq] ? "arrived anyway" : "lost",
	       n_torn_before, bad.seq,
	       bad.seq >= 0 && seen[bad.seq] ? "arrived anyway" : "lost",
	       n_bad_around);
	for (int i = 0; i < ch.nwarn; i++)
		printf(" [%s]", ch.warn[i]);
	printf("; wall %.1f s\n", (double)(it_now_ms() - t0) / 1000);
	fflush(stdout);

	ck_assert_uint_ge(kills, 3);
	ck_assert_uint_eq(missing, 0);
	ck_assert_uint_eq(count_missing(torn_before, n_torn_before), 0);
	ck_assert_uint_eq(count_missing(bad_around, n_bad_around), 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_uint_eq(ch.byes, 1);
	ck_assert_uint_eq(ch.rejected, 0);
	ck_assert_uint_eq(ch.dropped, 0);
	ck_assert_uint_eq(atomic_load(&n_bad), 0);
	ck_assert_uint_eq(atomic_load(&n_wrong_thread), 0);
	free(torn_before);
	free(bad_around);
}
END_TEST

static Suite *zeroloss_spool_suite(void)
{
	Suite *s = suite_create("zeroloss_spool");
	TCase *tc = it_tcase(s, "crash", setup, teardown, 180);
	tcase_add_test(tc, test_zeroloss_spool_sigkill_and_damage);
	return s;
}

TTH_CHECK_MAIN_MOSQUITTO(zeroloss_spool_suite)
