/* Configuration files on disk (issue 4): every file of
 * tests/data/config/invalid must fail to load with exactly the lines its
 * "# expect: " comments give (file:line:column and message, the file named
 * by its base name), and every file of tests/data/config/valid must load,
 * apply to a manager, and dump to YAML that loads again to the same dump.
 *
 * The data is found under $top_srcdir (set by `make check`), else under
 * the source directory this suite was configured from. Secrets named by
 * the files (password_file, key_password_file, ca_file...) are relative
 * names: the suite makes them, mode 600, in a temporary directory and
 * runs from there (the source tree is read-only under distcheck). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tether/config.h>
#include <tether/tether.h>

#include "check-int.h"

#define EXPECT "# expect: "
#define MAX_FILES 256

struct fileset {
	char dir[PATH_MAX];
	char *names[MAX_FILES];
	int n;
};

static struct fileset invalid, valid;
static char tmpdir[PATH_MAX];

static int is_yaml(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0;
}

/* The sorted *.yaml names of <srcdir>/tests/data/config/<sub>. */
static void list_files(struct fileset *fs, const char *sub)
{
	const char *top = getenv("top_srcdir");
	char path[PATH_MAX];
	struct dirent **v;
	int n;

	snprintf(path, sizeof(path), "%s/tests/data/config/%s",
		 top && *top ? top : TTH_TOP_SRCDIR, sub);
	if (!realpath(path, fs->dir)) {
		fprintf(stderr, "check_config_files: %s: %s\n", path,
			strerror(errno));
		exit(EXIT_FAILURE);
	}
	n = scandir(fs->dir, &v, is_yaml, alphasort);
	if (n < 0) {
		fprintf(stderr, "check_config_files: %s: %s\n", fs->dir,
			strerror(errno));
		exit(EXIT_FAILURE);
	}
	for (int i = 0; i < n; i++) {
		if (fs->n < MAX_FILES)
			fs->names[fs->n++] = strdup(v[i]->d_name);
		free(v[i]);
	}
	free(v);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ck_assert_int_ge(len, 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* The "# expect: " lines of text, each without the prefix, '\n'-ended. */
static char *expected_of(const char *text)
{
	char *out = calloc(1, strlen(text) + 1);
	size_t used = 0;

	ck_assert_ptr_nonnull(out);
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");

		if (strncmp(p, EXPECT, strlen(EXPECT)) == 0) {
			size_t l = len - strlen(EXPECT);
			memcpy(out + used, p + strlen(EXPECT), l);
			used += l;
			out[used++] = '\n';
		}
		p += len + (p[len] == '\n');
	}
	out[used] = '\0';
	return out;
}

/* Remove every "<dir>/" from s, in place: messages name the file by the
 * path it was loaded from. */
static void strip_dir(char *s, const char *dir)
{
	char pre[PATH_MAX + 2];
	size_t pl;
	char *hit;

	snprintf(pre, sizeof(pre), "%s/", dir);
	pl = strlen(pre);
	while ((hit = strstr(s, pre)) != NULL)
		memmove(hit, hit + pl, strlen(hit + pl) + 1);
}

/* ---- fixtures ---------------------------------------------------------- */

static void write_file(const char *name, const char *text, mode_t mode)
{
	FILE *f = fopen(name, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(name, mode), 0);
}

/* What the files name: secrets (mode 600), a CA file, a CA directory. */
static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/tether-cfgfiles-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(chdir(tmpdir), 0);
	write_file("mqtt-password.txt", "s3cret-mqtt\n", 0600);
	write_file("key-password.txt", "s3cret-key\n", 0600);
	write_file("ca.pem", "not checked before a TLS handshake\n", 0600);
	write_file("client.pem", "\n", 0600);
	write_file("client.key", "\n", 0600);
	ck_assert_int_eq(mkdir("certs", 0700), 0);
	ck_assert_int_eq(setenv("TETHER_TEST_PASSWORD", "s3cret-env", 1), 0);
	ck_assert_int_eq(unsetenv("TETHER_TEST_UNSET_VARIABLE"), 0);
}

static void teardown(void)
{
	static const char *const names[] = { "mqtt-password.txt",
					     "key-password.txt", "ca.pem",
					     "client.pem", "client.key",
					     "empty.yaml" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(names[i]);
	rmdir("certs");
	if (chdir("/") == 0)
		rmdir(tmpdir);
}

/* ---- invalid files ----------------------------------------------------- */

START_TEST(test_config_files_invalid)
{
	const char *name = invalid.names[_i];
	char path[PATH_MAX * 2], *text, *want, *errors = NULL;
	tether_config *cfg = (tether_config *)1;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", invalid.dir, name);
	text = read_all(path);
	want = expected_of(text);
	ck_assert_msg(want[0] != '\0', "%s: no '" EXPECT "' line", name);
	rc = tether_config_load_file(path, &cfg, &errors);
	ck_assert_msg(rc == TETHER_ECONFIG, "%s: rc %d (%s)", name, rc,
		      tether_strerror(rc));
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(errors);
	strip_dir(errors, invalid.dir);
	ck_assert_msg(strcmp(errors, want) == 0,
		      "%s:\n--- expected\n%s--- got\n%s", name, want, errors);
	/* from memory, under the base name: the same lines */
	free(errors);
	errors = NULL;
	rc = tether_config_load_string(text, strlen(text), name, &cfg,
				       &errors);
	ck_assert_int_eq(rc, TETHER_ECONFIG);
	ck_assert_str_eq(errors, want);
	free(errors);
	free(want);
	free(text);
}
END_TEST

START_TEST(test_config_files_invalid_many)
{
	/* issue 4: 30+ files, each with its expected lines */
	ck_assert_int_ge(invalid.n, 32);
	ck_assert_int_lt(invalid.n, MAX_FILES);
}
END_TEST

START_TEST(test_config_files_empty)
{
	char *errors = NULL;
	tether_config *cfg = NULL;

	/* a zero-byte file cannot carry an expect line: made here */
	write_file("empty.yaml", "", 0600);
	ck_assert_int_eq(tether_config_load_file("empty.yaml", &cfg, &errors),
			 TETHER_ECONFIG);
	ck_assert_str_eq(errors,
			 "empty.yaml:1:1: expected a mapping, found an empty "
			 "file\n");
	free(errors);
}
END_TEST

/* ---- valid files ------------------------------------------------------- */

START_TEST(test_config_files_valid)
{
	const char *name = valid.names[_i];
	char path[PATH_MAX * 2], *errors = NULL, *d1, *d2;
	tether_config *cfg = NULL, *again = NULL;
	tether_mgr *m = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", valid.dir, name);
	rc = tether_config_load_file(path, &cfg, &errors);
	ck_assert_msg(rc == 0, "%s: rc %d:\n%s", name, rc,
		      errors ? errors : "");
	ck_assert_ptr_null(errors);
	/* the secret files are mode 600: nothing to warn about */
	ck_assert_msg(tether_config_warnings(cfg) == NULL, "%s: %s", name,
		      tether_config_warnings(cfg));

	d1 = tether_config_dump(cfg);
	ck_assert_ptr_nonnull(d1);
	/* no secret value in the dump */
	ck_assert_ptr_null(strstr(d1, "s3cret"));
	rc = tether_config_load_string(d1, strlen(d1), name, &again, &errors);
	ck_assert_msg(rc == 0, "%s: the dump does not load:\n%s\n%s", name,
		      errors ? errors : "", d1);
	d2 = tether_config_dump(again);
	ck_assert_ptr_nonnull(d2);
	ck_assert_str_eq(d1, d2);
	ck_assert_uint_eq(tether_config_count(again), tether_config_count(cfg));

	/* and it applies: every connection created under its name */
	ck_assert_int_eq(tether_mgr_new(&m), 0);
	rc = tether_config_apply(cfg, m, &errors);
	ck_assert_msg(rc == 0, "%s: apply: %s", name, errors ? errors : "");
	for (size_t i = 0; i < tether_config_count(cfg); i++)
		ck_assert_ptr_nonnull(
			tether_conn_find(m, tether_config_name(cfg, i)));
	tether_mgr_free(m);
	free(d1);
	free(d2);
	tether_config_free(again);
	tether_config_free(cfg);
}
END_TEST

/* Together the valid files use every key of the connection, policy,
 * transport and limits schema. The queue:, log: and metrics: sections have
 * no files here yet (they were being written when these were). */
START_TEST(test_config_files_valid_cover_schema)
{
	static const char *const keys[] = {
		/* top */
		"version", "limits", "connects_per_second", "burst",
		"max_connecting", "policies", "connections",
		/* connection */
		"name", "transport", "endpoints", "policy", "connect_timeout",
		"close_timeout", "stable_after", "overload_floor",
		"failback_after", "probe_interval", "retry_after_max", "coordinated",
		"heartbeat",
		"interval", "timeout", "misses",
		"classify", "mqtt", "ws", "tls",
		/* mqtt */
		"client_id", "clean_start", "keepalive", "session_expiry",
		"username", "password_env", "password_file", "subscriptions",
		"topic", "qos",
		/* ws */
		"subprotocol", "origin", "max_message", "headers",
		/* tls */
		"verify", "ca_file", "ca_dir", "cert_file", "key_file",
		"key_password_env", "key_password_file",
		/* policies */
		"type", "jitter", "max_attempts", "max_elapsed", "initial",
		"multiplier", "max", "min", "window", "inner", "failures",
		"failure_rate", "min_samples", "open_for", "half_open_probes",
	};
	size_t total = 1;
	char *all = calloc(1, 1);

	ck_assert_ptr_nonnull(all);
	for (int i = 0; i < valid.n; i++) {
		char path[PATH_MAX * 2], *t;

		snprintf(path, sizeof(path), "%s/%s", valid.dir,
			 valid.names[i]);
		t = read_all(path);
		total += strlen(t) + 1;
		all = realloc(all, total);
		ck_assert_ptr_nonnull(all);
		strcat(all, t);
		strcat(all, "\n");
		free(t);
	}
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		char a[64], b[64], c[64];
		/* as a block key, a flow key, or the first flow key */
		snprintf(a, sizeof(a), " %s:", keys[k]);
		snprintf(b, sizeof(b), "\n%s:", keys[k]);
		snprintf(c, sizeof(c), "{%s:", keys[k]);
		ck_assert_msg(strstr(all, a) || strstr(all, b) ||
				      strstr(all, c),
			      "no valid file uses '%s'", keys[k]);
	}
	free(all);
}
END_TEST

static Suite *config_files_suite(void)
{
	Suite *s = suite_create("config_files");
	TCase *tc;

	list_files(&invalid, "invalid");
	list_files(&valid, "valid");

	tc = tcase_create("invalid");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_config_files_invalid, 0, invalid.n);
	tcase_add_test(tc, test_config_files_invalid_many);
	tcase_add_test(tc, test_config_files_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("valid");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_config_files_valid, 0, valid.n);
	tcase_add_test(tc, test_config_files_valid_cover_schema);
	suite_add_tcase(s, tc);

	return s;
}

TTH_CHECK_MAIN(config_files_suite)
