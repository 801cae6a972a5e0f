/* The mosquitto launcher: a broker that real clients (Paho MQTTAsync) can
 * use, its options, its restarts, and nothing left behind. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"
#include "check-int.h"
#include "net.h"
#include "paho_client.h"

static struct th_broker *broker_with(const struct th_broker_opts *o)
{
	struct th_broker *b = NULL;

	ck_assert_int_eq(th_broker_start(o, &b), 0);
	ck_assert_uint_ne(th_broker_port(b), 0);
	ck_assert_int_gt(th_broker_pid(b), 0);
	return b;
}

/* A subscriber and a publisher on uri; the message makes the round trip. */
static void round_trip(const char *uri, int version, const char *user,
		       const char *pass)
{
	struct tpc_client sub, pub;

	tpc_init(&sub, uri, "rt-sub", version);
	tpc_init(&pub, uri, "rt-pub", version);
	ck_assert_int_eq(tpc_connect(&sub, user, pass, 1), 0);
	ck_assert_int_eq(tpc_connect(&pub, user, pass, 1), 0);
	tpc_subscribe(&sub, "rt/#", 1, 5000);
	tpc_publish(&pub, "rt/x", "hello", 1, 5000);
	ck_assert_int_eq(tpc_wait(&sub, &sub.msgs, 1, 5000), 1);
	ck_assert_str_eq(sub.last, "hello");
	tpc_free(&pub);
	tpc_free(&sub);
}

/*
 * This suite drives Paho's own client (tests/harness/paho_client.c), not
 * tether's transport, against scripted refusals. Paho 1.3.12 sometimes
 * leaks a buffer of its receive thread when a client is destroyed right
 * after a refused CONNECT (seen once in CI: 124,800 bytes, allocated
 * inside libpaho-mqtt3as with no caller of ours on the stack; upstream
 * paho.mqtt.c #701 is of the same family). Suppressed for this suite
 * only; tether's own suites keep leak detection for Paho as well.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libpaho-mqtt3as.so\n";
}

/* ---- lifecycle --------------------------------------------------------------
 */

START_TEST(test_broker_round_trip)
{
	struct th_broker *b = broker_with(NULL);
	char uri[64];

	ck_assert_uint_eq(th_broker_ws_port(b), 0);
	tpc_uri(uri, sizeof(uri), "tcp", th_broker_port(b));
	round_trip(uri, 4, NULL, NULL);
	round_trip(uri, 5, NULL, NULL);
	th_broker_free(b);
}
END_TEST

START_TEST(test_broker_free_leaves_nothing)
{
	struct th_broker *b = broker_with(NULL);
	pid_t pid = th_broker_pid(b);
	char *dir = strdup(th_broker_dir(b));
	struct stat st;

	ck_assert_int_eq(stat(dir, &st), 0);
	th_broker_free(b);
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_int_eq(stat(dir, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(dir);
	th_broker_free(NULL);
}
END_TEST

START_TEST(test_broker_kill_then_restart_same_port)
{
	struct th_broker *b = broker_with(NULL);
	uint16_t port = th_broker_port(b);
	pid_t old = th_broker_pid(b);
	char uri[64];

	ck_assert_int_eq(th_broker_kill(b, SIGKILL), 0);
	ck_assert_int_eq(kill(old, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_int_eq(th_broker_pid(b), -1);
	ck_assert_int_eq(th_wait_port(port, 100), -1);
	ck_assert_int_eq(th_broker_kill(b, SIGKILL), -ESRCH);

	ck_assert_int_eq(th_broker_restart(b), 0);
	ck_assert_uint_eq(th_broker_port(b), port);
	ck_assert_int_gt(th_broker_pid(b), 0);
	ck_assert_int_ne(th_broker_pid(b), old);
	tpc_uri(uri, sizeof(uri), "tcp", port);
	round_trip(uri, 4, NULL, NULL);
	th_broker_free(b);
}
END_TEST

START_TEST(test_broker_max_connections)
{
	struct th_broker_opts o = {.max_connections = 1};
	struct th_broker *b = broker_with(&o);
	struct tpc_client one, two;
	char uri[64];

	tpc_uri(uri, sizeof(uri), "tcp", th_broker_port(b));
	tpc_init(&one, uri, "max-1", 4);
	tpc_init(&two, uri, "max-2", 4);
	ck_assert_int_eq(tpc_connect(&one, NULL, NULL, 1), 0);
	ck_assert_int_ne(tpc_connect(&two, NULL, NULL, 1), 0);
	tpc_free(&two);
	tpc_free(&one);
	th_broker_free(b);
}
END_TEST

/* ---- credentials
 * -------------------------------------------------------------- */

static const struct th_broker_opts with_user = {.username = "alice",
						.password = "s3cret"};

START_TEST(test_broker_auth_accepts_right_credentials)
{
	struct th_broker *b = broker_with(&with_user);
	char uri[64];

	tpc_uri(uri, sizeof(uri), "tcp", th_broker_port(b));
	round_trip(uri, 4, "alice", "s3cret");
	round_trip(uri, 5, "alice", "s3cret");
	th_broker_free(b);
}
END_TEST

START_TEST(test_broker_auth_refuses_wrong_v3)
{
	struct th_broker *b = broker_with(&with_user);
	struct tpc_client c;
	char uri[64];
	int rc;

	tpc_uri(uri, sizeof(uri), "tcp", th_broker_port(b));
	tpc_init(&c, uri, "bad-v3", 4);
	rc = tpc_connect(&c, "alice", "wrong", 1);
	ck_assert_msg(rc == 4 || rc == 5, "rc %d", rc);
	rc = tpc_connect(&c, NULL, NULL, 1); /* anonymous */
	ck_assert_msg(rc == 4 || rc == 5, "anonymous rc %d", rc);
	tpc_free(&c);
	th_broker_free(b);
}
END_TEST

START_TEST(test_broker_auth_refuses_wrong_v5)
{
	struct th_broker *b = broker_with(&with_user);
	struct tpc_client c;
	char uri[64];
	int rc;

	tpc_uri(uri, sizeof(uri), "tcp", th_broker_port(b));
	tpc_init(&c, uri, "bad-v5", 5);
	rc = tpc_connect(&c, "mallory", "s3cret", 1);
	ck_assert_msg(rc == 0x86 || rc == 0x87, "rc 0x%x", (unsigned)rc);
	tpc_free(&c);
	th_broker_free(b);
}
END_TEST

/* ---- websockets
 * ------------------------------------------------------------------ */

START_TEST(test_broker_websockets_round_trip)
{
	struct th_broker_opts o = {.websockets = 1};
	struct th_broker *b = broker_with(&o);
	char uri[64];

	ck_assert_uint_ne(th_broker_ws_port(b), 0);
	ck_assert_uint_ne(th_broker_ws_port(b), th_broker_port(b));
	tpc_uri(uri, sizeof(uri), "ws", th_broker_ws_port(b));
	round_trip(uri, 4, NULL, NULL);
	round_trip(uri, 5, NULL, NULL);
	/* The TCP listener stays beside it (mosquitto 2.0.11 needs one). */
	ck_assert_int_eq(th_wait_port(th_broker_port(b), 1000), 0);
	th_broker_free(b);
}
END_TEST

/* ---- persistence
 * ------------------------------------------------------------------ */

/* mosquitto writes its database on a clean shutdown (SIGTERM), and
 * otherwise only every autosave_interval (30 min): so a queued message
 * survives SIGTERM + restart, which is what is asserted here. */
START_TEST(test_broker_persistence_keeps_queued_message)
{
	struct th_broker_opts o = {.persistence = 1};
	struct th_broker *b = broker_with(&o);
	uint16_t port = th_broker_port(b);
	struct tpc_client sub, pub;
	char uri[64];
	struct stat st;
	char *db;

	tpc_uri(uri, sizeof(uri), "tcp", port);
	tpc_init(&sub, uri, "durable-sub", 4);
	ck_assert_int_eq(tpc_connect(&sub, NULL, NULL, 0), 0);
	tpc_subscribe(&sub, "keep/#", 1, 5000);
	tpc_disconnect(&sub);

	tpc_init(&pub, uri, "durable-pub", 4);
	ck_assert_int_eq(tpc_connect(&pub, NULL, NULL, 1), 0);
	tpc_publish(&pub, "keep/x", "queued", 1, 5000);
	tpc_free(&pub);

	ck_assert_int_eq(th_broker_kill(b, SIGTERM), 0);
	ck_assert_int_ne(asprintf(&db, "%s/mosquitto.db", th_broker_dir(b)),
			 -1);
	ck_assert_int_eq(stat(db, &st), 0);
	free(db);
	ck_assert_int_eq(th_broker_restart(b), 0);
	ck_assert_uint_eq(th_broker_port(b), port);

	ck_assert_int_eq(sub.msgs, 0);
	ck_assert_int_eq(tpc_connect(&sub, NULL, NULL, 0), 0);
	ck_assert_int_eq(tpc_wait(&sub, &sub.msgs, 1, 5000), 1);
	ck_assert_str_eq(sub.last, "queued");
	tpc_free(&sub);
	th_broker_free(b);
}
END_TEST

static Suite *broker_suite(void)
{
	Suite *s = suite_create("broker");
	TCase *tc;

	tc = tcase_create("lifecycle");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_broker_round_trip);
	tcase_add_test(tc, test_broker_free_leaves_nothing);
	tcase_add_test(tc, test_broker_kill_then_restart_same_port);
	tcase_add_test(tc, test_broker_max_connections);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_broker_auth_accepts_right_credentials);
	tcase_add_test(tc, test_broker_auth_refuses_wrong_v3);
	tcase_add_test(tc, test_broker_auth_refuses_wrong_v5);
	suite_add_tcase(s, tc);

	tc = tcase_create("websockets");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_broker_websockets_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("persistence");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_broker_persistence_keeps_queued_message);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	struct th_broker *probe = NULL;
	int rc = th_broker_start(NULL, &probe);
	SRunner *sr;
	int nf;

	/* Skip only when the peer is truly absent; CI installs it. */
	if (rc == -ENOENT) {
		fprintf(stderr, "mosquitto not installed: skipping\n");
		return 77;
	}
	th_broker_free(probe);
	sr = srunner_create(broker_suite());
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
