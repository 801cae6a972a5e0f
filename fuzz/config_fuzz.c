/* libFuzzer target: tether_config_load_string on arbitrary bytes.
 *
 * For every input: the load must return 0 or TETHER_ECONFIG (never crash,
 * leak or hang), with errors exactly when it fails, every error line
 * located in the input ("fuzz.yaml:" or "fuzz.yaml: "). For a file that
 * loads: tether_config_dump() must give YAML that loads again, whose dump
 * is the same text (the round trip the header promises). Built and run by
 * scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined).
 *
 * The load checks everything without starting anything (each connection's
 * settings value through its checked setters, the transports' check()),
 * so the whole load is fuzzed: the YAML reader, the schema, policies,
 * secrets, the settings, the transports' option checks and the dump. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/config.h>
#include <tether/tether.h>

#define NAME "fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The caps for inputs (small: inputs stay at libFuzzer's 4 KB, and lower
 * caps let them reach both the entries cap and the bytes cap,
 * tether/config.h), or the library's defaults for a dump, which is longer
 * than its input (every default written out). */
static void input_caps(int small)
{
	if (small) {
		setenv("TETHER_CONFIG_MAX_ENTRIES", "256", 1);
		setenv("TETHER_CONFIG_MAX_BYTES", "3KiB", 1);
	} else {
		unsetenv("TETHER_CONFIG_MAX_ENTRIES");
		unsetenv("TETHER_CONFIG_MAX_BYTES");
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	input_caps(1);
	return 0;
}

static void fail(const char *what, const char *a, const char *b)
{
	fprintf(stderr, "config_fuzz: %s\n--- a\n%s\n--- b\n%s\n", what,
		a ? a : "(null)", b ? b : "(null)");
	abort();
}

static void check_errors(const char *errors)
{
	if (!errors || !*errors)
		fail("failed load without errors", errors, NULL);
	for (const char *p = errors; *p;) {
		size_t len = strcspn(p, "\n");

		if (strncmp(p, NAME ":", strlen(NAME ":")) != 0)
			fail("error line not located in the input", p, errors);
		if (p[len] != '\n')
			fail("errors do not end with a newline", errors, NULL);
		p += len + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tether_config *cfg = NULL, *again = NULL;
	char *errors = NULL, *d1, *d2;
	int rc;

	rc = tether_config_load_string((const char *)data, size, NAME, &cfg,
				       &errors);
	if (rc == TETHER_ECONFIG) {
		if (cfg)
			fail("failed load with a configuration", NULL, NULL);
		check_errors(errors);
		free(errors);
		return 0;
	}
	if (rc == TETHER_ENOMEM)
		return 0;
	if (rc != 0)
		fail("unexpected return code", tether_strerror(rc), NULL);
	if (errors)
		fail("successful load with errors", errors, NULL);

	d1 = tether_config_dump(cfg);
	if (!d1)
		fail("dump failed", NULL, NULL);
	input_caps(0);
	rc = tether_config_load_string(d1, strlen(d1), NAME, &again, &errors);
	input_caps(1);
	if (rc != 0)
		fail("the dump does not load again", d1, errors);
	d2 = tether_config_dump(again);
	if (!d2 || strcmp(d1, d2) != 0)
		fail("the dump of the dump differs", d1, d2);
	if (tether_config_count(cfg) != tether_config_count(again))
		fail("connection count changed", d1, d2);
	free(d1);
	free(d2);
	tether_config_free(again);
	tether_config_free(cfg);
	return 0;
}
