/*
 * tether simulate: a reconnect storm on virtual time, with the real core.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/policy.h>
#include <tether/sim.h>
#include <tether/tether.h>

#include "cli-int.h"

#define BAR_WIDTH 50
#define MAX_ROWS 60

static void sim_usage(FILE *f)
{
	fprintf(f,
		"usage: tether simulate [OPTIONS]\n"
		"\n"
		"Run N clients through a server outage on virtual time, with the\n"
		"real state machine, policy and limiter, and print what the server\n"
		"would see. Nothing touches the network.\n"
		"\n"
		"scenario:\n"
		"  -n, --clients N          clients (default 1000)\n"
		"  -d, --outage D           outage length (default 30s)\n"
		"      --fault refuse|blackhole\n"
		"                           refused at once, or never answered\n"
		"                           (attempts end at the connect timeout)\n"
		"      --rtt D              time for an attempt to resolve (1ms)\n"
		"      --connect-timeout D  per attempt (10s)\n"
		"      --stable-after D     online this long resets backoff (5s)\n"
		"      --horizon D          give up watching this long after the\n"
		"                           server is back (10m)\n"
		"      --seed N             random seed (1)\n"
		"      --limit R[:B[:M]]    manager limiter: R connects/s, burst B,\n"
		"                           at most M connecting (default: off, so\n"
		"                           the policy alone is shown; with\n"
		"                           --coordinated: the manager's default,\n"
		"                           1000:1); 0 turns it off\n"
		"      --coordinated        the clients share the server's health\n"
		"                           (coordinated recovery, on by default in\n"
		"                           a manager): one probes, the others wait;\n"
		"                           compared with the same run without\n"
		"      --probe-interval D   coordinated: longest delay between\n"
		"                           shared probes (1s)\n"
		"policy:\n"
		"  -p, --policy TYPE        policy type (default exponential)\n"
		"  -s, --set KEY=VALUE      a policy parameter (repeatable)\n"
		"  -y, --policy-yaml TEXT   the policy as YAML, e.g.\n"
		"                           '{type: breaker, inner: exponential}';\n"
		"                           @FILE reads a file\n"
		"      --compare KEY=VALUE  also run the policy with this change\n"
		"                           (repeatable); by default a jittered\n"
		"                           exponential policy is compared with\n"
		"                           jitter=none, a jittered fixed one with\n"
		"                           jitter=0\n"
		"      --no-compare         no comparison run\n"
		"output:\n"
		"      --show K             delay schedule of the first K clients (3)\n"
		"      --csv FILE           write the run's time series as CSV\n"
		"                           (100 ms rows: t_s, server_up, attempts,\n"
		"                           back, down)\n"
		"      --csv-compare FILE   the comparison run's, the same way\n"
		"  -h, --help               this text\n");
}

struct sim_opts {
	struct tether_sim_config cfg;
	const char *type;
	const char *yaml;
	const char *sets[64];
	size_t nsets;
	const char *compares[16];
	size_t ncompares;
	int no_compare;
	int limit_given;
	unsigned show;
	const char *csv;	 /* --csv: the main run's series */
	const char *csv_compare; /* --csv-compare: the comparison run's */
};

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 > cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
			if (!nb) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Build the policy's parameter set from --policy-yaml or --policy/--set. */
static tether_params *build_params(const struct sim_opts *o)
{
	tether_params *p = NULL;
	char err[1024];

	if (o->yaml) {
		const char *name = "--policy-yaml";
		char *owned = NULL;
		size_t len = strlen(o->yaml);
		const char *text = o->yaml;
		if (o->yaml[0] == '@') {
			name = o->yaml + 1;
			owned = read_file(name, &len);
			if (!owned) {
				fprintf(stderr, "tether: cannot read %s: %s\n",
					name, strerror(errno));
				return NULL;
			}
			text = owned;
		}
		int rc = tether_params_parse_yaml(text, len, name, &p, err,
						  sizeof err);
		free(owned);
		if (rc != 0) {
			cli_errors(err);
			return NULL;
		}
	} else {
		p = tether_params_new("--policy");
		if (!p || tether_params_set(p, "type",
					    o->type ? o->type : "exponential",
					    "--policy") != 0) {
			fprintf(stderr, "tether: out of memory\n");
			tether_params_free(p);
			return NULL;
		}
	}
	for (size_t i = 0; i < o->nsets; i++) {
		if (tether_params_set_kv(p, o->sets[i], "--set") != 0) {
			fprintf(stderr,
				"tether: --set expects KEY=VALUE, found '%s'\n",
				o->sets[i]);
			tether_params_free(p);
			return NULL;
		}
	}
	return p;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static const char *fmt_ms(uint64_t ms, char *buf, size_t len)
{
	if (ms == UINT64_MAX)
		snprintf(buf, len, "never");
	else if (ms < 1000)
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%.2fs", (double)ms / 1000.0);
	return buf;
}

static void bar_rows(const uint64_t *bins, size_t n, uint64_t bin_ms,
		     int64_t first_ms)
{
	uint64_t max = 1;

	for (size_t i = 0; i < n; i++)
		if (bins[i] > max)
			max = bins[i];
	for (size_t i = 0; i < n; i++) {
		int w = (int)((bins[i] * BAR_WIDTH + max - 1) / max);
		double t = (double)(first_ms + (int64_t)(i * bin_ms)) / 1000.0;
		printf("  %+8.1fs |%-*.*s %" PRIu64 "\n", t, BAR_WIDTH, w,
		       "##################################################",
		       bins[i]);
	}
}

static void print_schedule(const tether_sim *sim,
			   const struct tether_sim_summary *s, unsigned show)
{
	if (show > s->clients)
		show = s->clients;
	if (!show)
		return;
	printf("  delay schedule (attempt times in seconds after the links "
	       "dropped; first %u clients):\n",
	       show);
	for (uint32_t c = 0; c < show; c++) {
		char buf[32];
		size_t shown = 0;
		printf("    client %u:", c);
		for (size_t i = 0; i < tether_sim_attempt_count(sim); i++) {
			uint64_t at;
			uint32_t who;
			tether_sim_attempt(sim, i, &at, &who);
			if (who != c)
				continue;
			if (shown++ < 12)
				printf(" %.3f",
				       (double)(at - s->outage_at_ms) / 1000.0);
		}
		if (shown > 12)
			printf(" ... (%zu in all)", shown);
		printf("  -> online %s after recovery\n",
		       fmt_ms(tether_sim_reconnect_ms(sim, c), buf,
			      sizeof buf));
	}
}

static void print_histograms(const tether_sim *sim,
			     const struct tether_sim_summary *s)
{
	uint64_t end = s->recovered_at_ms;
	uint64_t bins[MAX_ROWS];

	if (s->reconnect_p100_ms != UINT64_MAX)
		end += s->reconnect_p100_ms;
	for (size_t i = 0; i < tether_sim_attempt_count(sim); i++) {
		uint64_t at;
		tether_sim_attempt(sim, i, &at, NULL);
		if (at + 1 > end)
			end = at + 1;
	}
	uint64_t span = end - s->outage_at_ms;
	uint64_t bin = 1000;
	while (span / bin >= MAX_ROWS)
		bin *= 2;
	size_t n = (size_t)(span / bin) + 1;
	tether_sim_histogram(sim, s->outage_at_ms, bin, bins, n);
	printf("  attempts per %s, whole run (t = 0: links dropped; server "
	       "back at %+.1fs):\n",
	       bin == 1000 ? "second" : "bin", (double)(s->recovered_at_ms - s->outage_at_ms) / 1000.0);
	if (bin != 1000)
		printf("  (bins of %.0f s)\n", (double)bin / 1000.0);
	bar_rows(bins, n, bin, 0);

	/* 100 ms bins around recovery: from 1 s before to 4 s after. */
	uint64_t from = s->recovered_at_ms >= s->outage_at_ms + 1000
				? s->recovered_at_ms - 1000
				: s->outage_at_ms;
	tether_sim_histogram(sim, from, 100, bins, 50);
	printf("  attempts per 100 ms around recovery (t = 0: server back):\n");
	bar_rows(bins, 50, 100, (int64_t)from - (int64_t)s->recovered_at_ms);
}

static void print_figures(const struct tether_sim_summary *s)
{
	char a[32], b[32], c[32];

	printf("  peak attempt rate: %" PRIu64 "/s (100 ms resolution); "
	       "max in any 1 s: %" PRIu64 "; max in any 100 ms: %" PRIu64 "\n",
	       s->peak_100ms * 10, s->peak_1s, s->peak_100ms);
	printf("  attempts per client during the outage: %.2f "
	       "(%" PRIu64 " in all, %" PRIu64 " after recovery)\n",
	       (double)s->attempts_during_outage / s->clients, s->attempts,
	       s->attempts - s->attempts_during_outage);
	printf("  most attempts in flight at once during the outage: %" PRIu64
	       "\n",
	       s->max_in_flight_outage);
	if (s->held)
		printf("  clients waited for the shared probe %" PRIu64
		       " times\n",
		       s->held);
	printf("  reconnected after the server came back: 50%% %s, 90%% %s, "
	       "100%% %s (%u of %u; gave up: %u)\n",
	       fmt_ms(s->reconnect_p50_ms, a, sizeof a),
	       fmt_ms(s->reconnect_p90_ms, b, sizeof b),
	       fmt_ms(s->reconnect_p100_ms, c, sizeof c), s->reconnected,
	       s->clients, s->gave_up);
}

#define CSV_BIN_MS 100

/* The run as a time series, one row per 100 ms from the moment the links
 * dropped (t_s 0) until the last client is back or the last attempt, one
 * row more: the attempts that began in the row's 100 ms, whether the
 * server was up at its start, and how many clients were online again
 * (back) or not (down) at its end. back + down is always the number of
 * clients, and the attempts add up to the run's total. */
static int write_csv(const tether_sim *sim, const struct tether_sim_summary *s,
		     const char *path)
{
	uint64_t end = s->recovered_at_ms, *bins, *back_at;
	FILE *f;
	size_t n, nback = 0;
	int bad;

	if (s->reconnect_p100_ms != UINT64_MAX)
		end += s->reconnect_p100_ms;
	for (size_t i = 0; i < tether_sim_attempt_count(sim); i++) {
		uint64_t at;
		tether_sim_attempt(sim, i, &at, NULL);
		if (at + 1 > end)
			end = at + 1;
	}
	n = (size_t)((end - s->outage_at_ms) / CSV_BIN_MS) + 2;
	bins = calloc(n, sizeof *bins);
	back_at = calloc(s->clients ? s->clients : 1, sizeof *back_at);
	if (!bins || !back_at) {
		free(bins);
		free(back_at);
		fprintf(stderr, "tether: out of memory\n");
		return -1;
	}
	tether_sim_histogram(sim, s->outage_at_ms, CSV_BIN_MS, bins, n);
	/* when each client was back, sorted, to count them per row */
	for (uint32_t c = 0; c < s->clients; c++) {
		uint64_t d = tether_sim_reconnect_ms(sim, c);
		if (d != UINT64_MAX)
			back_at[nback++] = s->recovered_at_ms + d;
	}
	qsort(back_at, nback, sizeof *back_at, cmp_u64);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "tether: cannot write %s: %s\n", path,
			strerror(errno));
		free(bins);
		free(back_at);
		return -1;
	}
	fprintf(f, "t_s,server_up,attempts,back,down\n");
	for (size_t i = 0, k = 0; i < n; i++) {
		uint64_t from = s->outage_at_ms + i * CSV_BIN_MS;
		uint64_t to = from + CSV_BIN_MS;

		while (k < nback && back_at[k] <= to)
			k++;
		fprintf(f, "%.1f,%d,%" PRIu64 ",%zu,%zu\n",
			(double)(i * CSV_BIN_MS) / 1000.0,
			from >= s->recovered_at_ms, bins[i], k,
			(size_t)s->clients - k);
	}
	bad = ferror(f);
	bad |= fclose(f) != 0;
	free(bins);
	free(back_at);
	if (bad) {
		fprintf(stderr, "tether: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

static int run_one(const struct sim_opts *o, tether_params *p,
		   const char *title, struct tether_sim_summary *sum,
		   int detail, int coordinated, const char *csv)
{
	struct tether_sim_config cfg = o->cfg;
	tether_sim *sim = NULL;
	char err[2048];

	cfg.policy = p;
	cfg.coordinated = coordinated;
	int rc = tether_sim_run(&cfg, &sim, err, sizeof err);
	if (rc != 0) {
		cli_errors(err[0] ? err : tether_strerror(rc));
		return -1;
	}
	tether_sim_summarize(sim, sum);
	printf("\n== %s: %s\n", title, sum->policy);
	if (detail) {
		print_schedule(sim, sum, o->show);
		print_histograms(sim, sum);
	}
	print_figures(sum);
	rc = csv ? write_csv(sim, sum, csv) : 0;
	tether_sim_free(sim);
	return rc;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void print_comparison(const struct tether_sim_summary *m,
			     const struct tether_sim_summary *c,
			     const char *change)
{
	char a[32], b[32];

	printf("\n== comparison: this run vs the same with %s\n", change);
	printf("  peak attempt rate (100 ms resolution): %" PRIu64
	       "/s vs %" PRIu64 "/s: %.1fx %s\n",
	       m->peak_100ms * 10, c->peak_100ms * 10,
	       m->peak_100ms <= c->peak_100ms
		       ? ratio(c->peak_100ms, m->peak_100ms)
		       : ratio(m->peak_100ms, c->peak_100ms),
	       m->peak_100ms <= c->peak_100ms ? "lower" : "higher");
	printf("  max attempts in any 1 s: %" PRIu64 " vs %" PRIu64 "\n",
	       m->peak_1s, c->peak_1s);
	printf("  attempts per client during the outage: %.2f vs %.2f\n",
	       (double)m->attempts_during_outage / m->clients,
	       (double)c->attempts_during_outage / c->clients);
	printf("  time to 100%% reconnected: %s vs %s\n",
	       fmt_ms(m->reconnect_p100_ms, a, sizeof a),
	       fmt_ms(c->reconnect_p100_ms, b, sizeof b));
}

static int parse_limit(const char *text, struct tether_sim_config *cfg)
{
	char *end;
	double rate = strtod(text, &end);
	unsigned long burst = 1, maxc = 0;

	if (end == text || rate < 0)
		return -1;
	if (*end == ':') {
		burst = strtoul(end + 1, &end, 10);
		if (*end == ':')
			maxc = strtoul(end + 1, &end, 10);
	}
	if (*end != '\0' || burst == 0 || burst > UINT32_MAX ||
	    maxc > UINT32_MAX)
		return -1;
	cfg->connects_per_second = rate;
	cfg->burst = (uint32_t)burst;
	cfg->max_connecting = (uint32_t)maxc;
	return 0;
}

static int check_policy(tether_params *p)
{
	tether_policy *pol = NULL;
	char err[2048];
	int rc = tether_policy_new(p, &pol, err, sizeof err);

	if (rc != 0)
		cli_errors(err[0] ? err : tether_strerror(rc));
	tether_policy_free(pol);
	return rc;
}

/* The comparison to run when none is given: the same policy without
 * jitter, for the policies that jitter. */
static const char *default_compare(tether_params *p)
{
	const char *type = tether_params_get(p, "type");
	const char *jitter = tether_params_get(p, "jitter");

	if (!type)
		return NULL;
	if (strcmp(type, "exponential") == 0)
		return jitter && strcmp(jitter, "none") == 0 ? NULL
							     : "jitter=none";
	if (strcmp(type, "fixed") == 0 && jitter && strcmp(jitter, "0") != 0)
		return "jitter=0";
	return NULL;
}

int cli_simulate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"clients", required_argument, NULL, 'n'},
		{"outage", required_argument, NULL, 'd'},
		{"fault", required_argument, NULL, 'F'},
		{"rtt", required_argument, NULL, 'r'},
		{"connect-timeout", required_argument, NULL, 'T'},
		{"stable-after", required_argument, NULL, 'S'},
		{"horizon", required_argument, NULL, 'H'},
		{"seed", required_argument, NULL, 'e'},
		{"limit", required_argument, NULL, 'l'},
		{"policy", required_argument, NULL, 'p'},
		{"set", required_argument, NULL, 's'},
		{"policy-yaml", required_argument, NULL, 'y'},
		{"compare", required_argument, NULL, 'c'},
		{"no-compare", no_argument, NULL, 'N'},
		{"show", required_argument, NULL, 'w'},
		{"coordinated", no_argument, NULL, 'C'},
		{"probe-interval", required_argument, NULL, 'P'},
		{"csv", required_argument, NULL, 'V'},
		{"csv-compare", required_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sim_opts o;
	int opt, rc = CLI_EXIT_USAGE;
	char *end;

	memset(&o, 0, sizeof o);
	tether_sim_config_init(&o.cfg);
	o.show = 3;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:d:p:s:y:h", longopts, NULL)) !=
	       -1) {
		unsigned long long v;
		switch (opt) {
		case 'n':
			v = strtoull(optarg, &end, 10);
			if (*end || v == 0 || v > 1000000) {
				fprintf(stderr, "tether: --clients expects 1 "
						"to 1000000, found '%s'\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			o.cfg.clients = (uint32_t)v;
			break;
		case 'd':
			if (cli_duration("--outage", optarg, &o.cfg.outage_ms))
				return CLI_EXIT_USAGE;
			break;
		case 'F':
			if (strcmp(optarg, "refuse") == 0)
				o.cfg.fault = TETHER_SIM_REFUSE;
			else if (strcmp(optarg, "blackhole") == 0)
				o.cfg.fault = TETHER_SIM_BLACKHOLE;
			else {
				fprintf(stderr, "tether: --fault expects refuse "
						"or blackhole, found '%s'\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'r':
			if (cli_duration("--rtt", optarg, &o.cfg.rtt_ms))
				return CLI_EXIT_USAGE;
			break;
		case 'T':
			if (cli_duration("--connect-timeout", optarg,
					 &o.cfg.connect_timeout_ms))
				return CLI_EXIT_USAGE;
			break;
		case 'S':
			if (cli_duration("--stable-after", optarg,
					 &o.cfg.stable_after_ms))
				return CLI_EXIT_USAGE;
			break;
		case 'H':
			if (cli_duration("--horizon", optarg,
					 &o.cfg.horizon_ms))
				return CLI_EXIT_USAGE;
			break;
		case 'e':
			o.cfg.seed = strtoull(optarg, &end, 0);
			if (*end) {
				fprintf(stderr, "tether: --seed expects a "
						"number, found '%s'\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'C':
			o.cfg.coordinated = 1;
			break;
		case 'P':
			if (cli_duration("--probe-interval", optarg,
					 &o.cfg.probe_interval_ms))
				return CLI_EXIT_USAGE;
			break;
		case 'l':
			o.limit_given = 1;
			if (parse_limit(optarg, &o.cfg) != 0) {
				fprintf(stderr,
					"tether: --limit expects RATE[:BURST[:"
					"MAX_CONNECTING]] such as 200:50:64, "
					"found '%s'\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'p':
			o.type = optarg;
			break;
		case 's':
			if (o.nsets == sizeof o.sets / sizeof o.sets[0]) {
				fprintf(stderr, "tether: too many --set\n");
				return CLI_EXIT_USAGE;
			}
			o.sets[o.nsets++] = optarg;
			break;
		case 'y':
			o.yaml = optarg;
			break;
		case 'c':
			if (o.ncompares ==
			    sizeof o.compares / sizeof o.compares[0]) {
				fprintf(stderr, "tether: too many --compare\n");
				return CLI_EXIT_USAGE;
			}
			o.compares[o.ncompares++] = optarg;
			break;
		case 'N':
			o.no_compare = 1;
			break;
		case 'w':
			o.show = (unsigned)strtoul(optarg, &end, 10);
			if (*end) {
				fprintf(stderr, "tether: --show expects a "
						"number, found '%s'\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'V':
			o.csv = optarg;
			break;
		case 'W':
			o.csv_compare = optarg;
			break;
		case 'h':
			sim_usage(stdout);
			return CLI_EXIT_OK;
		default:
			sim_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tether: unexpected argument '%s'\n",
			argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (o.yaml && (o.type)) {
		fprintf(stderr,
			"tether: give the policy with --policy-yaml or with "
			"--policy, not both\n");
		return CLI_EXIT_USAGE;
	}

	if (o.cfg.coordinated && !o.limit_given) {
		/* the release goes through the limiter: use a manager's */
		o.cfg.connects_per_second = TETHER_DEFAULT_CONNECTS_PER_SECOND;
		o.cfg.burst = TETHER_DEFAULT_BURST;
	}
	tether_params *p = build_params(&o);
	tether_params *cmp = NULL;
	char change[512] = "";
	/* coordinated: compared with the same run without, unless --compare */
	int coord_compare = o.cfg.coordinated && !o.no_compare && !o.ncompares;
	if (!p)
		return CLI_EXIT_USAGE;
	if (!o.no_compare && !coord_compare) {
		const char *def = o.ncompares ? NULL : default_compare(p);
		if (o.ncompares || def) {
			cmp = tether_params_dup(p);
			if (!cmp) {
				fprintf(stderr, "tether: out of memory\n");
				goto out;
			}
			if (def) {
				tether_params_set_kv(cmp, def, "--compare");
				snprintf(change, sizeof change, "%s", def);
			}
			for (size_t i = 0; i < o.ncompares; i++) {
				if (tether_params_set_kv(cmp, o.compares[i],
							 "--compare") != 0) {
					fprintf(stderr,
						"tether: --compare expects "
						"KEY=VALUE, found '%s'\n",
						o.compares[i]);
					goto out;
				}
				size_t l = strlen(change);
				snprintf(change + l, sizeof change - l, "%s%s",
					 i ? " " : "", o.compares[i]);
			}
		}
	}

	if (o.csv_compare && !cmp && !coord_compare) {
		fprintf(stderr, "tether: --csv-compare: there is no comparison "
				"run (see --compare, --coordinated)\n");
		goto out;
	}
	/* Every problem with the policies before any output. */
	if (check_policy(p) != 0 || (cmp && check_policy(cmp) != 0))
		goto out;

	char a[32], b[32], c[32];
	printf("tether simulate: %u clients, outage %s (%s), attempts resolve "
	       "in %s, seed %" PRIu64 "\n",
	       o.cfg.clients, fmt_ms(o.cfg.outage_ms, a, sizeof a),
	       o.cfg.fault == TETHER_SIM_REFUSE ? "refused" : "blackhole",
	       fmt_ms(o.cfg.rtt_ms, b, sizeof b), o.cfg.seed);
	if (o.cfg.connects_per_second > 0)
		printf("limiter: %g connects/s, burst %u, max connecting %u\n",
		       o.cfg.connects_per_second, o.cfg.burst,
		       o.cfg.max_connecting);
	else
		printf("limiter: off (the policy alone; --limit R:B:M adds "
		       "the manager's limiter)\n");
	printf("connect timeout %s, stable after %s\n",
	       fmt_ms(o.cfg.connect_timeout_ms, a, sizeof a),
	       fmt_ms(o.cfg.stable_after_ms, c, sizeof c));
	if (o.cfg.coordinated)
		printf("coordinated recovery: on (one endpoint; probe interval "
		       "%s)\n",
		       fmt_ms(o.cfg.probe_interval_ms, a, sizeof a));

	struct tether_sim_summary sm, sc;
	if (run_one(&o, p, o.cfg.coordinated ? "coordinated" : "policy", &sm,
		    1, o.cfg.coordinated, o.csv) != 0) {
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (cmp || coord_compare) {
		char title[600];
		if (coord_compare)
			snprintf(change, sizeof change, "coordination off");
		snprintf(title, sizeof title, "comparison run (%s)", change);
		if (run_one(&o, cmp ? cmp : p, title, &sc, 0,
			    coord_compare ? 0 : o.cfg.coordinated,
			    o.csv_compare) != 0) {
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		print_comparison(&sm, &sc, change);
	}
	rc = CLI_EXIT_OK;
out:
	tether_params_free(p);
	tether_params_free(cmp);
	return rc;
}
