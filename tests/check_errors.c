/* Error codes, their messages and names; the other name tables. */
#include <string.h>

#include <tether/tether.h>

#include "check-int.h"

START_TEST(test_errors_every_code_has_message_and_name)
{
	static const int codes[] = {
#define TETHER_XX_(name, msg) TETHER_##name,
		TETHER_ERRNO_MAP(TETHER_XX_)
#undef TETHER_XX_
	};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		ck_assert_int_lt(codes[i], 0);
		ck_assert_str_ne(tether_strerror(codes[i]), "unknown error");
		ck_assert_str_ne(tether_err_name(codes[i]), "TETHER_UNKNOWN");
		ck_assert(strncmp(tether_err_name(codes[i]), "TETHER_E", 8) == 0);
		/* distinct codes, distinct messages */
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(tether_strerror(codes[i]),
					 tether_strerror(codes[j]));
	}
}
END_TEST

START_TEST(test_errors_known_values)
{
	ck_assert_str_eq(tether_strerror(0), "success");
	ck_assert_str_eq(tether_err_name(0), "TETHER_OK");
	ck_assert_str_eq(tether_strerror(TETHER_EINVAL), "invalid argument");
	ck_assert_str_eq(tether_err_name(TETHER_ECONFIG), "TETHER_ECONFIG");
	ck_assert_str_eq(tether_strerror(12345), "unknown error");
	ck_assert_str_eq(tether_err_name(-1), "TETHER_UNKNOWN");
}
END_TEST

START_TEST(test_errors_name_tables)
{
	ck_assert_str_eq(tether_state_name(TETHER_STATE_ONLINE), "online");
	ck_assert_str_eq(tether_state_name(TETHER_STATE_SUSPENDED), "suspended");
	ck_assert_str_eq(tether_state_name((enum tether_state)99), "?");
	ck_assert_str_eq(tether_event_name(TETHER_EV_GIVE_UP), "give-up");
	ck_assert_str_eq(tether_event_name((enum tether_event_type)-1), "?");
	ck_assert_str_eq(tether_class_name(TETHER_CLASS_OVERLOAD), "overload");
	ck_assert_str_eq(tether_kind_name(TETHER_KIND_MQTT5), "mqtt5");
	ck_assert_str_eq(tether_version(), "0.1.0");
}
END_TEST

static Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("tables");
	tcase_add_test(tc, test_errors_every_code_has_message_and_name);
	tcase_add_test(tc, test_errors_known_values);
	tcase_add_test(tc, test_errors_name_tables);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(errors_suite)
