/* Configuration files at scale: loading is linear in the file's size, and
 * the caps on bytes and entries fail early with a located error. Timing
 * bounds are generous (5 s where a quiet machine takes well under 1 s) so
 * that a shared CI machine or a sanitizer build still passes. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tether/config.h>
#include <tether/policy.h>
#include <tether/tether.h>

#include "check-int.h"
#include "params-int.h"

/* Quadratic parsing took 25 s and more; linear takes well under 1 s on a
 * quiet machine. Under valgrind (TETHER_TEST_SLOW, about 20 times slower)
 * the bound widens accordingly. */
#define SLOW_MS (getenv("TETHER_TEST_SLOW") ? 100000ull : 5000ull)

static const char head[] = "version: 1\n"
			   "connections:\n"
			   "  - name: a\n"
			   "    transport: ws\n";

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A growing text buffer; the tests abort on out of memory. */
struct text {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void add(struct text *t,
						     const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		ck_assert_int_ge(n, 0);
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap ? 2 * t->cap : 1 << 16;
		while (t->cap - t->len <= (size_t)n)
			t->cap *= 2;
		t->s = realloc(t->s, t->cap);
		ck_assert_ptr_nonnull(t->s);
	}
	t->len += (size_t)n;
}

/* A ws connection with n headers X-H0..; dup >= 0 repeats X-H<dup> last. */
static struct text headers_file(size_t n, long dup)
{
	struct text t = {0};

	add(&t, "%s    endpoints: [ \"ws://127.0.0.1:1/\" ]\n"
		"    ws:\n      headers:\n",
	    head);
	for (size_t i = 0; i < n; i++)
		add(&t, "        X-H%zu: v%zu\n", i, i);
	if (dup >= 0)
		add(&t, "        X-H%ld: again\n", dup);
	return t;
}

/* A flow sequence of endpoints at least bytes long. */
static struct text sequence_file(size_t bytes, int tiny)
{
	struct text t = {0};

	add(&t, "%s    endpoints: [", head);
	for (size_t i = 0; t.len < bytes; i++)
		if (tiny)
			add(&t, "%s1", i ? "," : "");
		else
			add(&t, "%s\"ws://127.0.0.1:%zu/p%zu\"", i ? ", " : "",
			    1 + i % 60000, i);
	add(&t, "]\n");
	return t;
}

static int load(const struct text *t, tether_config **cfg, char **errors,
		uint64_t *ms)
{
	uint64_t t0 = now_ms();
	int rc = tether_config_load_string(t->s, t->len, "gw.yaml", cfg,
					   errors);

	*ms = now_ms() - t0;
	return rc;
}

START_TEST(test_config_scale_40000_headers)
{
	struct text t = headers_file(40000, -1);
	tether_config *cfg = NULL;
	char *errors = NULL, *dump;
	uint64_t ms;
	int rc = load(&t, &cfg, &errors, &ms);

	ck_assert_msg(rc == 0, "load: %s", errors ? errors : "?");
	ck_assert_msg(ms < SLOW_MS, "40,000 headers took %llu ms",
		      (unsigned long long)ms);
	dump = tether_config_dump(cfg);
	ck_assert_ptr_nonnull(dump);
	ck_assert_ptr_nonnull(strstr(dump, "X-H0: v0"));
	ck_assert_ptr_nonnull(strstr(dump, "X-H39999: v39999"));
	free(dump);
	tether_config_free(cfg);
	free(t.s);
}
END_TEST

START_TEST(test_config_scale_duplicate_in_40000_keys)
{
	struct text t = headers_file(40000, 7);
	tether_config *cfg = NULL;
	char *errors = NULL;
	uint64_t ms;
	int rc = load(&t, &cfg, &errors, &ms);

	ck_assert_int_eq(rc, TETHER_ECONFIG);
	ck_assert_msg(ms < SLOW_MS, "took %llu ms", (unsigned long long)ms);
	/* X-H7 is on line 8 + 7, again on line 8 + 40000 */
	ck_assert_str_eq(errors, "gw.yaml:40008:9: duplicate key 'X-H7' "
				 "(first at gw.yaml:15:15)\n");
	free(errors);
	free(t.s);
}
END_TEST

START_TEST(test_config_scale_4mb_sequence)
{
	struct text t = sequence_file(4u << 20, 0);
	tether_config *cfg = NULL;
	char *errors = NULL;
	uint64_t ms;
	int rc = load(&t, &cfg, &errors, &ms);

	ck_assert_msg(rc == 0, "load: %.300s", errors ? errors : "?");
	ck_assert_msg(ms < SLOW_MS, "a 4 MB sequence took %llu ms",
		      (unsigned long long)ms);
	tether_config_free(cfg);
	free(t.s);
}
END_TEST

/* 4 MB of one-byte items: two million entries, refused at the cap. */
START_TEST(test_config_scale_entries_cap)
{
	struct text t = sequence_file(4u << 20, 1);
	tether_config *cfg = (tether_config *)1;
	char *errors = NULL;
	uint64_t ms;
	int rc = load(&t, &cfg, &errors, &ms);

	ck_assert_int_eq(rc, TETHER_ECONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(ms < SLOW_MS, "took %llu ms", (unsigned long long)ms);
	ck_assert_ptr_nonnull(errors);
	ck_assert_msg(strncmp(errors, "gw.yaml:5:", 10) == 0, "%s", errors);
	ck_assert_ptr_nonnull(
	    strstr(errors, ": more than 200000 entries (values, mappings and "
			   "sequences), the limit of a configuration file "
			   "(TETHER_CONFIG_MAX_ENTRIES: set that environment "
			   "variable to raise it)\n"));
	ck_assert_ptr_eq(strchr(errors, '\n'), errors + strlen(errors) - 1);
	free(errors);
	free(t.s);
}
END_TEST

START_TEST(test_config_scale_bytes_cap)
{
	size_t len = TETHER_CONFIG_MAX_BYTES + 1;
	char *text = malloc(len), *errors = NULL;
	tether_config *cfg = (tether_config *)1;

	ck_assert_ptr_nonnull(text);
	memset(text, '#', len);
	ck_assert_int_eq(tether_config_load_string(text, len, "gw.yaml", &cfg,
						   &errors),
			 TETHER_ECONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(errors,
			 "gw.yaml: larger than 16MiB, the limit of a "
			 "configuration file (TETHER_CONFIG_MAX_BYTES: set that "
			 "environment variable to raise it)\n");
	free(errors);
	free(text);
}
END_TEST

/* The environment raises or lowers the caps; a file is refused before it
 * is read; a bad value is an error, not ignored. */
START_TEST(test_config_scale_caps_from_environment)
{
	char dir[] = "/tmp/tether-scale-XXXXXX", path[64];
	struct text t = headers_file(100, -1);
	tether_config *cfg = NULL;
	char *errors = NULL;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/gw.yaml", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(t.s, 1, t.len, f), t.len);
	fclose(f);

	setenv("TETHER_CONFIG_MAX_ENTRIES", "20", 1);
	ck_assert_int_eq(tether_config_load_file(path, &cfg, &errors),
			 TETHER_ECONFIG);
	ck_assert_ptr_nonnull(strstr(errors, "/gw.yaml:19:16: more than 20 entries"));
	free(errors);
	setenv("TETHER_CONFIG_MAX_ENTRIES", "lots", 1);
	ck_assert_int_eq(tether_config_load_file(path, &cfg, &errors),
			 TETHER_ECONFIG);
	ck_assert_str_eq(errors, "TETHER_CONFIG_MAX_ENTRIES: expected a whole "
				 "number such as 500000, found 'lots'\n");
	free(errors);
	unsetenv("TETHER_CONFIG_MAX_ENTRIES");

	setenv("TETHER_CONFIG_MAX_BYTES", "1KiB", 1);
	ck_assert_int_eq(tether_config_load_file(path, &cfg, &errors),
			 TETHER_ECONFIG);
	ck_assert_ptr_nonnull(strstr(errors, "/gw.yaml: larger than 1KiB, "));
	free(errors);
	setenv("TETHER_CONFIG_MAX_BYTES", "64KiB", 1);
	ck_assert_int_eq(tether_config_load_file(path, &cfg, &errors), 0);
	tether_config_free(cfg);
	unsetenv("TETHER_CONFIG_MAX_BYTES");

	unlink(path);
	rmdir(dir);
	free(t.s);
}
END_TEST

/* The key index of a parameter set: replacing keeps the first position,
 * every key is found, and a copy is indexed too. */
START_TEST(test_config_scale_params_index)
{
	tether_params *p = tether_params_new("x"), *c;
	char k[32], v[32];

	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		ck_assert_int_eq(tether_params_set(p, k, v, NULL), 0);
	}
	ck_assert_int_eq(tether_params_set(p, "k4321", "new", NULL), 0);
	ck_assert_uint_eq(tether_params_count(p), 5000);
	ck_assert_str_eq(tether_params_key(p, 4321), "k4321");
	ck_assert_str_eq(tether_params_get(p, "k4321"), "new");
	ck_assert_ptr_null(tether_params_get(p, "k5000"));
	c = tether_params_dup(p);
	ck_assert_ptr_nonnull(c);
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		ck_assert_str_eq(tether_params_get(c, k),
				 i == 4321 ? "new" : v);
	}
	ck_assert(tth_params_equal(p, c));
	tether_params_free(c);
	tether_params_free(p);
}
END_TEST

static Suite *config_scale_suite(void)
{
	Suite *s = suite_create("config_scale");
	TCase *tc = tcase_create("linear");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_config_scale_40000_headers);
	tcase_add_test(tc, test_config_scale_duplicate_in_40000_keys);
	tcase_add_test(tc, test_config_scale_4mb_sequence);
	tcase_add_test(tc, test_config_scale_params_index);
	suite_add_tcase(s, tc);
	tc = tcase_create("caps");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_config_scale_entries_cap);
	tcase_add_test(tc, test_config_scale_bytes_cap);
	tcase_add_test(tc, test_config_scale_caps_from_environment);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(config_scale_suite)
