/* Parameter sets: typed getters, error text and locations, YAML loading. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/policy.h>

#include "check-int.h"
#include "params-int.h"

static tether_params *p;

static void setup(void)
{
	p = tether_params_new("gateway.yaml");
	ck_assert_ptr_nonnull(p);
}

static void teardown(void)
{
	tether_params_free(p);
	p = NULL;
}

static tether_params *yaml(const char *text, char *err, size_t errlen)
{
	tether_params *y = NULL;
	int rc = tth_params_from_yaml(text, strlen(text), "gw.yaml", &y, err,
				      errlen);

	ck_assert_int_eq(rc, 0);
	return y;
}

static int yaml_fails(const char *text, char *err, size_t errlen)
{
	tether_params *y = (tether_params *)1;
	int rc = tth_params_from_yaml(text, strlen(text), "gw.yaml", &y, err,
				      errlen);

	ck_assert_ptr_null(y);
	return rc;
}

/* ---------------------------------------------------------- durations */

START_TEST(test_params_duration_units)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} ok[] = {
	    {"250ms", 250},  {"10s", 10000}, {"1.5s", 1500}, {"5m", 300000},
	    {"1h", 3600000}, {"0", 0},	     {"0s", 0},	     {"0.25m", 15000},
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_int_eq(tether_params_set(p, "d", ok[i].text, NULL),
				 0);
		ck_assert_int_eq(
		    tether_params_duration(p, "d", 7, 0, UINT64_MAX, &v), 0);
		ck_assert_uint_eq(v, ok[i].ms);
	}
	ck_assert_ptr_null(tether_params_errors(p));
}
END_TEST

START_TEST(test_params_duration_absent_gives_default)
{
	uint64_t v = 0;

	ck_assert_int_eq(
	    tether_params_duration(p, "initial", 1234, 0, 5000, &v), 0);
	ck_assert_uint_eq(v, 1234);
	ck_assert_ptr_null(tether_params_errors(p));
}
END_TEST

START_TEST(test_params_duration_malformed_message)
{
	tether_params *child = tether_params_new(NULL);
	uint64_t v;

	ck_assert_int_eq(
	    tether_params_set(child, "initial", "1x", "gateway.yaml:4:12"), 0);
	ck_assert_int_eq(tether_params_set_child(p, "policy", child), 0);
	ck_assert_int_eq(
	    tether_params_duration(child, "initial", 1000, 1, UINT64_MAX, &v),
	    TETHER_ECONFIG);
	ck_assert_uint_eq(v, 1000);
	ck_assert_str_eq(tether_params_errors(child),
			 "gateway.yaml:4:12: policy.initial: expected a "
			 "duration such as 250ms, 10s, 5m or 1h, found '1x'");
	/* the parent's list includes what its nested sets recorded */
	ck_assert_str_eq(tether_params_errors(p), tether_params_errors(child));
}
END_TEST

START_TEST(test_params_duration_rejects_other_forms)
{
	static const char *const bad[] = {"5",	 "-1s", "1 s", "",	"1.s",
					  ".5s", "1S",	"1d",  "1e3ms", "s"};
	uint64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tether_params_set(p, "d", bad[i], NULL);
		ck_assert_msg(tether_params_duration(p, "d", 1, 0, UINT64_MAX,
						     &v) == TETHER_ECONFIG,
			      "accepted '%s'", bad[i]);
	}
	ck_assert_uint_eq(tth_params_error_count(p), 10);
}
END_TEST

START_TEST(test_params_duration_range_in_human_units)
{
	uint64_t v;

	tether_params_set(p, "initial", "2h", NULL);
	tether_params_set(p, "max", "50ms", "gateway.yaml:5:8");
	tether_params_set(p, "open_for", "0", NULL);
	ck_assert_int_eq(
	    tether_params_duration(p, "initial", 1000, 1, 3600000, &v),
	    TETHER_ECONFIG);
	ck_assert_int_eq(
	    tether_params_duration(p, "max", 1000, 100, UINT64_MAX, &v),
	    TETHER_ECONFIG);
	ck_assert_int_eq(
	    tether_params_duration(p, "open_for", 1000, 1500, 90000, &v),
	    TETHER_ECONFIG);
	ck_assert_str_eq(tether_params_errors(p),
			 "gateway.yaml: initial: expected a duration between "
			 "1ms and 1h, found '2h'\n"
			 "gateway.yaml:5:8: max: expected a duration of at "
			 "least 100ms, found '50ms'\n"
			 "gateway.yaml: open_for: expected a duration between "
			 "1500ms and 90s, found '0'");
}
END_TEST

/* ------------------------------------------------------- other types */

START_TEST(test_params_double_uint_bool)
{
	double d;
	uint64_t u;
	int b;

	tether_params_set(p, "m", "1.5", NULL);
	tether_params_set(p, "n", "12", NULL);
	tether_params_set(p, "b", "off", NULL);
	ck_assert_int_eq(tether_params_double(p, "m", 2, 1, 10, &d), 0);
	ck_assert_double_eq(d, 1.5);
	ck_assert_int_eq(tether_params_uint(p, "n", 0, 0, 100, &u), 0);
	ck_assert_uint_eq(u, 12);
	ck_assert_int_eq(tether_params_bool(p, "b", 1, &b), 0);
	ck_assert_int_eq(b, 0);
	ck_assert_ptr_null(tether_params_errors(p));
}
END_TEST

START_TEST(test_params_all_errors_at_once)
{
	double d;
	uint64_t u;
	int b;

	tether_params_set(p, "multiplier", "0.5", "g.yaml:2:13");
	tether_params_set(p, "window", "2x", "g.yaml:3:9");
	tether_params_set(p, "verbose", "maybe", "g.yaml:4:10");
	tether_params_set(p, "rate", "nan", "g.yaml:5:7");
	ck_assert_int_eq(tether_params_double(p, "multiplier", 2, 1, 100, &d),
			 TETHER_ECONFIG);
	ck_assert_double_eq(d, 2);
	ck_assert_int_eq(tether_params_uint(p, "window", 16, 4, 256, &u),
			 TETHER_ECONFIG);
	ck_assert_uint_eq(u, 16);
	ck_assert_int_eq(tether_params_bool(p, "verbose", 1, &b),
			 TETHER_ECONFIG);
	ck_assert_int_eq(tether_params_double(p, "rate", 0, 0, 1, &d),
			 TETHER_ECONFIG);
	ck_assert_str_eq(
	    tether_params_errors(p),
	    "g.yaml:2:13: multiplier: expected a number between 1 "
	    "and 100, found '0.5'\n"
	    "g.yaml:3:9: window: expected a whole number between 4 "
	    "and 256, found '2x'\n"
	    "g.yaml:4:10: verbose: expected true or false (or "
	    "yes/no, on/off), found 'maybe'\n"
	    "g.yaml:5:7: rate: expected a number between 0 and 1, "
	    "found 'nan'");
}
END_TEST

START_TEST(test_params_choice_with_argument)
{
	static const char *const modes[] = {"none", "full",
					    "proportional:", NULL};
	const char *arg;
	int i;

	tether_params_set(p, "jitter", "proportional:0.2", NULL);
	ck_assert_int_eq(tether_params_choice(p, "jitter", modes, 1, &i, &arg),
			 0);
	ck_assert_int_eq(i, 2);
	ck_assert_str_eq(arg, "0.2");
	tether_params_set(p, "jitter", "none", NULL);
	ck_assert_int_eq(tether_params_choice(p, "jitter", modes, 1, &i, &arg),
			 0);
	ck_assert_int_eq(i, 0);
	ck_assert_ptr_null(arg);
}
END_TEST

START_TEST(test_params_choice_suggests_value)
{
	static const char *const modes[] = {"none", "full",
					    "proportional:", NULL};
	int i;

	tether_params_set(p, "jitter", "ful", "g.yaml:3:9");
	ck_assert_int_eq(tether_params_choice(p, "jitter", modes, 1, &i, NULL),
			 TETHER_ECONFIG);
	ck_assert_int_eq(i, 1);
	ck_assert_str_eq(tether_params_errors(p),
			 "g.yaml:3:9: jitter: expected one of none, full, "
			 "proportional:<value>, found 'ful' (did you mean "
			 "'full'?)");
}
END_TEST

START_TEST(test_params_fail_custom)
{
	ck_assert_int_eq(tether_params_fail(p, "max", "must be >= %s", "1s"),
			 TETHER_ECONFIG);
	ck_assert_int_eq(tether_params_fail(p, NULL, "whole set is odd"),
			 TETHER_ECONFIG);
	ck_assert_str_eq(tether_params_errors(p),
			 "gateway.yaml: max: must be >= 1s\n"
			 "gateway.yaml: whole set is odd");
}
END_TEST

START_TEST(test_params_duration_format_largest_unit)
{
	static const struct {
		uint64_t ms;
		const char *text;
	} v[] = {{0, "0"},	    {250, "250ms"},   {1500, "1500ms"},
		 {10000, "10s"},    {300000, "5m"},   {3600000, "1h"},
		 {5400000, "90m"}, {86400000, "24h"}};
	char buf[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_int_eq(tether_duration_format(v[i].ms, buf,
							sizeof(buf)),
				 (int)strlen(v[i].text));
		ck_assert_str_eq(buf, v[i].text);
	}
	/* snprintf semantics: the length it needs, the text cut */
	ck_assert_int_eq(tether_duration_format(250, buf, 3), 5);
	ck_assert_str_eq(buf, "25");
	ck_assert_int_eq(tether_duration_format(250, NULL, 0), 5);
}
END_TEST

/* ----------------------------------------------------- plug-in getters */

START_TEST(test_params_string_read_is_not_unknown)
{
	const char *v = NULL;

	tether_params_set(p, "client_id", "gw-1", "g.yaml:2:12");
	tether_params_set(p, "region", "eu", "g.yaml:3:9");
	ck_assert_int_eq(
	    tether_params_string(p, "client_id", "a client id", NULL, &v), 0);
	ck_assert_str_eq(v, "gw-1");
	/* tether_params_get reads without marking: still unknown */
	ck_assert_str_eq(tether_params_get(p, "region"), "eu");
	ck_assert_int_eq(tth_params_check_unknown(p, "transport 'acme'"),
			 TETHER_ECONFIG);
	ck_assert_str_eq(tether_params_errors(p),
			 "g.yaml:3:9: unknown key 'region' for transport "
			 "'acme'");
}
END_TEST

START_TEST(test_params_string_absent_gives_default)
{
	const char *v = NULL;

	ck_assert_int_eq(tether_params_string(p, "origin", NULL, "o", &v), 0);
	ck_assert_str_eq(v, "o");
	ck_assert_int_eq(tether_params_string(p, "origin", NULL, NULL, &v),
			 0);
	ck_assert_ptr_null(v);
	/* an empty value is a value */
	tether_params_set(p, "origin", "", NULL);
	ck_assert_int_eq(tether_params_string(p, "origin", NULL, "o", &v), 0);
	ck_assert_str_eq(v, "");
	ck_assert_int_eq(tth_params_check_unknown(p, "transport 'acme'"), 0);
	ck_assert_ptr_null(tether_params_errors(p));
}
END_TEST

START_TEST(test_params_string_mapping_is_error)
{
	char err[256];
	tether_params *y = yaml("ca_file: {a: 1}\nname: {b: 2}\n", err,
				sizeof(err));
	const char *v = NULL;

	ck_assert_int_eq(
	    tether_params_string(y, "ca_file", "a file name", "d", &v),
	    TETHER_ECONFIG);
	ck_assert_str_eq(v, "d");
	ck_assert_int_eq(tether_params_string(y, "name", NULL, NULL, &v),
			 TETHER_ECONFIG);
	ck_assert_ptr_null(v);
	ck_assert_str_eq(tether_params_errors(y),
			 "gw.yaml:1:10: ca_file: expected a file name, found "
			 "a mapping\n"
			 "gw.yaml:2:7: name: expected a text value, found a "
			 "mapping");
	tether_params_free(y);
}
END_TEST

/* A file in the test's temporary directory holding text; returns its
 * malloc'ed path. */
static char *temp_file(const char *text)
{
	char *path = strdup("/tmp/tether-params-XXXXXX");
	int fd;

	ck_assert_ptr_nonnull(path);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	return path;
}

START_TEST(test_params_secret_inline_env_file)
{
	char *path = temp_file("from-file\r\nsecond line\n");
	char *v = NULL;

	tether_params_set(p, "password", "inline", NULL);
	ck_assert_int_eq(tether_params_secret(p, "password", "a password", &v),
			 0);
	ck_assert_str_eq(v, "inline");
	tether_secret_free(v);

	setenv("TETHER_TEST_SECRET", "from-env", 1);
	tether_params_free(p);
	p = tether_params_new("gateway.yaml");
	tether_params_set(p, "password_env", "TETHER_TEST_SECRET", NULL);
	ck_assert_int_eq(tether_params_secret(p, "password", "a password", &v),
			 0);
	ck_assert_str_eq(v, "from-env");
	tether_secret_free(v);

	tether_params_set(p, "token_file", path, NULL);
	ck_assert_int_eq(tether_params_secret(p, "token", NULL, &v), 0);
	ck_assert_str_eq(v, "from-file");
	tether_secret_free(v);

	/* every key of both secrets was read */
	ck_assert_int_eq(tth_params_check_unknown(p, "transport 'acme'"), 0);
	ck_assert_ptr_null(tether_params_errors(p));
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_params_secret_absent_is_null)
{
	char *v = (char *)1;

	ck_assert_int_eq(tether_params_secret(p, "password", NULL, &v), 0);
	ck_assert_ptr_null(v);
	ck_assert_ptr_null(tether_params_errors(p));
	tether_secret_free(NULL);
}
END_TEST

START_TEST(test_params_secret_errors)
{
	char *v = (char *)1;

	tether_params_set(p, "password", "a", "g.yaml:2:13");
	tether_params_set(p, "password_env", "X", "g.yaml:3:17");
	ck_assert_int_eq(tether_params_secret(p, "password", "a password", &v),
			 TETHER_ECONFIG);
	ck_assert_ptr_null(v);
	ck_assert_str_eq(tether_params_errors(p),
			 "g.yaml:2:13: password: give only one of password, "
			 "password_env, password_file");

	tether_params_free(p);
	p = tether_params_new("gateway.yaml");
	unsetenv("TETHER_TEST_UNSET");
	tether_params_set(p, "password_env", "TETHER_TEST_UNSET", "g.yaml:2:17");
	tether_params_set(p, "key_file", "/nonexistent/key", "g.yaml:3:13");
	ck_assert_int_eq(tether_params_secret(p, "password", NULL, &v),
			 TETHER_ECONFIG);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(tether_params_secret(p, "key", NULL, &v),
			 TETHER_ECONFIG);
	ck_assert_ptr_null(v);
	ck_assert_str_eq(tether_params_errors(p),
			 "g.yaml:2:17: password_env: environment variable "
			 "'TETHER_TEST_UNSET' is not set\n"
			 "g.yaml:3:13: key_file: cannot read "
			 "'/nonexistent/key': No such file or directory");
}
END_TEST

START_TEST(test_params_secret_mapping_and_bad_arguments)
{
	char err[256], key[300];
	tether_params *y = yaml("password: {a: 1}\npassword_file: {b: 2}\n",
				err, sizeof(err));
	char *v = (char *)1;

	ck_assert_int_eq(tether_params_secret(y, "password", "a password", &v),
			 TETHER_ECONFIG);
	ck_assert_ptr_null(v);
	ck_assert_str_eq(tether_params_errors(y),
			 "gw.yaml:1:11: password: expected a password, found "
			 "a mapping\n"
			 "gw.yaml:2:16: password_file: expected a file name, "
			 "found a mapping");
	tether_params_free(y);

	ck_assert_int_eq(tether_params_secret(NULL, "k", NULL, &v),
			 TETHER_EINVAL);
	ck_assert_int_eq(tether_params_secret(p, "", NULL, &v), TETHER_EINVAL);
	ck_assert_int_eq(tether_params_secret(p, "k", NULL, NULL),
			 TETHER_EINVAL);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	ck_assert_int_eq(tether_params_secret(p, key, NULL, &v),
			 TETHER_EINVAL);
	ck_assert_ptr_null(v);
}
END_TEST

/* -------------------------------------------------------------- usage */

START_TEST(test_params_unknown_key_did_you_mean)
{
	uint64_t v;

	tether_params_set(p, "intial", "2s", "g.yaml:2:9");
	tether_params_set(p, "colour", "red", "g.yaml:3:9");
	tether_params_duration(p, "initial", 1000, 0, UINT64_MAX, &v);
	tether_params_duration(p, "max", 1000, 0, UINT64_MAX, &v);
	ck_assert_int_eq(tth_params_check_unknown(p, "policy 'exponential'"),
			 TETHER_ECONFIG);
	ck_assert_str_eq(tether_params_errors(p),
			 "g.yaml:2:9: unknown key 'intial' for policy "
			 "'exponential' (did you mean 'initial'?)\n"
			 "g.yaml:3:9: unknown key 'colour' for policy "
			 "'exponential'");
	tth_params_reset_usage(p);
	ck_assert_ptr_null(tether_params_errors(p));
}
END_TEST

START_TEST(test_params_child_key_path)
{
	tether_params *inner = tether_params_new("g.yaml:3:3"), *got;
	double d;

	tether_params_set(inner, "multiplier", "x", "g.yaml:4:17");
	tether_params_set(inner, "mulitplier", "3", "g.yaml:5:17");
	ck_assert_int_eq(tether_params_set_child(p, "inner", inner), 0);
	ck_assert_int_eq(tether_params_child(p, "inner", &got), 0);
	ck_assert_ptr_eq(got, inner);
	ck_assert_ptr_null(tether_params_get(p, "inner"));
	tether_params_double(got, "multiplier", 2, 1, 100, &d);
	tth_params_check_unknown(p, "policy 'breaker'");
	ck_assert_str_eq(tether_params_errors(p),
			 "g.yaml:4:17: inner.multiplier: expected a number "
			 "between 1 and 100, found 'x'\n"
			 "g.yaml:5:17: unknown key 'inner.mulitplier' for "
			 "policy 'breaker' (did you mean 'inner.multiplier'?)");
}
END_TEST

START_TEST(test_params_child_from_type_name)
{
	tether_params *got;

	tether_params_set(p, "inner", "fixed", "g.yaml:2:8");
	ck_assert_int_eq(tether_params_child(p, "inner", &got), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(tether_params_get(got, "type"), "fixed");
	ck_assert_uint_eq(tether_params_count(got), 1);
	tether_params_set(p, "other", "fixd", "g.yaml:3:8");
	ck_assert_int_eq(tether_params_child(p, "other", &got), TETHER_ECONFIG);
	ck_assert_ptr_null(got);
	ck_assert_str_eq(tether_params_errors(p),
			 "g.yaml:3:8: other: expected a mapping or a policy "
			 "type (one of: fixed, exponential, adaptive, "
			 "breaker), found 'fixd' (did you mean 'fixed'?)");
	ck_assert_int_eq(tether_params_child(p, "absent", &got), 0);
	ck_assert_ptr_null(got);
}
END_TEST

/* ---------------------------------------------------------- the set */

START_TEST(test_params_set_order_and_replace)
{
	ck_assert_int_eq(tether_params_set(p, "b", "1", NULL), 0);
	ck_assert_int_eq(tether_params_set(p, "a", "2", NULL), 0);
	ck_assert_int_eq(tether_params_set_kv(p, "b=3", "--policy"), 0);
	ck_assert_uint_eq(tether_params_count(p), 2);
	ck_assert_str_eq(tether_params_key(p, 0), "b");
	ck_assert_str_eq(tether_params_key(p, 1), "a");
	ck_assert_ptr_null(tether_params_key(p, 2));
	ck_assert_str_eq(tether_params_get(p, "b"), "3");
	ck_assert_str_eq(tth_params_where(p, "b"), "--policy");
	ck_assert_int_eq(tether_params_set_kv(p, "novalue", NULL),
			 TETHER_EINVAL);
	ck_assert_int_eq(tether_params_set_kv(p, "=x", NULL), TETHER_EINVAL);
	ck_assert_int_eq(tether_params_set(p, "", "x", NULL), TETHER_EINVAL);
	ck_assert_int_eq(tether_params_set_child(p, "c", NULL), TETHER_EINVAL);
	tether_params_free(NULL);
}
END_TEST

START_TEST(test_params_dup_is_deep)
{
	tether_params *c = tether_params_new(NULL), *d, *dc;
	uint64_t v;

	tether_params_set(c, "initial", "1x", "g.yaml:9:9");
	tether_params_set_child(p, "inner", c);
	tether_params_set(p, "type", "breaker", NULL);
	d = tether_params_dup(c);
	ck_assert_ptr_nonnull(d);
	tether_params_duration(d, "initial", 1, 0, 10, &v);
	/* the detached copy still names its path */
	ck_assert_str_eq(tether_params_errors(d),
			 "g.yaml:9:9: inner.initial: expected a duration such "
			 "as 250ms, 10s, 5m or 1h, found '1x'");
	ck_assert_ptr_null(tether_params_errors(p));
	tether_params_free(d);
	d = tether_params_dup(p);
	ck_assert_uint_eq(tether_params_count(d), 2);
	ck_assert_int_eq(tether_params_child(d, "inner", &dc), 0);
	ck_assert_ptr_ne(dc, c);
	ck_assert_str_eq(tether_params_get(dc, "initial"), "1x");
	tether_params_free(d);
}
END_TEST

/* --------------------------------------------------------------- yaml */

START_TEST(test_params_yaml_block_positions)
{
	char err[256];
	tether_params *y = yaml("# policy\n"
				"type: exponential\n"
				"initial: 1x\n"
				"inner:\n"
				"  max: 2s\n",
				err, sizeof(err));
	tether_params *in;
	uint64_t v;

	ck_assert_uint_eq(tether_params_count(y), 3);
	ck_assert_str_eq(tether_params_get(y, "type"), "exponential");
	ck_assert_str_eq(tth_params_where(y, "initial"), "gw.yaml:3:10");
	ck_assert_int_eq(tether_params_child(y, "inner", &in), 0);
	ck_assert_str_eq(tether_params_get(in, "max"), "2s");
	ck_assert_str_eq(tth_params_where(in, "max"), "gw.yaml:5:8");
	tether_params_duration(y, "initial", 1, 0, 10, &v);
	ck_assert_str_eq(tether_params_errors(y),
			 "gw.yaml:3:10: initial: expected a duration such as "
			 "250ms, 10s, 5m or 1h, found '1x'");
	tether_params_free(y);
}
END_TEST

START_TEST(test_params_yaml_flow_mapping)
{
	char err[256];
	tether_params *y = yaml("{type: exponential, initial: 1s, "
				"jitter: full, inner: {a: b}}",
				err, sizeof(err));

	ck_assert_uint_eq(tether_params_count(y), 4);
	ck_assert_str_eq(tether_params_key(y, 2), "jitter");
	ck_assert_str_eq(tether_params_get(y, "jitter"), "full");
	ck_assert_str_eq(tth_params_where(y, "initial"), "gw.yaml:1:30");
	tether_params_free(y);
}
END_TEST

START_TEST(test_params_yaml_rejects_with_position)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
	    {"type: fixed\nhosts:\n  - a\n",
	     "gw.yaml:3:3: hosts: sequences are not supported"},
	    {"type: fixed\nhosts: [a, b]\n",
	     "gw.yaml:2:8: hosts: sequences are not supported"},
	    {"base: &b 1s\nmax: *b\n",
	     "gw.yaml:1:7: anchors and aliases are not supported"},
	    {"type: fixed\n? [a]\n: b\n",
	     "gw.yaml:2:3: expected a key, found a sequence"},
	    {"type: fixed\ninterval: 1s\ntype: exponential\n",
	     "gw.yaml:3:1: duplicate key 'type' (first at gw.yaml:1:7)"},
	    {"- a\n- b\n", "gw.yaml:1:1: expected a mapping, found a "
			   "sequence"},
	    {"just text\n", "gw.yaml:1:1: expected a mapping, found a "
			    "scalar"},
	    {"", "gw.yaml:1:1: expected a mapping, found an empty document"},
	    {"a: b\n---\nc: d\n",
	     "gw.yaml:2:1: expected one document, found another"},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(yaml_fails(bad[i].text, err, sizeof(err)),
				 TETHER_ECONFIG);
		ck_assert_str_eq(err, bad[i].msg);
	}
}
END_TEST

START_TEST(test_params_yaml_syntax_error)
{
	char err[256];

	ck_assert_int_eq(yaml_fails("a: b\n c: d: e\n", err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_msg(strncmp(err, "gw.yaml:2:", 10) == 0, "%s", err);
	ck_assert_int_eq(yaml_fails("{a: b", err, sizeof(err)), TETHER_ECONFIG);
	ck_assert_msg(strncmp(err, "gw.yaml:", 8) == 0, "%s", err);
}
END_TEST

START_TEST(test_params_yaml_nested_duplicate)
{
	char err[256];

	ck_assert_int_eq(
	    yaml_fails("inner:\n  max: 1s\n  max: 2s\n", err, sizeof(err)),
	    TETHER_ECONFIG);
	ck_assert_str_eq(err, "gw.yaml:3:3: duplicate key 'max' (first at "
			      "gw.yaml:2:8)");
}
END_TEST

/* tether_params_option: the table gives the type, the default, the
 * range; errors are located like the typed getters'. */
START_TEST(test_params_option_reads_by_table)
{
	static const char *const modes[] = {"a", "b:", NULL};
	static const struct tether_option t[] = {
	    {.name = "d", .type = TETHER_OPTION_DURATION, .def = "2s",
	     .min = 1, .max = 10000},
	    {.name = "x", .type = TETHER_OPTION_DOUBLE, .def = "0.5", .min = 0,
	     .max = 1},
	    {.name = "m", .type = TETHER_OPTION_CHOICE, .def = "b:3",
	     .choices = modes},
	    {.name = "s", .type = TETHER_OPTION_TEXT, .def = "dflt"},
	    {.name = "bad", .type = TETHER_OPTION_UINT, .def = "many"},
	    {.name = NULL},
	};
	tether_params *q = tether_params_new("f.yaml");
	union tether_option_value v;

	ck_assert_int_eq(tether_params_option(q, t, "d", &v), 0);
	ck_assert_uint_eq(v.u, 2000);
	ck_assert_int_eq(tether_params_option(q, t, "x", &v), 0);
	ck_assert(v.d == 0.5);
	ck_assert_int_eq(tether_params_option(q, t, "m", &v), 0);
	ck_assert_int_eq(v.choice.index, 1);
	ck_assert_str_eq(v.choice.arg, "3");
	ck_assert_int_eq(tether_params_option(q, t, "s", &v), 0);
	ck_assert_str_eq(v.text, "dflt");
	/* a table whose default does not read, or a name not in it */
	ck_assert_int_eq(tether_params_option(q, t, "bad", &v), TETHER_EINVAL);
	ck_assert_int_eq(tether_params_option(q, t, "zz", &v), TETHER_EINVAL);
	ck_assert_ptr_null(tether_params_errors(q));
	/* written values, in range or not */
	ck_assert_int_eq(tether_params_set(q, "d", "250ms", "f.yaml:1:4"), 0);
	ck_assert_int_eq(tether_params_set(q, "x", "1.5", "f.yaml:2:4"), 0);
	ck_assert_int_eq(tether_params_option(q, t, "d", &v), 0);
	ck_assert_uint_eq(v.u, 250);
	ck_assert_int_eq(tether_params_option(q, t, "x", &v), TETHER_ECONFIG);
	ck_assert(v.d == 0.5); /* the default on error */
	ck_assert_str_eq(tether_params_errors(q),
			 "f.yaml:2:4: x: expected a number between 0 and 1, "
			 "found '1.5'");
	tether_params_free(q);
}
END_TEST

static Suite *params_suite(void)
{
	Suite *s = suite_create("params");
	TCase *tc = tcase_create("durations");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_params_duration_units);
	tcase_add_test(tc, test_params_duration_absent_gives_default);
	tcase_add_test(tc, test_params_duration_malformed_message);
	tcase_add_test(tc, test_params_duration_rejects_other_forms);
	tcase_add_test(tc, test_params_duration_range_in_human_units);
	tcase_add_test(tc, test_params_duration_format_largest_unit);
	suite_add_tcase(s, tc);

	tc = tcase_create("plug-in getters");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_params_string_read_is_not_unknown);
	tcase_add_test(tc, test_params_string_absent_gives_default);
	tcase_add_test(tc, test_params_string_mapping_is_error);
	tcase_add_test(tc, test_params_secret_inline_env_file);
	tcase_add_test(tc, test_params_secret_absent_is_null);
	tcase_add_test(tc, test_params_secret_errors);
	tcase_add_test(tc, test_params_secret_mapping_and_bad_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("types");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_params_double_uint_bool);
	tcase_add_test(tc, test_params_all_errors_at_once);
	tcase_add_test(tc, test_params_choice_with_argument);
	tcase_add_test(tc, test_params_choice_suggests_value);
	tcase_add_test(tc, test_params_fail_custom);
	suite_add_tcase(s, tc);

	tc = tcase_create("usage");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_params_unknown_key_did_you_mean);
	tcase_add_test(tc, test_params_child_key_path);
	tcase_add_test(tc, test_params_child_from_type_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("set");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_params_set_order_and_replace);
	tcase_add_test(tc, test_params_dup_is_deep);
	suite_add_tcase(s, tc);

	tc = tcase_create("yaml");
	tcase_add_test(tc, test_params_yaml_block_positions);
	tcase_add_test(tc, test_params_yaml_flow_mapping);
	tcase_add_test(tc, test_params_yaml_rejects_with_position);
	tcase_add_test(tc, test_params_yaml_syntax_error);
	tcase_add_test(tc, test_params_yaml_nested_duplicate);
	tcase_add_test(tc, test_params_option_reads_by_table);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(params_suite)
