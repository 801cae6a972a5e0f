/*
 * tether against peers nobody here wrote (issue 15): a WebSocket server on
 * Debian's python3-websockets (tests/interop_ws_server.py) and Debian's
 * mosquitto_pub / mosquitto_sub against the harness's mosquitto broker.
 * Every failure class of the WebSocket reason table end to end: the
 * reason, the class, the attempts and the delay before the next one.
 *
 * Peers are child processes started by pid and reaped by pid, on success
 * and on failure alike (PR_SET_PDEATHSIG kills them with the process that
 * started them). Loopback only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tether/tether.h>

#include "broker.h"
#include "check-int.h"
#include "itest.h"
#include "ws_lws.h"

#define PY "/usr/bin/python3"
#define MOSQ_PUB "/usr/bin/mosquitto_pub"
#define MOSQ_SUB "/usr/bin/mosquitto_sub"
#define STDBUF "/usr/bin/stdbuf"

/* ------------------------------------------------------------ children */

struct child {
	pid_t pid;
	int in;  /* its stdin (write end), -1 when closed */
	int out; /* its stdout (read end) */
	char buf[4096];
	size_t len;
};

/* argv[0] is a path; stdout is piped to us, stderr is inherited. */
static int child_spawn(char *const argv[], struct child *ch)
{
	int pin[2], pout[2];
	pid_t parent = getpid();

	memset(ch, 0, sizeof(*ch));
	ch->pid = -1;
	if (pipe2(pin, O_CLOEXEC) != 0)
		return -errno;
	if (pipe2(pout, O_CLOEXEC) != 0) {
		close(pin[0]);
		close(pin[1]);
		return -errno;
	}
	ch->pid = fork();
	if (ch->pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(127);
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	if (ch->pid < 0) {
		close(pin[1]);
		close(pout[0]);
		return -EAGAIN;
	}
	ch->in = pin[1];
	ch->out = pout[0];
	return 0;
}

/* The next line of its stdout (without the newline) within ms; 0 or -1. */
static int child_line(struct child *ch, char *line, size_t cap, int ms)
{
	uint64_t end = it_now_ms() + it_slack((uint64_t)ms);

	for (;;) {
		char *nl = memchr(ch->buf, '\n', ch->len);
		struct pollfd p = {.fd = ch->out, .events = POLLIN};
		uint64_t now = it_now_ms();
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - ch->buf);

			snprintf(line, cap, "%.*s", (int)l, ch->buf);
			memmove(ch->buf, nl + 1, ch->len - l - 1);
			ch->len -= l + 1;
			return 0;
		}
		if (ch->len == sizeof(ch->buf) - 1)
			ch->len = 0; /* a line longer than we care for */
		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
			return -1;
		n = read(ch->out, ch->buf + ch->len, sizeof(ch->buf) - 1 - ch->len);
		if (n <= 0)
			return -1;
		ch->len += (size_t)n;
	}
}

/* Wait (at most ms) for it to exit; its status, or -1 if it did not. */
static int child_wait(struct child *ch, int ms)
{
	uint64_t end = it_now_ms() + (uint64_t)ms;
	int st;

	while (ch->pid > 0) {
		pid_t r = waitpid(ch->pid, &st, WNOHANG);

		if (r == ch->pid) {
			ch->pid = -1;
			return st;
		}
		if (r < 0 || it_now_ms() >= end)
			return -1;
		usleep(10 * 1000);
	}
	return -1;
}

/* End it (stdin closed, then SIGTERM, then SIGKILL) and reap it. */
static void child_reap(struct child *ch)
{
	if (ch->in >= 0)
		close(ch->in);
	ch->in = -1;
	if (ch->pid > 0) {
		kill(ch->pid, SIGTERM);
		if (child_wait(ch, 2000) == -1 && ch->pid > 0) {
			kill(ch->pid, SIGKILL);
			waitpid(ch->pid, NULL, 0);
			ch->pid = -1;
		}
	}
	if (ch->out >= 0)
		close(ch->out);
	ch->out = -1;
}

/* ---------------------------------------------------- the python server */

static struct child srv = {.pid = -1, .in = -1, .out = -1};
static unsigned srv_port;

/* Unchecked fixture: one server for a tcase, in the runner process. */
static void srv_start(void)
{
	const char *top = getenv("top_srcdir");
	char script[4096], line[64];
	char *argv[] = {PY, script, NULL};

	snprintf(script, sizeof(script), "%s/tests/interop_ws_server.py",
		 top && *top ? top : TTH_TOP_SRCDIR);
	ck_assert_int_eq(child_spawn(argv, &srv), 0);
	ck_assert_msg(child_line(&srv, line, sizeof(line), 10000) == 0 &&
			      sscanf(line, "PORT %u", &srv_port) == 1,
		      "the interop server did not start");
}

static void srv_stop(void)
{
	child_reap(&srv);
}

static tether_conn *conn;

static void setup(void)
{
	it_setup(0);
	conn = NULL;
}

static void teardown(void)
{
	int wrong = it_wrong_thread();

	it_teardown();
	ck_assert_int_eq(wrong, 0);
}

/* A ws connection named name to the server's target (appended to the
 * authority); on its own, not coordinated with the others that share the
 * server, so several can fail side by side. */
static tether_conn *ws_conn_named(const char *name, const char *target)
{
	char uri[512];
	tether_conn *c;

	snprintf(uri, sizeof(uri), "ws://127.0.0.1:%u%s", srv_port, target);
	ck_assert_int_eq(tether_conn_new(it_mgr, name, "ws", &c), 0);
	ck_assert_int_eq(tether_conn_set_coordinated(c, 0), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	it_use_fixed(c, "50ms");
	ck_assert_int_eq(tether_conn_set_timing(c, "overload_floor", 400), 0);
	ck_assert_int_eq(tether_conn_set_timing(c, "retry_after_max", 3000), 0);
	return c;
}

static tether_conn *ws_conn(const char *target)
{
	return ws_conn_named("interop", target);
}

static void send_text(tether_conn *c, const char *text)
{
	struct tether_message m = {.size = sizeof m, .payload = text,
				   .len = strlen(text)};
	uint64_t id;

	ck_assert_int_eq(tether_conn_send(c, &m, &id), 0);
}

/* Up, one message sent, its answer received; the answer. */
static struct it_ev ask(const char *target, const char *question)
{
	conn = ws_conn(target);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	send_text(conn, question);
	ck_assert(it_wait(conn, TETHER_EV_MESSAGE, 1, 5000));
	return it_get(it_find(conn, TETHER_EV_MESSAGE, 0));
}

/* ------------------------------------------------------------- targets */

START_TEST(test_interop_no_path_is_slash)
{
	/* the server refuses "//" (and any other path) with 400 */
	ck_assert_str_eq(ask("", "path").payload, "/");
}
END_TEST

START_TEST(test_interop_slash_is_slash)
{
	ck_assert_str_eq(ask("/", "path").payload, "/");
}
END_TEST

START_TEST(test_interop_query_without_path)
{
	ck_assert_str_eq(ask("?k=v", "path").payload, "/?k=v");
}
END_TEST

START_TEST(test_interop_path_and_query_kept_fragment_dropped)
{
	ck_assert_str_eq(ask("/info?a=1&b=%2F#frag", "path").payload,
			 "/info?a=1&b=%2F");
}
END_TEST

START_TEST(test_interop_subprotocol_chosen)
{
	conn = ws_conn("/info");
	ck_assert_int_eq(tether_conn_set_option(conn, "subprotocol",
						"tether-test"), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	send_text(conn, "proto");
	ck_assert(it_wait(conn, TETHER_EV_MESSAGE, 1, 5000));
	ck_assert_str_eq(it_get(it_find(conn, TETHER_EV_MESSAGE, 0)).payload,
			 "tether-test");
}
END_TEST

/* ----------------------------------------------------- frames and pings */

#define BIG (1024 * 1024)
static size_t big_len;
static int big_same;
static atomic_int big_done; /* set last: the hook runs after it_wait sees
			       the event */
static unsigned char *big;

static void big_hook(tether_conn *c, const struct tether_event *ev)
{
	(void)c;
	if (ev->type != TETHER_EV_MESSAGE || !ev->message)
		return;
	big_len = ev->message->len;
	big_same = ev->message->binary && ev->message->len == BIG &&
		   memcmp(ev->message->payload, big, BIG) == 0;
	atomic_store(&big_done, 1);
}

START_TEST(test_interop_one_mib_binary_echo)
{
	struct tether_message m = {.size = sizeof m, .len = BIG, .binary = 1};
	uint64_t id;

	big = malloc(BIG);
	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (unsigned char)(i * 7 + (i >> 12));
	m.payload = big;
	it_set_hook(big_hook);
	conn = ws_conn("/echo");
	ck_assert_int_eq(tether_conn_set_option(conn, "max_message", "2MiB"), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	ck_assert_int_eq(tether_conn_send(conn, &m, &id), 0);
	ck_assert(it_wait(conn, TETHER_EV_MESSAGE, 1, 10000));
	for (int i = 0; i < 500 && !atomic_load(&big_done); i++)
		usleep(10 * 1000);
	it_set_hook(NULL);
	ck_assert(atomic_load(&big_done));
	ck_assert_uint_eq(big_len, BIG);
	ck_assert(big_same);
	ck_assert_int_eq(it_count(conn, TETHER_EV_DOWN), 0);
	free(big);
}
END_TEST

START_TEST(test_interop_server_pings_are_answered)
{
	conn = ws_conn("/ping");
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_MESSAGE, 1, 5000));
	ck_assert_str_eq(it_get(it_find(conn, TETHER_EV_MESSAGE, 0)).payload,
			 "pongs 3");
}
END_TEST

START_TEST(test_interop_heartbeat_pings_get_pongs)
{
	char *text;

	conn = ws_conn("/echo");
	ck_assert_int_eq(tether_conn_set_heartbeat(conn, 100, 300, 1), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 5000));
	it_run(700);
	ck_assert_int_eq(it_count(conn, TETHER_EV_DOWN), 0);
	text = tether_mgr_metrics_text(it_mgr);
	ck_assert_ptr_nonnull(text);
	/* the RTT gauge appears once a pong came back */
	ck_assert_ptr_nonnull(strstr(text, "tether_rtt_seconds{"));
	free(text);
	/* the pings tether wrote itself left the stream whole: a message
	   still goes both ways */
	struct tether_message m = {.size = sizeof m, .payload = "after pings",
				   .len = 11};
	ck_assert_int_eq(tether_conn_send(conn, &m, NULL), 0);
	ck_assert(it_wait(conn, TETHER_EV_MESSAGE, 1, 5000));
	ck_assert_str_eq(it_get(it_find(conn, TETHER_EV_MESSAGE, 0)).payload,
			 "after pings");
	ck_assert_int_eq(it_count(conn, TETHER_EV_DOWN), 0);
}
END_TEST

/* ------------------------------------------------ the reason table, e2e */

struct row {
	const char *target;
	int kind, code, cls;
	const char *text;  /* the reason's text contains it; NULL: any */
	int64_t delay_ms;  /* the retry's delay; -1: fatal, one attempt */
	uint64_t hint_ms;  /* the reason's retry_after_ms */
};

#define WS TETHER_KIND_WS_CLOSE
#define HTTP TETHER_KIND_HTTP
#define TR TETHER_CLASS_TRANSIENT
#define OV TETHER_CLASS_OVERLOAD
#define FA TETHER_CLASS_FATAL

static const struct row rows[] = {
    {"/close/1000", WS, 1000, TR, "bye 1000", 50, 0},
    {"/close/1001", WS, 1001, TR, "bye 1001", 50, 0},
    {"/close/1002", WS, 1002, FA, "bye 1002", -1, 0},
    {"/close/1003", WS, 1003, FA, "bye 1003", -1, 0},
    {"/close/1008", WS, 1008, FA, "bye 1008", -1, 0},
    {"/close/1011", WS, 1011, TR, "bye 1011", 50, 0},
    {"/close/1012", WS, 1012, TR, "bye 1012", 50, 0},
    {"/close/1013", WS, 1013, OV, "bye 1013", 400, 0},
    {"/close/1014", WS, 1014, TR, "bye 1014", 50, 0},
    {"/close/4000", WS, 4000, OV, "bye 4000", 400, 0},
    {"/close/4403", WS, 4403, OV, "bye 4403", 400, 0},
    {"/refuse/400", HTTP, 400, FA, NULL, -1, 0},
    {"/refuse/401", HTTP, 401, FA, NULL, -1, 0},
    {"/refuse/403", HTTP, 403, FA, NULL, -1, 0},
    {"/refuse/404", HTTP, 404, OV, NULL, 400, 0},
    {"/refuse/429", HTTP, 429, OV, NULL, 400, 0},
    {"/refuse/503", HTTP, 503, OV, NULL, 400, 0},
    /* Retry-After: honoured above the floor, bounded by retry_after_max
       (3 s here), ignored when hostile */
    {"/refuse/429/2", HTTP, 429, OV, NULL, 2000, 2000},
    {"/refuse/503/1", HTTP, 503, OV, NULL, 1000, 1000},
    {"/refuse/503/0", HTTP, 503, OV, NULL, 400, 0},
    {"/refuse/429/99999999999999999999999999", HTTP, 429, OV, NULL, 3000,
     24ull * 3600 * 1000},
    {"/refuse/503/-5", HTTP, 503, OV, NULL, 400, 0},
    {"/refuse/429/soon", HTTP, 429, OV, NULL, 400, 0},
    {"/refuse/503/1.5", HTTP, 503, OV, NULL, 400, 0},
    /* only 429 and 503 carry the hint */
    {"/refuse/500/9", HTTP, 500, TR, NULL, 50, 0},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void check_row(const struct row *r, tether_conn *c)
{
	struct it_ev d;

	ck_assert_msg(it_wait(c, TETHER_EV_DOWN, 1, 5000), "%s: no DOWN",
		      r->target);
	d = it_get(it_find(c, TETHER_EV_DOWN, 0));
	ck_assert_msg(d.kind == r->kind && d.code == r->code && d.cls == r->cls,
		      "%s: kind %d code %d class %d: %s", r->target, d.kind,
		      d.code, d.cls, d.text);
	ck_assert_msg(it_count(c, TETHER_EV_UP) == (d.kind == WS ? 1 : 0),
		      "%s: came up %d times", r->target,
		      it_count(c, TETHER_EV_UP)); /* only closes came up */
	if (r->text)
		ck_assert_msg(strstr(d.text, r->text), "%s: text '%s'",
			      r->target, d.text);
	ck_assert_msg(d.retry_after_ms == r->hint_ms, "%s: hint %llu",
		      r->target, (unsigned long long)d.retry_after_ms);
	/* the first retry comes after the first attempt, before a second */
	if (r->delay_ms >= 0) {
		int a1;

		ck_assert_msg(it_wait(c, TETHER_EV_RETRY, 1, 3000),
			      "%s: no RETRY", r->target);
		a1 = it_find(c, TETHER_EV_ATTEMPT, 1);
		ck_assert_msg(a1 == -1 || a1 > it_find(c, TETHER_EV_RETRY, 0),
			      "%s: attempted twice before retrying", r->target);
	}
	if (r->delay_ms < 0) {
		ck_assert_msg(it_wait(c, TETHER_EV_CLOSED, 1, 3000),
			      "%s: not closed", r->target);
		ck_assert_int_eq(it_count(c, TETHER_EV_FATAL), 1);
		ck_assert_msg(it_count(c, TETHER_EV_RETRY) == 0,
			      "%s: retried", r->target);
		return;
	}
	ck_assert_msg(it_wait(c, TETHER_EV_RETRY, 1, 3000), "%s: no RETRY",
		      r->target);
	ck_assert_msg(it_get(it_find(c, TETHER_EV_RETRY, 0)).delay_ms ==
			  (uint64_t)r->delay_ms,
		      "%s: retry in %llu ms", r->target,
		      (unsigned long long)it_get(it_find(c, TETHER_EV_RETRY, 0))
			  .delay_ms);
}

/* Every row side by side, one connection each, in one manager. */
START_TEST(test_interop_reason_table)
{
	tether_conn *c[NROWS];

	for (size_t i = 0; i < NROWS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "row%zu", i);
		c[i] = ws_conn_named(name, rows[i].target);
		it_start(c[i]);
	}
	for (size_t i = 0; i < NROWS; i++)
		check_row(&rows[i], c[i]);
	/* the fatal ones made one attempt, the others one per retry */
	it_run(150);
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].delay_ms < 0)
			ck_assert_msg(it_count(c[i], TETHER_EV_ATTEMPT) == 1,
				      "%s: %d attempts", rows[i].target,
				      it_count(c[i], TETHER_EV_ATTEMPT));
		else /* one attempt per retry, plus the first */
			ck_assert_msg(it_count(c[i], TETHER_EV_ATTEMPT) -
					      it_count(c[i], TETHER_EV_RETRY) <=
					  1,
				      "%s: %d attempts, %d retries",
				      rows[i].target,
				      it_count(c[i], TETHER_EV_ATTEMPT),
				      it_count(c[i], TETHER_EV_RETRY));
}
END_TEST

/* The server hears its own code back, never 1002 for 1012-1014. */
START_TEST(test_interop_close_code_echoed)
{
	static const int codes[] = {1012, 1013, 1014, 4403};
	enum { N = sizeof(codes) / sizeof(codes[0]) };
	int heard[N] = {0}, left = N;
	char line[128];

	for (size_t i = 0; i < N; i++) {
		char target[32], name[16];
		tether_conn *c;

		/* the query tells these from the table's closes */
		snprintf(target, sizeof(target), "/close/%d?echo", codes[i]);
		snprintf(name, sizeof(name), "echo%zu", i);
		c = ws_conn_named(name, target);
		it_start(c);
	}
	while (left && child_line(&srv, line, sizeof(line), 5000) == 0) {
		int code, answer;
		char path[64];

		if (sscanf(line, "ECHO %d %d %63s", &code, &answer, path) != 3 ||
		    !strstr(path, "?echo"))
			continue;
		for (size_t i = 0; i < N; i++)
			if (codes[i] == code && !heard[i]) {
				ck_assert_msg(answer == code,
					      "the server closed with %d and "
					      "heard %d back", code, answer);
				heard[i] = 1;
				left--;
			}
	}
	ck_assert_msg(left == 0, "%d closes not answered", left);
}
END_TEST

START_TEST(test_interop_classify_makes_4403_fatal)
{
	conn = ws_conn("/close/4403");
	ck_assert_int_eq(tether_conn_classify(conn, "ws:4403", "fatal"), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_CLOSED, 1, 5000));
	ck_assert_int_eq(it_count(conn, TETHER_EV_FATAL), 1);
	ck_assert_int_eq(it_count(conn, TETHER_EV_ATTEMPT), 1);
}
END_TEST

START_TEST(test_interop_classify_makes_404_fatal)
{
	conn = ws_conn("/refuse/404");
	ck_assert_int_eq(tether_conn_classify(conn, "http:404", "fatal"), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_CLOSED, 1, 5000));
	ck_assert_int_eq(it_count(conn, TETHER_EV_FATAL), 1);
	ck_assert_int_eq(it_count(conn, TETHER_EV_ATTEMPT), 1);
}
END_TEST

/* The hint waits for real: the second attempt comes after it, not before. */
START_TEST(test_interop_retry_after_is_waited)
{
	conn = ws_conn("/refuse/503/1");
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_DOWN, 1, 5000));
	uint64_t t0 = it_get(it_find(conn, TETHER_EV_DOWN, 0)).at;
	ck_assert(it_wait(conn, TETHER_EV_ATTEMPT, 2, 4000));
	uint64_t gap = it_get(it_find(conn, TETHER_EV_ATTEMPT, 1)).at - t0;
	ck_assert_msg(gap >= 990, "retried after %llu ms",
		      (unsigned long long)gap);
}
END_TEST

/* --------------------------------------------- Retry-After, as parsed */

START_TEST(test_interop_retry_after_values)
{
	time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */

	ck_assert_uint_eq(tth_ws_retry_after_ms("120", now), 120000);
	ck_assert_uint_eq(tth_ws_retry_after_ms(" 7 ", now), 7000);
	ck_assert_uint_eq(tth_ws_retry_after_ms("0", now), 0);
	ck_assert_uint_eq(tth_ws_retry_after_ms("-5", now), 0);
	ck_assert_uint_eq(tth_ws_retry_after_ms("+5", now), 0);
	ck_assert_uint_eq(tth_ws_retry_after_ms("5s", now), 0);
	ck_assert_uint_eq(tth_ws_retry_after_ms("", now), 0);
	ck_assert_uint_eq(tth_ws_retry_after_ms(NULL, now), 0);
	ck_assert_uint_eq(tth_ws_retry_after_ms("18446744073709551616999", now),
			  24ull * 3600 * 1000);
	ck_assert_uint_eq(
	    tth_ws_retry_after_ms("Tue, 14 Nov 2023 22:13:50 GMT", now), 30000);
	ck_assert_uint_eq(
	    tth_ws_retry_after_ms("Tue, 14 Nov 2023 22:13:00 GMT", now), 0);
	ck_assert_uint_eq(
	    tth_ws_retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT", now),
	    24ull * 3600 * 1000);
	ck_assert_uint_eq(tth_ws_retry_after_ms("Tue, 14 Nov 2023", now), 0);
}
END_TEST

/* --------------------------------- the close frame lws 4.1 rewrote */

static unsigned char sbuf[WS_SERV_BUF_SIZE];

/* A close frame (code, reason) at off in the fake service buffer. */
static void put_close(size_t off, int code, const char *reason)
{
	size_t n = strlen(reason);

	sbuf[off] = 0x88;
	sbuf[off + 1] = (unsigned char)(2 + n);
	sbuf[off + 2] = (unsigned char)(code >> 8);
	sbuf[off + 3] = (unsigned char)(code & 0xff);
	memcpy(sbuf + off + 4, reason, n);
}

/* What lws 4.1 hands the callback: 1002 and the reason. */
static size_t rewritten(unsigned char *in, const char *reason)
{
	in[0] = 1002 >> 8;
	in[1] = 1002 & 0xff;
	memcpy(in + 2, reason, strlen(reason));
	return 2 + strlen(reason);
}

START_TEST(test_interop_close_code_restored_from_the_frame)
{
	struct ws_close_buf cb = {.buf = sbuf};
	unsigned char in[125];
	size_t len;
	int unsure;

	if (!tth_ws_close_recovers())
		return; /* lws 4.2+: nothing is rewritten */
	memset(sbuf, 0, sizeof(sbuf));
	put_close(100, 1013, "busy");
	len = rewritten(in, "busy");
	ck_assert_int_eq(tth_ws_close_peer_code(&cb, in, len, &unsure), 1013);
	ck_assert_int_eq(unsure, 0);
	/* and what lws echoes is the peer's code too */
	ck_assert_int_eq((in[0] << 8) | in[1], 1013);

	/* a genuine 1002 stays 1002, known for sure */
	put_close(300, 1002, "proto");
	len = rewritten(in, "proto");
	ck_assert_int_eq(tth_ws_close_peer_code(&cb, in, len, &unsure), 1002);
	ck_assert_int_eq(unsure, 0);

	/* two frames that disagree: 1002 stands, marked unsure */
	put_close(500, 1012, "x");
	put_close(WS_SERV_BUF_SIZE - 5, 1014, "x"); /* the very end */
	len = rewritten(in, "x");
	ck_assert_int_eq(tth_ws_close_peer_code(&cb, in, len, &unsure), 1002);
	ck_assert_int_eq(unsure, 1);
	ck_assert_int_eq((in[0] << 8) | in[1], 1002);

	/* no such frame, or no buffer known: unsure */
	len = rewritten(in, "nowhere");
	ck_assert_int_eq(tth_ws_close_peer_code(&cb, in, len, &unsure), 1002);
	ck_assert_int_eq(unsure, 1);
	cb.buf = NULL;
	len = rewritten(in, "busy");
	ck_assert_int_eq(tth_ws_close_peer_code(&cb, in, len, &unsure), 1002);
	ck_assert_int_eq(unsure, 1);

	/* codes lws leaves alone are taken as they are */
	in[0] = 4403 >> 8;
	in[1] = 4403 & 0xff;
	ck_assert_int_eq(tth_ws_close_peer_code(&cb, in, 2, &unsure), 4403);
	ck_assert_int_eq(unsure, 0);
	ck_assert_int_eq(tth_ws_close_peer_code(&cb, in, 0, &unsure), 0);
}
END_TEST

START_TEST(test_interop_close_reason_is_bounded_and_printable)
{
	unsigned char src[200];
	char dst[124];

	memset(src, 'a', sizeof(src));
	src[3] = '\n';
	src[4] = 0x1b; /* ESC: no terminal escapes in a log line */
	src[5] = 0xc3; /* UTF-8 passes */
	src[6] = 0xa9;
	tth_ws_close_keep_text(dst, sizeof(dst), src, sizeof(src));
	ck_assert_uint_eq(strlen(dst), sizeof(dst) - 1);
	ck_assert(memcmp(dst, "aaa??\xc3\xa9" "a", 8) == 0);
	tth_ws_close_keep_text(dst, sizeof(dst), src, 0);
	ck_assert_str_eq(dst, "");
}
END_TEST

/* ---------------------------------------------------------------- MQTT */

static struct th_broker *broker;

static void mqtt_setup(void)
{
	int rc;

	setup();
	broker = NULL;
	rc = th_broker_start(NULL, &broker);
	ck_assert_msg(rc == 0, "mosquitto: %s", strerror(-rc));
}

static void mqtt_teardown(void)
{
	teardown();
	th_broker_free(broker);
}

static tether_conn *mqtt_conn(void)
{
	char uri[64];
	tether_conn *c;

	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", th_broker_port(broker));
	ck_assert_int_eq(tether_conn_new(it_mgr, "mq", "mqtt", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "version", "4"), 0);
	it_use_fixed(c, "200ms");
	return c;
}

START_TEST(test_interop_tether_publishes_mosquitto_sub_receives)
{
	struct child sub;
	char port[8], line[512];
	/* line-buffered: it prints SUBACK before the test publishes */
	char *argv[] = {STDBUF, "-oL", MOSQ_SUB, "-h", "127.0.0.1", "-p", port, "-t",
			"interop/out", "-q", "1", "-C", "1", "-W", "10", "-d",
			NULL};
	struct tether_message m = {.size = sizeof m, .topic = "interop/out",
				   .payload = "from tether", .len = 11,
				   .qos = 1};
	int subscribed = 0, got = 0, qos1 = 0;
	uint64_t id;

	snprintf(port, sizeof(port), "%u", th_broker_port(broker));
	ck_assert_int_eq(child_spawn(argv, &sub), 0);
	while (!subscribed && child_line(&sub, line, sizeof(line), 5000) == 0)
		subscribed = strstr(line, "SUBACK") != NULL;
	if (!subscribed)
		child_reap(&sub);
	ck_assert_msg(subscribed, "mosquitto_sub did not subscribe");
	conn = mqtt_conn();
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 8000));
	ck_assert_int_eq(tether_conn_send(conn, &m, &id), 0);
	ck_assert(it_wait(conn, TETHER_EV_SENT, 1, 5000));
	ck_assert_int_eq(it_get(it_find(conn, TETHER_EV_SENT, 0)).error, 0);
	while (!got && child_line(&sub, line, sizeof(line), 5000) == 0) {
		if (strstr(line, "PUBLISH") && strstr(line, "q1"))
			qos1 = 1;
		got = strcmp(line, "from tether") == 0;
	}
	int st = child_wait(&sub, 5000); /* -C 1: it ends after one */
	child_reap(&sub);
	ck_assert_msg(got, "mosquitto_sub did not print the message");
	ck_assert_msg(qos1, "the message did not arrive with QoS 1");
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

START_TEST(test_interop_mosquitto_pub_publishes_tether_receives)
{
	struct child pub;
	char port[8];
	char *argv[] = {MOSQ_PUB, "-h", "127.0.0.1", "-p", port, "-t",
			"interop/in", "-q", "1", "-m", "from mosquitto_pub",
			NULL};
	struct tether_message m = {.size = sizeof m, .topic = "interop/in",
				   .payload = "self", .len = 4, .qos = 1};
	uint64_t id;

	snprintf(port, sizeof(port), "%u", th_broker_port(broker));
	conn = mqtt_conn();
	ck_assert_int_eq(tether_conn_subscribe(conn, "interop/in", 1), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 8000));
	/* our own message coming back proves the subscription is in place */
	ck_assert_int_eq(tether_conn_send(conn, &m, &id), 0);
	ck_assert(it_wait(conn, TETHER_EV_MESSAGE, 1, 5000));
	ck_assert_int_eq(child_spawn(argv, &pub), 0);
	int st = child_wait(&pub, 5000);
	child_reap(&pub);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert(it_wait(conn, TETHER_EV_MESSAGE, 2, 5000));
	ck_assert_str_eq(it_get(it_find(conn, TETHER_EV_MESSAGE, 1)).payload,
			 "from mosquitto_pub");
}
END_TEST

static Suite *interop_suite(void)
{
	Suite *s = suite_create("interop");
	TCase *tc;

	tc = tcase_create("parsing");
	tcase_add_test(tc, test_interop_retry_after_values);
	tcase_add_test(tc, test_interop_close_code_restored_from_the_frame);
	tcase_add_test(tc, test_interop_close_reason_is_bounded_and_printable);
	suite_add_tcase(s, tc);

	tc = it_tcase(s, "ws", setup, teardown, 30);
	tcase_add_unchecked_fixture(tc, srv_start, srv_stop);
	tcase_add_test(tc, test_interop_no_path_is_slash);
	tcase_add_test(tc, test_interop_slash_is_slash);
	tcase_add_test(tc, test_interop_query_without_path);
	tcase_add_test(tc, test_interop_path_and_query_kept_fragment_dropped);
	tcase_add_test(tc, test_interop_subprotocol_chosen);
	tcase_add_test(tc, test_interop_one_mib_binary_echo);
	tcase_add_test(tc, test_interop_server_pings_are_answered);
	tcase_add_test(tc, test_interop_heartbeat_pings_get_pongs);
	tcase_add_test(tc, test_interop_reason_table);
	tcase_add_test(tc, test_interop_close_code_echoed);
	tcase_add_test(tc, test_interop_classify_makes_4403_fatal);
	tcase_add_test(tc, test_interop_classify_makes_404_fatal);
	tcase_add_test(tc, test_interop_retry_after_is_waited);

	tc = it_tcase(s, "mqtt", mqtt_setup, mqtt_teardown, 30);
	tcase_add_test(tc, test_interop_tether_publishes_mosquitto_sub_receives);
	tcase_add_test(tc, test_interop_mosquitto_pub_publishes_tether_receives);
	return s;
}

/* The peers are Debian packages (scripts/deps.sh installs them). */
static int have_peers(void)
{
	if (access(MOSQ_PUB, X_OK) != 0 || access(MOSQ_SUB, X_OK) != 0 ||
	    access(PY, X_OK) != 0)
		return 0;
	return system(PY " -c 'import websockets' 2>/dev/null") == 0;
}

int main(void)
{
	SRunner *sr;
	int nf;

	if (!have_peers()) {
		fprintf(stderr, "check_interop: skipped: needs " PY " with "
				"python3-websockets and mosquitto-clients "
				"(sh scripts/deps.sh)\n");
		return 77;
	}
	sr = srunner_create(interop_suite());
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
