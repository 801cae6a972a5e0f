/*
 * Log routing (docs/logging.md): tether's own lines, and those of
 * libwebsockets and Paho against a real lws server and a real mosquitto,
 * reach the application's callback, filtered by level, escaped, and
 * without the password the connection uses.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/tether.h>
#include <tether/transport.h>

#include "broker.h"
#include "check-int.h"
#include "itest.h"
#include "ws_server.h"

#define MAX_LINES 4096

struct seen {
	enum tether_log_level level;
	char origin[16];
	char line[1100];
};

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seen lines[MAX_LINES];
static int n_lines, n_over;
static int cb_nested_rc;

static void record(enum tether_log_level level, const char *origin,
		   const char *line, void *ud)
{
	(void)ud;
	pthread_mutex_lock(&seen_lock);
	if (n_lines < MAX_LINES) {
		lines[n_lines].level = level;
		snprintf(lines[n_lines].origin, sizeof lines[n_lines].origin,
			 "%s", origin);
		snprintf(lines[n_lines].line, sizeof lines[n_lines].line, "%s",
			 line);
		n_lines++;
	} else {
		n_over++;
	}
	pthread_mutex_unlock(&seen_lock);
}

static void nested(enum tether_log_level level, const char *origin,
		   const char *line, void *ud)
{
	record(level, origin, line, ud);
	cb_nested_rc = tether_set_log_cb(NULL, NULL, TETHER_LOG_DEBUG);
}

/* Lines from origin (NULL: any) containing needle (NULL: any). */
static int count(const char *origin, const char *needle)
{
	int k = 0;

	pthread_mutex_lock(&seen_lock);
	for (int i = 0; i < n_lines; i++)
		if ((!origin || strcmp(lines[i].origin, origin) == 0) &&
		    (!needle || strstr(lines[i].line, needle)))
			k++;
	pthread_mutex_unlock(&seen_lock);
	return k;
}

static void reset(void)
{
	pthread_mutex_lock(&seen_lock);
	n_lines = 0;
	n_over = 0;
	pthread_mutex_unlock(&seen_lock);
}

static void unit_setup(void)
{
	reset();
}

static void unit_teardown(void)
{
	ck_assert_int_eq(tether_set_log_cb(NULL, NULL, TETHER_LOG_ERROR), 0);
}

START_TEST(test_levels_filter_and_lines_are_escaped)
{
	ck_assert_int_eq(tether_log_level(), TETHER_LOG_ERROR);
	ck_assert_int_eq(tether_set_log_cb(record, NULL, TETHER_LOG_WARNING), 0);
	ck_assert_int_eq(tether_log_level(), TETHER_LOG_WARNING);
	tether_log(TETHER_LOG_INFO, "t", "not wanted");
	tether_log(TETHER_LOG_DEBUG, "t", "not wanted either");
	tether_log(TETHER_LOG_WARNING, "t", "peer said %s\n",
		   "bye\n\x1b[31mred\x7f");
	tether_log(TETHER_LOG_ERROR, NULL, "no origin");
	ck_assert_int_eq(n_lines, 2);
	ck_assert_int_eq(lines[0].level, TETHER_LOG_WARNING);
	ck_assert_str_eq(lines[0].origin, "t");
	ck_assert_str_eq(lines[0].line, "peer said bye\\x0a\\x1b[31mred\\x7f");
	ck_assert_str_eq(lines[1].origin, "tether");
	ck_assert_str_eq(lines[1].line, "no origin");
}
END_TEST

START_TEST(test_long_lines_are_cut)
{
	char big[3000];

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[10] = '\n'; /* escaped: four bytes */
	ck_assert_int_eq(tether_set_log_cb(record, NULL, TETHER_LOG_DEBUG), 0);
	tether_log(TETHER_LOG_ERROR, "t", "%s", big);
	ck_assert_int_eq(n_lines, 1);
	size_t n = strlen(lines[0].line);
	ck_assert_uint_le(n, 1023);
	ck_assert_uint_ge(n, 1010);
	ck_assert_str_eq(lines[0].line + n - 3, "...");
	ck_assert(strncmp(lines[0].line, "aaaaaaaaaa\\x0aaaa", 17) == 0);
}
END_TEST

START_TEST(test_bad_level_and_change_from_callback_are_refused)
{
	ck_assert_int_eq(tether_set_log_cb(record, NULL, (enum tether_log_level)5),
			 TETHER_EINVAL);
	ck_assert_int_eq(tether_set_log_cb(record, NULL, (enum tether_log_level)-1),
			 TETHER_EINVAL);
	ck_assert_int_eq(tether_log_level(), TETHER_LOG_ERROR);
	ck_assert_int_eq(tether_set_log_cb(nested, NULL, TETHER_LOG_ERROR), 0);
	cb_nested_rc = 1;
	tether_log(TETHER_LOG_ERROR, "t", "one");
	ck_assert_int_eq(cb_nested_rc, TETHER_ESTATE);
	tether_log(TETHER_LOG_ERROR, "t", "two"); /* still routed to nested */
	ck_assert_int_eq(n_lines, 2);
	ck_assert_int_eq(tether_set_log_cb(record, NULL, TETHER_LOG_OFF), 0);
	tether_log(TETHER_LOG_ERROR, "t", "off");
	ck_assert_int_eq(n_lines, 2);
}
END_TEST

/* Capture what f writes to stderr. */
static void capture_stderr(void (*f)(void), char *buf, size_t cap)
{
	char path[] = "/tmp/tether-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	fflush(stderr);
	ck_assert_int_ge(dup2(fd, 2), 0);
	f();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, buf, cap - 1, 0);
	close(fd);
	unlink(path);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
}

static void log_two(void)
{
	tether_log(TETHER_LOG_WARNING, "ws", "hello\rworld");
	tether_log(TETHER_LOG_INFO, "ws", "too detailed");
}

START_TEST(test_without_callback_nothing_is_written)
{
	char buf[512];

	ck_assert_int_eq(tether_set_log_cb(NULL, NULL, TETHER_LOG_DEBUG), 0);
	capture_stderr(log_two, buf, sizeof buf);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_the_stderr_callback_writes_one_line_each)
{
	char buf[512];

	ck_assert_int_eq(tether_set_log_cb(tether_log_to_stderr, NULL,
					   TETHER_LOG_WARNING), 0);
	capture_stderr(log_two, buf, sizeof buf);
	ck_assert_str_eq(buf, "tether: ws: hello\\x0dworld\n");
}
END_TEST

/* ---------------------------------------------------- real engines */

static struct th_ws_server *srv;
static struct th_broker *broker;

static void live_setup(void)
{
	reset();
	srv = NULL;
	broker = NULL;
	it_setup(0);
}

static void live_teardown(void)
{
	it_teardown();
	th_ws_server_free(srv);
	th_broker_free(broker);
	ck_assert_int_eq(tether_set_log_cb(NULL, NULL, TETHER_LOG_ERROR), 0);
}

START_TEST(test_lws_lines_reach_the_callback)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO};
	tether_conn *c;
	char uri[64];

	/* set before the manager's first connect starts lws */
	ck_assert_int_eq(tether_set_log_cb(record, NULL, TETHER_LOG_DEBUG), 0);
	ck_assert_int_eq(th_ws_server_start(&o, &srv), 0);
	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/",
		 th_ws_server_port(srv));
	ck_assert_int_eq(tether_conn_new(it_mgr, "ws1", "ws", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 5000));
	int lws_lines = count("lws", NULL);
	printf("lws lines at DEBUG for one connect: %d\n", lws_lines);
	ck_assert_int_gt(lws_lines, 0);
	/* OFF: the engine's lines stop at once */
	ck_assert_int_eq(tether_set_log_cb(record, NULL, TETHER_LOG_OFF), 0);
	int before = count("lws", NULL);
	ck_assert_int_eq(tether_conn_stop(c), 0);
	ck_assert(it_wait(c, TETHER_EV_CLOSED, 1, 5000));
	ck_assert_int_eq(count("lws", NULL), before);
}
END_TEST

START_TEST(test_paho_lines_reach_the_callback_without_the_password)
{
	static const char pw[] = "pw-Xy7-never-logged";
	struct th_broker_opts bo = {.username = "gw", .password = pw};
	tether_conn *c;
	char uri[64];

	ck_assert_int_eq(tether_set_log_cb(record, NULL, TETHER_LOG_DEBUG), 0);
	ck_assert_int_eq(th_broker_start(&bo, &broker), 0);
	snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", th_broker_port(broker));
	ck_assert_int_eq(tether_conn_new(it_mgr, "m1", "mqtt", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "username", "gw"), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "password", pw), 0);
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 10000));
	ck_assert_int_eq(tether_conn_stop(c), 0);
	ck_assert(it_wait(c, TETHER_EV_CLOSED, 1, 5000));
	int paho = count("paho", NULL);
	printf("paho lines at DEBUG for one connect and close: %d\n", paho);
	ck_assert_int_gt(paho, 0);
	ck_assert_int_eq(count(NULL, pw), 0);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("routing");

	tcase_add_checked_fixture(tc, unit_setup, unit_teardown);
	tcase_add_test(tc, test_levels_filter_and_lines_are_escaped);
	tcase_add_test(tc, test_long_lines_are_cut);
	tcase_add_test(tc, test_bad_level_and_change_from_callback_are_refused);
	tcase_add_test(tc, test_without_callback_nothing_is_written);
	tcase_add_test(tc, test_the_stderr_callback_writes_one_line_each);
	suite_add_tcase(s, tc);
	tc = it_tcase(s, "engines", live_setup, live_teardown, 60);
	tcase_add_test(tc, test_lws_lines_reach_the_callback);
	tcase_add_test(tc, test_paho_lines_reach_the_callback_without_the_password);
	return s;
}

TTH_CHECK_MAIN_MOSQUITTO(log_suite)
