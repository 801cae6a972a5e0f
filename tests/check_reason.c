/* The classification table (docs/architecture.md), overrides, formatting. */
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include <tether/tether.h>

#include "check-int.h"

#define C(kind, code, peer) tether_reason_default_class(TETHER_KIND_##kind, code, peer)

START_TEST(test_reason_design_table)
{
	/* normal: our own close */
	ck_assert_int_eq(C(LOCAL, TETHER_LOCAL_USER_CLOSE, 0), TETHER_CLASS_NORMAL);
	ck_assert_int_eq(C(WS_CLOSE, 1000, 0), TETHER_CLASS_NORMAL);
	ck_assert_int_eq(C(MQTT5, 0x00, 0), TETHER_CLASS_NORMAL);
	/* ...but a server's goodbye is transient by default */
	ck_assert_int_eq(C(WS_CLOSE, 1000, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(MQTT5, 0x00, 1), TETHER_CLASS_TRANSIENT);
	/* transient */
	ck_assert_int_eq(C(SOCKET, ECONNREFUSED, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(SOCKET, ECONNRESET, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(SOCKET, 0, 1), TETHER_CLASS_TRANSIENT); /* EOF */
	ck_assert_int_eq(C(DNS, EAI_AGAIN, 0), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(DNS, EAI_NONAME, 0), TETHER_CLASS_TRANSIENT);
	static const int ws_transient[] = {1001, 1006, 1011, 1012, 1014};
	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(C(WS_CLOSE, ws_transient[i], 1),
				 TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(MQTT5, 0x88, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(MQTT5, 0x8B, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(MQTT3, 3, 1), TETHER_CLASS_TRANSIENT);
	/* overload */
	ck_assert_int_eq(C(WS_CLOSE, 1013, 1), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(C(MQTT5, 0x89, 1), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(C(MQTT5, 0x97, 1), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(C(MQTT5, 0x9F, 1), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(C(HTTP, 429, 1), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(C(HTTP, 503, 1), TETHER_CLASS_OVERLOAD);
	/* timeout */
	ck_assert_int_eq(C(LOCAL, TETHER_LOCAL_CONNECT_TIMEOUT, 0), TETHER_CLASS_TIMEOUT);
	ck_assert_int_eq(C(LOCAL, TETHER_LOCAL_HEARTBEAT_TIMEOUT, 0), TETHER_CLASS_TIMEOUT);
	ck_assert_int_eq(C(LOCAL, TETHER_LOCAL_KEEPALIVE_TIMEOUT, 0), TETHER_CLASS_TIMEOUT);
	ck_assert_int_eq(C(SOCKET, ETIMEDOUT, 0), TETHER_CLASS_TIMEOUT);
	/* redirect */
	ck_assert_int_eq(C(MQTT5, 0x9C, 1), TETHER_CLASS_REDIRECT);
	ck_assert_int_eq(C(MQTT5, 0x9D, 1), TETHER_CLASS_REDIRECT);
	ck_assert_int_eq(C(HTTP, 301, 1), TETHER_CLASS_REDIRECT);
	/* fatal */
	for (int rc = 4; rc <= 5; rc++)
		ck_assert_int_eq(C(MQTT3, rc, 1), TETHER_CLASS_FATAL);
	for (int rc = 0x84; rc <= 0x87; rc++)
		ck_assert_int_eq(C(MQTT5, rc, 1), TETHER_CLASS_FATAL);
	ck_assert_int_eq(C(MQTT5, 0x8A, 1), TETHER_CLASS_FATAL);
	ck_assert_int_eq(C(MQTT5, 0x8C, 1), TETHER_CLASS_FATAL);
	static const int ws_fatal[] = {1002, 1003, 1007, 1008, 1010};
	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(C(WS_CLOSE, ws_fatal[i], 1), TETHER_CLASS_FATAL);
	ck_assert_int_eq(C(HTTP, 401, 1), TETHER_CLASS_FATAL);
	ck_assert_int_eq(C(HTTP, 403, 1), TETHER_CLASS_FATAL);
	ck_assert_int_eq(C(TLS, TETHER_TLS_VERIFY, 0), TETHER_CLASS_FATAL);
	ck_assert_int_eq(C(TLS, TETHER_TLS_HANDSHAKE, 0), TETHER_CLASS_TRANSIENT);
}
END_TEST

START_TEST(test_reason_unknown_codes_fall_in_their_range)
{
	ck_assert_int_eq(C(MQTT5, 0xFE, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(WS_CLOSE, 4321, 1), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(C(WS_CLOSE, 5000, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(HTTP, 418, 1), TETHER_CLASS_FATAL);
	ck_assert_int_eq(C(HTTP, 502, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(MQTT3, 99, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(SOCKET, EHOSTUNREACH, 0), TETHER_CLASS_TRANSIENT);
}
END_TEST

/* Issue 15: the defaults for what peers nobody here wrote send. */
START_TEST(test_reason_interop_defaults)
{
	/* 1012 restart, 1014 bad gateway: retried; 1013 try again later */
	ck_assert_int_eq(C(WS_CLOSE, 1012, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(WS_CLOSE, 1013, 1), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(C(WS_CLOSE, 1014, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(WS_CLOSE, 1002, 1), TETHER_CLASS_FATAL);
	/* the application's own codes: retried, with the overload floor */
	ck_assert_int_eq(C(WS_CLOSE, 3999, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(C(WS_CLOSE, 4000, 1), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(C(WS_CLOSE, 4999, 0), TETHER_CLASS_OVERLOAD);
	/* a 404 during a deploy: retried, with the overload floor */
	ck_assert_int_eq(C(HTTP, 404, 1), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(C(HTTP, 400, 1), TETHER_CLASS_FATAL);
	ck_assert_int_eq(C(HTTP, 405, 1), TETHER_CLASS_FATAL);
}
END_TEST

START_TEST(test_reason_format_shows_the_hint)
{
	struct tether_reason r = {.cls = TETHER_CLASS_OVERLOAD,
				  .kind = TETHER_KIND_HTTP,
				  .code = 503,
				  .by_peer = 1,
				  .text = "busy",
				  .retry_after_ms = 30000};
	char line[128];

	tether_reason_format(&r, line, sizeof line);
	ck_assert_str_eq(line,
			 "overload: http 503, retry after 30000 ms (peer): busy");
}
END_TEST

START_TEST(test_reason_overrides_win_latest_first)
{
	tether_classifier *c = tether_classifier_new();
	char err[256];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tether_classifier_add_rule(c, "peer:ws:1000", "normal", err, sizeof err), 0);
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_WS_CLOSE, 1000, 1), TETHER_CLASS_NORMAL);
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_WS_CLOSE, 1001, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(tether_classifier_add_rule(c, "mqtt5:0x89", "transient", err, sizeof err), 0);
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_MQTT5, 0x89, 1), TETHER_CLASS_TRANSIENT);
	ck_assert_int_eq(tether_classifier_add_rule(c, "http:500-599", "fatal", err, sizeof err), 0);
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_HTTP, 503, 1), TETHER_CLASS_FATAL);
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_HTTP, 600, 1), TETHER_CLASS_TRANSIENT);
	/* a later, narrower rule wins over the earlier range */
	ck_assert_int_eq(tether_classifier_add(c, TETHER_KIND_HTTP, 502, 502, -1, TETHER_CLASS_OVERLOAD), 0);
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_HTTP, 502, 0), TETHER_CLASS_OVERLOAD);
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_HTTP, 501, 0), TETHER_CLASS_FATAL);
	/* local-only rule does not touch the peer's code */
	ck_assert_int_eq(tether_classifier_add_rule(c, "local:mqtt5:0x00", "fatal", err, sizeof err), 0);
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_MQTT5, 0, 0), TETHER_CLASS_FATAL);
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_MQTT5, 0, 1), TETHER_CLASS_TRANSIENT);
	/* NULL table: built-in only */
	ck_assert_int_eq(tether_classify(NULL, TETHER_KIND_MQTT5, 0x89, 1), TETHER_CLASS_OVERLOAD);
	tether_classifier_free(c);
	tether_classifier_free(NULL);
}
END_TEST

START_TEST(test_reason_bad_rules_are_explained)
{
	tether_classifier *c = tether_classifier_new();
	char err[256];

	ck_assert_int_eq(tether_classifier_add_rule(c, "ws:1013", "fatall", err, sizeof err), TETHER_EINVAL);
	ck_assert_str_eq(err, "expected a class (normal, transient, overload, timeout, redirect, fatal), found 'fatall'");
	ck_assert_int_eq(tether_classifier_add_rule(c, "websocket:1013", "fatal", err, sizeof err), TETHER_EINVAL);
	ck_assert_str_eq(err, "expected a reason key such as ws:1013, mqtt5:0x89, http:500-599 or peer:ws:1000, found 'websocket:1013'");
	ck_assert_int_eq(tether_classifier_add_rule(c, "http:599-500", "fatal", err, sizeof err), TETHER_EINVAL);
	ck_assert_int_eq(tether_classifier_add_rule(c, "ws:10x", "fatal", err, sizeof err), TETHER_EINVAL);
	ck_assert_int_eq(tether_classifier_add(c, TETHER_KIND_HTTP, 5, 4, -1, TETHER_CLASS_FATAL), TETHER_EINVAL);
	ck_assert_int_eq(tether_classifier_add(c, (enum tether_reason_kind)42, 1, 1, -1, TETHER_CLASS_FATAL), TETHER_EINVAL);
	/* nothing was added by the failures */
	ck_assert_int_eq(tether_classify(c, TETHER_KIND_WS_CLOSE, 1013, 1), TETHER_CLASS_OVERLOAD);
	tether_classifier_free(c);
}
END_TEST

START_TEST(test_reason_format)
{
	char buf[256];
	struct tether_reason r = {.cls = TETHER_CLASS_FATAL, .kind = TETHER_KIND_MQTT5,
				  .code = 0x86, .by_peer = 1, .text = "bad user name or password"};
	tether_reason_format(&r, buf, sizeof buf);
	ck_assert_str_eq(buf, "fatal: mqtt5 reason 0x86 (peer): bad user name or password");
	struct tether_reason w = {.cls = TETHER_CLASS_REDIRECT, .kind = TETHER_KIND_MQTT5,
				  .code = 0x9C, .by_peer = 1, .server_ref = "tcp://b:1883"};
	tether_reason_format(&w, buf, sizeof buf);
	ck_assert_str_eq(buf, "redirect: mqtt5 reason 0x9C (peer) -> tcp://b:1883");
	struct tether_reason e = {.cls = TETHER_CLASS_TRANSIENT, .kind = TETHER_KIND_SOCKET, .by_peer = 1};
	tether_reason_format(&e, buf, sizeof buf);
	ck_assert_str_eq(buf, "transient: end of stream (peer)");
	struct tether_reason t = {.cls = TETHER_CLASS_TIMEOUT, .kind = TETHER_KIND_LOCAL,
				  .code = TETHER_LOCAL_HEARTBEAT_TIMEOUT};
	ck_assert_int_eq(tether_reason_format(&t, buf, 8), (int)strlen("timeout: heartbeat timeout"));
	ck_assert_str_eq(buf, "timeout");
}
END_TEST

START_TEST(test_reason_class_names_round_trip)
{
	for (int i = 0; i < TETHER_CLASS_COUNT; i++) {
		enum tether_reason_class c;
		ck_assert_int_eq(tether_class_parse(tether_class_name((enum tether_reason_class)i), &c), 0);
		ck_assert_int_eq(c, i);
	}
	enum tether_reason_class c;
	ck_assert_int_eq(tether_class_parse("Fatal", &c), TETHER_EINVAL);
}
END_TEST

static Suite *reason_suite(void)
{
	Suite *s = suite_create("reason");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, test_reason_design_table);
	tcase_add_test(tc, test_reason_unknown_codes_fall_in_their_range);
	tcase_add_test(tc, test_reason_interop_defaults);
	tcase_add_test(tc, test_reason_format_shows_the_hint);
	suite_add_tcase(s, tc);
	tc = tcase_create("overrides");
	tcase_add_test(tc, test_reason_overrides_win_latest_first);
	tcase_add_test(tc, test_reason_bad_rules_are_explained);
	suite_add_tcase(s, tc);
	tc = tcase_create("text");
	tcase_add_test(tc, test_reason_format);
	tcase_add_test(tc, test_reason_class_names_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(reason_suite)
