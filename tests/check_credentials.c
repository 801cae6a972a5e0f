/*
 * Credentials that change (docs/architecture.md, "A setting"): the
 * pre-connect hook supplies a rotated password against a real mosquitto
 * whose password file changed while the link was down, holds an attempt
 * until the application resumes it, and is bounded by connect_timeout;
 * options changed on a CLOSED connection take effect at its next start;
 * WebSocket header values come from the environment or a file, against
 * the harness's lws server.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/tether.h>

#include "broker.h"
#include "check-int.h"
#include "itest.h"
#include "ws_server.h"

static struct th_broker *broker;
static struct th_ws_server *srv;

/* What the hooks share with the tests (the hook runs on the loop). */
static pthread_mutex_t tok_lock = PTHREAD_MUTEX_INITIALIZER;
static char token[64];
static atomic_int hook_calls, hook_resumed_calls, hook_set_rc;
static atomic_int hold_first; /* WAIT on the first call, once */
static atomic_int hold_always;
static const char *hook_key = "password";

static void set_token(const char *t)
{
	pthread_mutex_lock(&tok_lock);
	snprintf(token, sizeof token, "%s", t);
	pthread_mutex_unlock(&tok_lock);
}

static void setup(void)
{
	broker = NULL;
	srv = NULL;
	atomic_store(&hook_calls, 0);
	atomic_store(&hook_resumed_calls, 0);
	atomic_store(&hook_set_rc, 1);
	atomic_store(&hold_first, 0);
	atomic_store(&hold_always, 0);
	hook_key = "password";
	set_token("");
	it_setup(0);
}

static void teardown(void)
{
	int wrong = it_wrong_thread();

	it_teardown();
	th_broker_free(broker);
	th_ws_server_free(srv);
	ck_assert_int_eq(wrong, 0);
}

static enum tether_preconnect_verdict hook(tether_conn *c,
					   const struct tether_preconnect *pc,
					   void *ud)
{
	char t[64];

	(void)ud;
	ck_assert(tether_mgr_is_loop_thread(it_mgr));
	ck_assert_uint_ge(pc->size, sizeof(*pc));
	ck_assert_ptr_nonnull(pc->uri);
	atomic_fetch_add(&hook_calls, 1);
	if (pc->resumed)
		atomic_fetch_add(&hook_resumed_calls, 1);
	if (atomic_load(&hold_always) ||
	    (!pc->resumed && atomic_exchange(&hold_first, 0)))
		return TETHER_PRECONNECT_WAIT;
	pthread_mutex_lock(&tok_lock);
	snprintf(t, sizeof t, "%s", token);
	pthread_mutex_unlock(&tok_lock);
	if (t[0])
		atomic_store(&hook_set_rc, tether_conn_set_option(c, hook_key, t));
	return TETHER_PRECONNECT_GO;
}

static tether_conn *mqtt_conn(const char *name, const char *password)
{
	tether_conn *c;
	char uri[64];

	snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", th_broker_port(broker));
	ck_assert_int_eq(tether_conn_new(it_mgr, name, "mqtt", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "username", "gw"), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "password", password), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "client_id", name), 0);
	ck_assert_int_eq(tether_conn_set_coordinated(c, 0), 0);
	it_use_fixed(c, "200ms");
	return c;
}

static void start_broker(const char *password)
{
	struct th_broker_opts o = {.username = "gw", .password = password};
	int rc = th_broker_start(&o, &broker);

	ck_assert_msg(rc == 0, "mosquitto: %s", strerror(-rc));
}

START_TEST(test_hook_supplies_a_rotated_password_without_reload)
{
	start_broker("token-1");
	set_token("token-1");
	tether_conn *c = mqtt_conn("rot", "token-1");
	tether_conn *control = mqtt_conn("ctl", "token-1");

	ck_assert_int_eq(tether_conn_set_preconnect_cb(c, hook, NULL), 0);
	it_start(c);
	it_start(control);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 10000));
	ck_assert(it_wait(control, TETHER_EV_UP, 1, 10000));
	/* the credentials rotate while the broker is down */
	ck_assert_int_eq(th_broker_kill(broker, SIGTERM), 0);
	ck_assert(it_wait(c, TETHER_EV_DOWN, 1, 10000));
	ck_assert_int_eq(th_broker_set_password(broker, "token-2"), 0);
	set_token("token-2");
	ck_assert_int_eq(th_broker_restart(broker), 0);
	ck_assert(it_wait(c, TETHER_EV_UP, 2, 15000));
	/* the control, with the old password and no hook, is refused */
	ck_assert(it_wait(control, TETHER_EV_FATAL, 1, 15000));
	ck_assert_int_eq(it_count(c, TETHER_EV_FATAL), 0);
	ck_assert_int_eq(it_count(c, TETHER_EV_RELOAD), 0);
	ck_assert_int_eq(atomic_load(&hook_set_rc), 0);
	ck_assert_int_ge(atomic_load(&hook_calls), 2);
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_ONLINE);
}
END_TEST

struct resumer {
	tether_conn *c;
	int delay_ms;
};

static void *resume_later(void *arg)
{
	struct resumer *r = arg;

	usleep((useconds_t)r->delay_ms * 1000);
	set_token("token-1");
	ck_assert_int_eq(tether_conn_preconnect_resume(r->c), 0);
	return NULL;
}

START_TEST(test_hook_holds_the_attempt_until_resumed)
{
	pthread_t th;

	start_broker("token-1");
	tether_conn *c = mqtt_conn("hold", "wrong");
	struct resumer r = {c, 400};

	atomic_store(&hold_first, 1);
	ck_assert_int_eq(tether_conn_set_preconnect_cb(c, hook, NULL), 0);
	uint64_t t0 = it_now_ms();
	it_start(c);
	ck_assert_int_eq(pthread_create(&th, NULL, resume_later, &r), 0);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 10000));
	uint64_t took = it_now_ms() - t0;
	pthread_join(th, NULL);
	printf("held attempt up after %llu ms (resumed at 400 ms)\n",
	       (unsigned long long)took);
	ck_assert_uint_ge(took, 400);
	ck_assert_int_eq(atomic_load(&hook_calls), 2);
	ck_assert_int_eq(atomic_load(&hook_resumed_calls), 1);
	ck_assert_int_eq(it_count(c, TETHER_EV_FATAL), 0);
	ck_assert_int_eq(it_count(c, TETHER_EV_RETRY), 0);
}
END_TEST

START_TEST(test_a_hook_that_never_resumes_is_bounded_by_connect_timeout)
{
	start_broker("token-1");
	tether_conn *c = mqtt_conn("never", "token-1");

	atomic_store(&hold_always, 1);
	ck_assert_int_eq(tether_conn_set_timing(c, "connect_timeout", 500), 0);
	ck_assert_int_eq(tether_conn_set_preconnect_cb(c, hook, NULL), 0);
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_WARNING, 1, 5000));
	struct it_ev w = it_get(it_find(c, TETHER_EV_WARNING, 0));
	ck_assert_msg(strstr(w.detail, "pre-connect hook"), "%s", w.detail);
	ck_assert(it_wait(c, TETHER_EV_RETRY, 1, 5000));
	struct it_ev f = it_get(it_find(c, TETHER_EV_RETRY, 0));
	ck_assert_int_eq(f.kind, TETHER_KIND_LOCAL);
	ck_assert_int_eq(f.code, TETHER_LOCAL_CONNECT_TIMEOUT);
	/* the next attempt asks the hook again */
	for (int i = 0; i < 50 && atomic_load(&hook_calls) < 2; i++)
		it_run(100);
	ck_assert_int_ge(atomic_load(&hook_calls), 2);
	ck_assert_int_eq(it_count(c, TETHER_EV_UP), 0);
}
END_TEST

START_TEST(test_a_value_the_transport_refuses_changes_nothing)
{
	start_broker("token-1");
	tether_conn *c = mqtt_conn("refused", "token-1");

	hook_key = "keepalive";
	set_token("banana");
	ck_assert_int_eq(tether_conn_set_preconnect_cb(c, hook, NULL), 0);
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 10000));
	ck_assert_int_eq(atomic_load(&hook_set_rc), TETHER_ECONFIG);
	ck_assert_ptr_nonnull(strstr(tether_conn_error(c), "keepalive"));
	/* outside the hook and not CLOSED: refused */
	ck_assert_int_eq(tether_conn_set_option(c, "password", "x"),
			 TETHER_ESTATE);
}
END_TEST

START_TEST(test_options_of_a_closed_connection_apply_at_its_next_start)
{
	start_broker("token-1");
	tether_conn *c = mqtt_conn("closed", "wrong");

	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_FATAL, 1, 10000));
	ck_assert(it_wait(c, TETHER_EV_CLOSED, 1, 5000));
	ck_assert_int_eq(tether_conn_set_option(c, "keepalive", "banana"),
			 TETHER_ECONFIG);
	ck_assert_int_eq(tether_conn_set_option(c, "password", "token-1"), 0);
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 10000));
	ck_assert_int_eq(it_count(c, TETHER_EV_FATAL), 1);
}
END_TEST

/* ------------------------------------------------------- WebSocket */

static tether_conn *ws_conn(const char *name)
{
	tether_conn *c;
	char uri[64];

	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/", th_ws_server_port(srv));
	ck_assert_int_eq(tether_conn_new(it_mgr, name, "ws", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	it_use_fixed(c, "200ms");
	return c;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_ws_header_from_the_environment)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO,
				      .require_header =
					  "Authorization: Bearer from-env"};

	ck_assert_int_eq(th_ws_server_start(&o, &srv), 0);
	setenv("TTH_TEST_WS_TOKEN", "Bearer from-env", 1);
	tether_conn *c = ws_conn("wsenv");
	ck_assert_int_eq(tether_conn_set_option(c, "header.Authorization_env",
						"TTH_TEST_WS_TOKEN"), 0);
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 5000));
	unsetenv("TTH_TEST_WS_TOKEN");
	/* a header given twice (inline and from env) is refused at start */
	tether_conn *d = ws_conn("wsboth");
	ck_assert_int_eq(tether_conn_set_option(d, "header.Authorization",
						"Bearer x"), 0);
	ck_assert_int_eq(tether_conn_set_option(d, "header.Authorization_env",
						"TTH_TEST_WS_TOKEN"), 0);
	ck_assert_int_eq(tether_conn_start(d), TETHER_ECONFIG);
	ck_assert_ptr_nonnull(strstr(tether_conn_error(d), "Authorization"));
}
END_TEST

START_TEST(test_ws_token_file_rotates_through_the_hook)
{
	char dir[] = "/tmp/tether-cred-XXXXXX", path[64];
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO,
				      .require_header =
					  "Authorization: Bearer one"};

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/token", dir);
	write_file(path, "Bearer one\n");
	ck_assert_int_eq(th_ws_server_start(&o, &srv), 0);
	tether_conn *c = ws_conn("wsfile");
	ck_assert_int_eq(tether_conn_set_option(c, "header.Authorization_file",
						path), 0);
	/* the hook reads the file again before every attempt */
	hook_key = "header.Authorization_file";
	set_token(path);
	ck_assert_int_eq(tether_conn_set_preconnect_cb(c, hook, NULL), 0);
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 5000));
	/* the token rotates: the server wants the new one, the file has it */
	o.require_header = "Authorization: Bearer two";
	th_ws_server_set(srv, &o);
	write_file(path, "Bearer two\n");
	th_ws_server_close_all(srv, 1001, "going away");
	ck_assert(it_wait(c, TETHER_EV_UP, 2, 10000));
	ck_assert_int_eq(it_count(c, TETHER_EV_FATAL), 0);
	ck_assert_int_eq(atomic_load(&hook_set_rc), 0);
	/* a file that is gone when the link is made fails the attempt as
	   fatal, with the transport's message */
	ck_assert_int_eq(tether_conn_stop(c), 0);
	ck_assert(it_wait(c, TETHER_EV_CLOSED, 1, 5000));
	ck_assert_int_eq(tether_conn_set_preconnect_cb(c, NULL, NULL), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "header.Authorization_file",
						path), 0);
	unlink(path);
	it_start(c);
	ck_assert(it_wait(c, TETHER_EV_FATAL, 1, 5000));
	struct it_ev f = it_get(it_find(c, TETHER_EV_FATAL, 0));
	ck_assert_int_eq(f.kind, TETHER_KIND_LOCAL);
	ck_assert_int_eq(f.code, TETHER_LOCAL_BAD_OPTIONS);
	ck_assert_msg(strstr(f.text, "Authorization"), "%s", f.text);
	rmdir(dir);
}
END_TEST

static Suite *credentials_suite(void)
{
	Suite *s = suite_create("credentials");
	TCase *tc = it_tcase(s, "mqtt", setup, teardown, 60);

	tcase_add_test(tc, test_hook_supplies_a_rotated_password_without_reload);
	tcase_add_test(tc, test_hook_holds_the_attempt_until_resumed);
	tcase_add_test(tc, test_a_hook_that_never_resumes_is_bounded_by_connect_timeout);
	tcase_add_test(tc, test_a_value_the_transport_refuses_changes_nothing);
	tcase_add_test(tc, test_options_of_a_closed_connection_apply_at_its_next_start);
	tc = it_tcase(s, "ws", setup, teardown, 60);
	tcase_add_test(tc, test_ws_header_from_the_environment);
	tcase_add_test(tc, test_ws_token_file_rotates_through_the_hook);
	return s;
}

TTH_CHECK_MAIN_MOSQUITTO(credentials_suite)
