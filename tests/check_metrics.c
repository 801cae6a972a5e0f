/*
 * tether_mgr_metrics_text: the counters a real WebSocket connection leaves
 * behind (through the fault proxy, on loopback and real time), scraped
 * from another thread while the loop runs, and the text checked line by
 * line against the exposition format (0.0.4).
 */
#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <tether/tether.h>

#include "check-int.h"
#include "itest.h"
#include "proxy.h"
#include "ws_server.h"

static struct th_ws_server *srv;
static struct th_proxy *px;

static void setup(void)
{
	it_setup(0);
	srv = NULL;
	px = NULL;
}

static void teardown(void)
{
	int wrong = it_wrong_thread();
	it_teardown(); /* first: the connections end before the peers */
	th_proxy_free(px);
	th_ws_server_free(srv);
	ck_assert_int_eq(wrong, 0);
}

/* A connection to the server through the proxy (started by the caller). */
static tether_conn *ws_conn(const char *name)
{
	tether_conn *c;
	char uri[64];

	if (!srv)
		ck_assert_int_eq(th_ws_server_start(NULL, &srv), 0);
	if (!px)
		ck_assert_int_eq(th_proxy_start(th_ws_server_port(srv), &px),
				 0);
	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/", th_proxy_port(px));
	ck_assert_int_eq(tether_conn_new(it_mgr, name, "ws", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	ck_assert_int_eq(
	    tether_conn_set_option(c, "subprotocol", "tether-test"), 0);
	it_use_fixed(c, "100ms");
	return c;
}

static void echo(tether_conn *c, int n_before)
{
	struct tether_message m = {.size = sizeof m, .payload = "hi", .len = 2};

	ck_assert_int_eq(tether_conn_send(c, &m, NULL), 0);
	ck_assert(it_wait(c, TETHER_EV_MESSAGE, n_before + 1, 3000));
	ck_assert(it_wait(c, TETHER_EV_SENT, n_before + 1, 3000));
}

/* ------------------------------------------- the exposition format */

struct family {
	char name[96];
	char type[16];
	int closed; /* another family's samples came after it */
};

static int name_char(int ch, int first)
{
	return isalpha(ch) || ch == '_' || ch == ':' || (!first && isdigit(ch));
}

/* A metric or label name at *p (label names without ':'); its length. */
static size_t scan_name(const char *p, int label)
{
	size_t n = 0;

	while (name_char((unsigned char)p[n], n == 0) &&
	       !(label && p[n] == ':'))
		n++;
	return n;
}

/* {a="x",b="y"} at *p: advances past it; 0 when malformed. */
static int scan_labels(const char **pp, char *le, size_t lelen)
{
	const char *p = *pp + 1;

	if (*p == '}') {
		*pp = p + 1;
		return 1;
	}
	for (;;) {
		size_t n = scan_name(p, 1), k = 0;
		int is_le = n == 2 && strncmp(p, "le", 2) == 0;

		if (n == 0 || p[n] != '=' || p[n + 1] != '"')
			return 0;
		p += n + 2;
		while (*p != '"') {
			char ch = *p;
			if (ch == '\0' || ch == '\n')
				return 0;
			if (ch == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return 0;
				ch = *p == 'n' ? '\n' : *p;
			}
			if (is_le && k + 1 < lelen)
				le[k++] = ch;
			p++;
		}
		if (is_le)
			le[k] = '\0';
		p++;
		if (*p == '}') {
			*pp = p + 1;
			return 1;
		}
		if (*p != ',')
			return 0;
		p++;
	}
}

static struct family *find_family(struct family *f, int nf, const char *name,
				  size_t len)
{
	for (int i = 0; i < nf; i++)
		if (strlen(f[i].name) == len &&
		    strncmp(f[i].name, name, len) == 0)
			return &f[i];
	return NULL;
}

/* The family a sample name belongs to: itself, or a histogram's base
 * name for _bucket, _sum and _count. */
static struct family *family_of(struct family *f, int nf, const char *name,
				size_t len)
{
	static const char *const suffix[] = {"_bucket", "_sum", "_count"};
	struct family *fam = find_family(f, nf, name, len);

	if (fam && strcmp(fam->type, "histogram") != 0)
		return fam;
	for (size_t i = 0; i < 3; i++) {
		size_t sl = strlen(suffix[i]);
		if (len > sl && strncmp(name + len - sl, suffix[i], sl) == 0) {
			struct family *h = find_family(f, nf, name, len - sl);
			if (h && strcmp(h->type, "histogram") == 0)
				return h;
		}
	}
	return NULL;
}

/* Fails the test at the first line that is not valid exposition text:
 * every sample `name{labels} value`, its family declared by # TYPE
 * before, families contiguous, histograms ending with le="+Inf". */
static void check_exposition(const char *text)
{
	struct family fam[64];
	struct family *cur = NULL;
	int nf = 0, lineno = 0;
	const char *p = text;

	ck_assert_msg(*text && text[strlen(text) - 1] == '\n',
		      "text does not end with a newline");
	while (*p) {
		const char *eol = strchr(p, '\n');
		char line[512], le[32] = "";
		size_t len = (size_t)(eol - p);

		lineno++;
		ck_assert_msg(len < sizeof(line), "line %d too long", lineno);
		memcpy(line, p, len);
		line[len] = '\0';
		p = eol + 1;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[96], type[16];
			ck_assert_msg(
			    sscanf(line, "# TYPE %95s %15s", name, type) == 2,
			    "line %d: bad TYPE: %s", lineno, line);
			ck_assert_msg(strcmp(type, "counter") == 0 ||
					  strcmp(type, "gauge") == 0 ||
					  strcmp(type, "histogram") == 0,
				      "line %d: type %s", lineno, type);
			ck_assert_msg(!find_family(fam, nf, name, strlen(name)),
				      "line %d: %s declared twice", lineno,
				      name);
			ck_assert_int_lt(nf, 64);
			snprintf(fam[nf].name, sizeof fam[nf].name, "%s", name);
			snprintf(fam[nf].type, sizeof fam[nf].type, "%s", type);
			fam[nf].closed = 0;
			if (cur)
				cur->closed = 1;
			cur = &fam[nf++];
			continue;
		}
		if (strncmp(line, "# HELP ", 7) == 0) {
			ck_assert_msg(scan_name(line + 7, 0) > 0,
				      "line %d: bad HELP", lineno);
			continue;
		}
		ck_assert_msg(line[0] != '#' && line[0] != '\0',
			      "line %d: stray line: '%s'", lineno, line);

		size_t n = scan_name(line, 0);
		const char *q = line + n;
		struct family *f;
		char *end;

		ck_assert_msg(n > 0, "line %d: no metric name: %s", lineno,
			      line);
		f = family_of(fam, nf, line, n);
		ck_assert_msg(f, "line %d: %.*s used before its # TYPE", lineno,
			      (int)n, line);
		ck_assert_msg(!f->closed, "line %d: family %s not contiguous",
			      lineno, f->name);
		if (cur && cur != f)
			cur->closed = 1;
		cur = f;
		if (*q == '{')
			ck_assert_msg(scan_labels(&q, le, sizeof le),
				      "line %d: bad labels: %s", lineno, line);
		ck_assert_msg(*q == ' ', "line %d: no value: %s", lineno, line);
		q++;
		if (strcmp(q, "+Inf") != 0 && strcmp(q, "-Inf") != 0 &&
		    strcmp(q, "NaN") != 0) {
			strtod(q, &end);
			ck_assert_msg(end != q && *end == '\0',
				      "line %d: bad value: %s", lineno, line);
		}
		if (strcmp(f->type, "histogram") == 0 &&
		    strncmp(line + n - 7, "_bucket", 7) == 0)
			ck_assert_msg(le[0], "line %d: bucket without le",
				      lineno);
	}
}

/* The value of the exact sample `sample` (name and labels), or -1. */
static double value_of(const char *text, const char *sample)
{
	size_t n = strlen(sample);
	const char *p = text;

	while ((p = strstr(p, sample)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

static void assert_line(const char *text, const char *line)
{
	char want[256];

	snprintf(want, sizeof want, "\n%s\n", line);
	/* Check's messages are bounded: the first 3,000 bytes of the text */
	ck_assert_msg(strstr(text, want), "missing line '%s' in:\n%.3000s",
		      line, text);
}

/* ------------------------------------------------------ the scraper */

static atomic_int scraping;
static atomic_int scrapes;

/* Scrapes from a thread of its own while the loop runs (for TSan). */
static void *scraper(void *arg)
{
	(void)arg;
	while (atomic_load(&scraping)) {
		char *t = tether_mgr_metrics_text(it_mgr);
		ck_assert_ptr_nonnull(t);
		free(t);
		atomic_fetch_add(&scrapes, 1);
	}
	return NULL;
}

/* ---------------------------------------------------------- tests */

START_TEST(test_metrics_cut_and_reconnect)
{
	pthread_t th;
	tether_conn *c = ws_conn("ws1");
	char *t;

	ck_assert_int_eq(tether_conn_set_heartbeat(c, 100, 1000, 2), 0);
	atomic_store(&scraping, 1);
	atomic_store(&scrapes, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, scraper, NULL), 0);
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 5000));
	echo(c, 0);
	it_run(300); /* a few pings: RTT samples besides the handshake */
	th_proxy_cut(px, 1);
	ck_assert(it_wait(c, TETHER_EV_DOWN, 1, 3000));
	ck_assert(it_wait(c, TETHER_EV_UP, 2, 5000));
	echo(c, 1);
	atomic_store(&scraping, 0);
	pthread_join(th, NULL);
	ck_assert_int_gt(atomic_load(&scrapes), 0);

	t = tether_mgr_metrics_text(it_mgr);
	ck_assert_ptr_nonnull(t);
	check_exposition(t);
	assert_line(t, "# TYPE tether_connection_state gauge");
	assert_line(t, "tether_connection_state{conn=\"ws1\",transport=\"ws\","
		       "state=\"online\"} 1");
	assert_line(t, "tether_connection_state{conn=\"ws1\",transport=\"ws\","
		       "state=\"backoff\"} 0");
	assert_line(t, "# TYPE tether_attempts_total counter");
	assert_line(t, "tether_attempts_total{conn=\"ws1\",transport=\"ws\","
		       "result=\"up\"} 2");
	assert_line(t, "tether_attempts_total{conn=\"ws1\",transport=\"ws\","
		       "result=\"failed\"} 0");
	assert_line(t, "tether_disconnects_total{conn=\"ws1\",transport=\"ws\","
		       "class=\"transient\"} 1");
	assert_line(t, "tether_disconnects_total{conn=\"ws1\",transport=\"ws\","
		       "class=\"timeout\"} 0");
	assert_line(t, "# TYPE tether_reconnect_seconds histogram");
	assert_line(t, "tether_reconnect_seconds_count{conn=\"ws1\","
		       "transport=\"ws\"} 1");
	assert_line(t, "tether_reconnect_seconds_bucket{conn=\"ws1\","
		       "transport=\"ws\",le=\"+Inf\"} 1");
	/* fixed 100 ms: back after the retry delay, well within 2.5 s */
	assert_line(t, "tether_reconnect_seconds_bucket{conn=\"ws1\","
		       "transport=\"ws\",le=\"2.5\"} 1");
	double sum = value_of(t, "tether_reconnect_seconds_sum{conn=\"ws1\","
				 "transport=\"ws\"}");
	ck_assert_msg(sum >= 0.1 && sum <= 2.5, "sum %f", sum);
	double rtt = value_of(t, "tether_rtt_seconds{conn=\"ws1\","
				 "transport=\"ws\"}");
	/* the handshake counts (the first one starts lws: slow under the
	   sanitizers on a loaded machine) */
	ck_assert_msg(rtt >= 0 && rtt < 5, "rtt %f", rtt);
	assert_line(t, "tether_messages_sent_total{conn=\"ws1\","
		       "transport=\"ws\"} 2");
	assert_line(t, "tether_messages_received_total{conn=\"ws1\","
		       "transport=\"ws\"} 2");
	assert_line(t, "# TYPE tether_limiter_waits_total counter");
	assert_line(t, "tether_limiter_waits_total 0");
	assert_line(t, "tether_connections 1");
	assert_line(t, "tether_message_bytes_sent_total{conn=\"ws1\","
		       "transport=\"ws\"} 4");
	assert_line(t, "tether_message_bytes_received_total{conn=\"ws1\","
		       "transport=\"ws\"} 4");

	/* the same numbers as a struct (nothing moves now: the link is
	   idle but for pings, which only refine the RTT) */
	struct tether_conn_stats st = {.size = sizeof st};
	ck_assert_int_eq(tether_conn_stats(c, &st), 0);
	ck_assert_uint_eq(st.size, sizeof st);
	ck_assert_int_eq(st.state, TETHER_STATE_ONLINE);
	ck_assert_uint_eq(st.attempts_up, 2);
	ck_assert_uint_eq(st.attempts_failed, 0);
	ck_assert_uint_eq(st.disconnects[TETHER_CLASS_TRANSIENT], 1);
	ck_assert_uint_eq(st.disconnects[TETHER_CLASS_TIMEOUT], 0);
	ck_assert_uint_eq(st.reconnects, 1);
	ck_assert_uint_eq(st.reconnect_ms, (uint64_t)(sum * 1000 + 0.5));
	ck_assert_uint_gt(st.rtt_samples, 0);
	ck_assert_uint_lt(st.rtt_us, 5000000);
	ck_assert_uint_eq(st.messages_sent, 2);
	ck_assert_uint_eq(st.messages_received, 2);
	ck_assert_uint_eq(st.bytes_sent, 4);
	ck_assert_uint_eq(st.bytes_received, 4);
	ck_assert_uint_eq(st.dropped_overflow + st.dropped_expired +
			      st.dropped_closed + st.dropped_too_large +
			      st.dropped_error,
			  0);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(st.queued_bytes, 0);
	/* an older caller's smaller struct gets only what fits */
	struct tether_conn_stats old;
	memset(&old, 0xAB, sizeof old);
	old.size = offsetof(struct tether_conn_stats, disconnects);
	ck_assert_int_eq(tether_conn_stats(c, &old), 0);
	ck_assert_uint_eq(old.attempts_failed, 0);
	ck_assert_uint_eq(old.disconnects[0], 0xABABABABABABABABull);
	old.size = 4;
	ck_assert_int_eq(tether_conn_stats(c, &old), TETHER_EINVAL);
	ck_assert_int_eq(tether_conn_stats(NULL, &st), TETHER_EINVAL);
	free(t);
}
END_TEST

START_TEST(test_metrics_labels_escaped_and_idle)
{
	tether_conn *a, *b;
	char *t;

	ck_assert_int_eq(tether_conn_new(it_mgr, "q\"uo\\te", "ws", &a), 0);
	ck_assert_int_eq(tether_conn_new(it_mgr, "two\nlines", "mqtt", &b), 0);
	t = tether_mgr_metrics_text(it_mgr);
	ck_assert_ptr_nonnull(t);
	check_exposition(t);
	assert_line(t, "tether_connection_state{conn=\"q\\\"uo\\\\te\","
		       "transport=\"ws\",state=\"idle\"} 1");
	assert_line(t, "tether_attempts_total{conn=\"two\\nlines\","
		       "transport=\"mqtt\",result=\"up\"} 0");
	/* no estimate yet: the family is declared, with no sample */
	assert_line(t, "# TYPE tether_rtt_seconds gauge");
	ck_assert_ptr_null(strstr(t, "tether_rtt_seconds{"));
	assert_line(t, "tether_connections 2");
	/* created first, listed first */
	ck_assert_ptr_nonnull(strstr(t, "conn=\"two"));
	ck_assert(strstr(t, "conn=\"q") < strstr(t, "conn=\"two"));
	free(t);
	ck_assert_ptr_null(tether_mgr_metrics_text(NULL));
}
END_TEST

START_TEST(test_metrics_limiter_waits)
{
	tether_conn *a = ws_conn("a"), *b = ws_conn("b");
	char *t;

	/* one token: the second connection waits for the refill (5 s: the
	   first connect, which starts lws on the loop, may take a while
	   under the sanitizers on a loaded machine, and must not outlast
	   the refill) */
	ck_assert_int_eq(tether_mgr_set_limits(it_mgr, 0.2, 1, 0), 0);
	it_start(a);
	it_start(b);
	ck_assert(it_wait(a, TETHER_EV_UP, 1, 5000));
	ck_assert(it_wait(b, TETHER_EV_UP, 1, 10000));
	t = tether_mgr_metrics_text(it_mgr);
	ck_assert_ptr_nonnull(t);
	check_exposition(t);
	assert_line(t, "tether_limiter_waits_total 1");
	assert_line(t, "tether_connections 2");
	/* the manager's connections, oldest first */
	tether_conn *v[2] = {NULL, NULL};
	ck_assert_uint_eq(tether_mgr_conns(it_mgr, NULL, 0), 2);
	ck_assert_uint_eq(tether_mgr_conns(it_mgr, v, 1), 2);
	ck_assert_ptr_eq(v[0], a);
	ck_assert_ptr_null(v[1]);
	ck_assert_uint_eq(tether_mgr_conns(it_mgr, v, 2), 2);
	ck_assert_ptr_eq(v[0], a);
	ck_assert_ptr_eq(v[1], b);
	ck_assert_uint_eq(tether_mgr_conns(NULL, v, 2), 0);
	assert_line(t, "tether_attempts_total{conn=\"b\",transport=\"ws\","
		       "result=\"up\"} 1");
	free(t);
}
END_TEST

/* Every file of a directory, then the directory. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* A spool write that fails is counted in tether_spool_errors_total: the
 * file size limit (RLIMIT_FSIZE) is lowered for one send, so the append
 * to the segment fails as on a full disk (no assertion in that window:
 * Check writes files too). The queue's bound is exported beside it. */
START_TEST(test_metrics_spool_errors_and_queue_bound)
{
	char dir[] = "/tmp/tether-metrics-XXXXXX";
	struct tether_queue_cfg q;
	struct tether_message m;
	struct rlimit old, low;
	tether_conn *c;
	char *t;
	int first, failed, lowered;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(tether_conn_new(it_mgr, "spooled", "ws", &c), 0);
	/* nothing listens there: the messages stay in the queue and spool */
	ck_assert_int_eq(tether_conn_add_endpoint(c, "ws://127.0.0.1:9/"), 0);
	it_use_fixed(c, "1s");
	tether_queue_cfg_defaults(&q);
	q.max_messages = 250;
	q.spool_dir = dir;
	q.fsync = TETHER_FSYNC_NEVER;
	ck_assert_int_eq(tether_conn_set_queue(c, &q), 0);
	it_start(c);
	/* the spool is open before the first attempt */
	ck_assert(it_wait(c, TETHER_EV_ATTEMPT, 1, 5000));
	memset(&m, 0, sizeof m);
	m.size = sizeof m;
	m.payload = "spooled";
	m.len = 7;
	m.qos = 1;
	first = tether_conn_send(c, &m, NULL);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	low = old;
	low.rlim_cur = 1;
	signal(SIGXFSZ, SIG_IGN);
	lowered = setrlimit(RLIMIT_FSIZE, &low);
	failed = tether_conn_send(c, &m, NULL);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	ck_assert_int_eq(first, 0);
	ck_assert_int_eq(lowered, 0);
	ck_assert_int_eq(failed, TETHER_EIO);
	t = tether_mgr_metrics_text(it_mgr);
	ck_assert_ptr_nonnull(t);
	check_exposition(t);
	assert_line(t, "tether_spool_errors_total{conn=\"spooled\","
		       "transport=\"ws\"} 1");
	assert_line(t, "tether_queue_max_messages{conn=\"spooled\","
		       "transport=\"ws\"} 250");
	assert_line(t, "tether_queue_messages{conn=\"spooled\","
		       "transport=\"ws\"} 1");
	free(t);
	remove_dir(dir);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = it_tcase(s, "exposition", setup, teardown, 60);
	tcase_add_test(tc, test_metrics_cut_and_reconnect);
	tcase_add_test(tc, test_metrics_labels_escaped_and_idle);
	tcase_add_test(tc, test_metrics_limiter_waits);
	tcase_add_test(tc, test_metrics_spool_errors_and_queue_bound);
	return s;
}

TTH_CHECK_MAIN(metrics_suite)
