/* tether: the command-line tool. */
#include <stdio.h>
#include <string.h>

#include <tether/policy.h>
#include <tether/tether.h>

#include "cli-int.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tether COMMAND [OPTIONS]\n"
		"\n"
		"commands:\n"
		"  check CONFIG          validate a configuration file and print\n"
		"                        it with every default filled in (secrets\n"
		"                        masked); exit 2 with every error if wrong\n"
		"  run CONFIG [--json] [--metrics [ADDR:]PORT]\n"
		"                        run every connection of the file, one line\n"
		"                        (or JSON object) per event; SIGINT/SIGTERM\n"
		"                        stop gracefully (exit 0); exit 1 when every\n"
		"                        connection ended on its own (fatal, gave up);\n"
		"                        --metrics serves /metrics (Prometheus) on\n"
		"                        loopback (tether run --help)\n"
		"  simulate              run a reconnect storm on virtual time and\n"
		"                        show what a server would see\n"
		"                        (tether simulate --help)\n"
		"  policies              list the registered reconnect policies,\n"
		"                        each option with its type and default\n"
		"  version               print the library version\n"
		"  help                  this text\n");
}

int cli_duration(const char *opt, const char *text, uint64_t *out_ms)
{
	tether_params *p = tether_params_new(NULL);
	int rc;

	if (!p) {
		fprintf(stderr, "tether: out of memory\n");
		return -1;
	}
	rc = tether_params_set(p, opt, text, NULL);
	if (rc == 0)
		rc = tether_params_duration(p, opt, 0, 0, UINT64_MAX / 2,
					    out_ms);
	if (rc != 0) {
		const char *e = tether_params_errors(p);
		cli_errors(e ? e : tether_strerror(rc));
	}
	tether_params_free(p);
	return rc == 0 ? 0 : -1;
}

void cli_errors(const char *lines)
{
	const char *p = lines;

	while (*p) {
		size_t n = strcspn(p, "\n");
		fprintf(stderr, "tether: %.*s\n", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
}

/* An option's type as tether.yaml(5) names it. */
static const char *type_name(enum tether_option_type t)
{
	static const char *const names[] = {
	    [TETHER_OPTION_TEXT] = "text",	 [TETHER_OPTION_BOOL] = "bool",
	    [TETHER_OPTION_UINT] = "number",	 [TETHER_OPTION_SIZE] = "size",
	    [TETHER_OPTION_DURATION] = "duration", [TETHER_OPTION_CHOICE] = "word",
	    [TETHER_OPTION_MAP] = "mapping",	 [TETHER_OPTION_DOUBLE] = "decimal",
	    [TETHER_OPTION_POLICY] = "policy",
	};

	return (size_t)t < sizeof(names) / sizeof(names[0]) && names[t]
		   ? names[t]
		   : "?";
}

/* Each policy type, and the options of its table (policy.h). */
static int cmd_policies(void)
{
	for (size_t i = 0; i < tether_policy_count(); i++) {
		const struct tether_policy_ops *ops = tether_policy_at(i);
		const struct tether_option *o = tether_policy_options(ops);

		printf("%-12s %s\n", ops->name, ops->summary ? ops->summary : "");
		for (; o && o->name; o++)
			printf("    %-17s %-9s %-8s %s\n", o->name,
			       type_name(o->type), o->def ? o->def : "-",
			       o->doc ? o->doc : "");
	}
	return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	/* the library is silent on its own; the CLI prints the engines'
	 * errors on stderr, as it always has (docs/logging.md) */
	tether_set_log_cb(tether_log_to_stderr, NULL, TETHER_LOG_ERROR);
	if (strcmp(cmd, "simulate") == 0)
		return cli_simulate(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cli_check(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return cli_run(argc - 1, argv + 1);
	if (strcmp(cmd, "policies") == 0)
		return cmd_policies();
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("tether %s\n", tether_version());
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "tether: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
