/* bench/storm: a reconnect storm. N client connections of one kind run in
 * a child process and connect through a fault proxy to a real server
 * (mosquitto for MQTT, the harness's lws server for WebSocket). When all
 * are up, the proxy refuses new connections and cuts every open one at
 * once (RST); after the outage it lets connections through again. We
 * count every connection attempt (SYN) at the proxy's port, refused ones
 * included (syncount.h), and the child reports when each client was back.
 *
 * Figures per run: attempts per client during the outage, the most
 * attempts in any 1 s and any 100 ms (from the cut until all are back),
 * time to 50 / 90 / 100 % reconnected after the server is back, the
 * child's CPU seconds over that period and its peak RSS. Every kind runs
 * against a fresh server in a fresh process, one after the other; tether
 * is compared with each peer of the same transport in the same run.
 *
 *   storm [--clients tether,paho,mosq,tether-ws,lws,tether-solo]
 *         [-n 1000,2000,5000]
 *         [--outage 10,30,45] [--deadline S] [--quick] [--csv FILE]
 *
 * --csv FILE writes each run's attempts per 100 ms from the cut until all
 * are back as CSV (contrib/gnuplot/storm.gp draws them; docs/BENCHMARKS.md).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether/tether.h>

#include "bench.h"
#include "broker.h"
#include "child.h"
#include "fleet.h"
#include "proxy.h"
#include "storm-int.h"
#include "syncount.h"
#include "ws_server.h"

#define MAXL 8

struct opts {
	const char *clients;
	long n[MAXL], outage[MAXL];
	int nn, no;
	int deadline_s, connect_s, settle_ms;
	FILE *csv; /* --csv: rows of every run, or NULL */
};

#define CSV_BIN_MS 100

/* One run's attempts per 100 ms from the cut to done: t_s from the cut,
 * whether the server was up at the row's start, the attempts that began
 * in it. */
static void write_csv(FILE *f, const struct storm_result *r,
		      const uint64_t *t, size_t nt, uint64_t cut,
		      uint64_t back, uint64_t done)
{
	size_t rows = (size_t)((done - cut) / CSV_BIN_MS) + 1, k = 0;

	while (k < nt && t[k] < cut)
		k++;
	for (size_t i = 0; i < rows; i++) {
		uint64_t from = cut + i * CSV_BIN_MS, to = from + CSV_BIN_MS;
		uint64_t n = 0;

		while (k < nt && t[k] < to) {
			n++;
			k++;
		}
		fprintf(f, "%s,%d,%d,%.1f,%d,%" PRIu64 "\n", r->kind->name,
			r->n, r->outage_s, (double)(i * CSV_BIN_MS) / 1000.0,
			from >= back, n);
	}
	fflush(f);
}

static int run_one(const struct opts *o, const struct fleet_kind *k, int n,
		   int outage_s, struct storm_result *r)
{
	struct th_broker *broker = NULL;
	struct th_proxy *proxy = NULL;
	pid_t ws_pid = -1;
	int ws_ctl = -1;
	struct syncount *sc = NULL;
	struct child ch = {.pid = -1};
	char line[256];
	uint16_t target;
	uint64_t cut, back, done, *t = NULL;
	size_t nt;
	int rc = -1, up = 0;
	enum th_proxy_mode down_mode = TH_PROXY_REFUSE;
	struct th_broker_opts bo = {0};

	memset(r, 0, sizeof(*r));
	r->kind = k;
	r->n = n;
	r->outage_s = outage_s;
	if (strcmp(k->transport, "mqtt") == 0) {
		if (th_broker_start(&bo, &broker) != 0) {
			fprintf(stderr, "storm: mosquitto did not start\n");
			return -1;
		}
		target = th_broker_port(broker);
	} else {
		/* Its own process: it needs two fds per connection, and so
		 * does the proxy. */
		ws_pid = child_ws_server(&target, &ws_ctl);
		if (ws_pid < 0) {
			fprintf(stderr, "storm: ws server did not start\n");
			return -1;
		}
	}
	if (th_proxy_start(target, &proxy) != 0)
		goto out;
	if (syncount_start(th_proxy_port(proxy), &sc) != 0) {
		/* No CAP_NET_RAW: accept-and-RST instead of refusing, which
		 * the proxy itself counts. */
		down_mode = TH_PROXY_RESET;
		r->counted_by_proxy = 1;
	}
	if (child_spawn(&ch, k->name, n, th_proxy_port(proxy), o->connect_s,
			"-"))
		goto out;
	if (child_line(&ch, line, sizeof(line),
		       (uint64_t)o->connect_s * 1000 + 30000) != 0 ||
	    sscanf(line, "UP %d %" SCNu64, &up, &r->connect_ms) != 2 ||
	    up < n) {
		fprintf(stderr, "storm: %s: only %d of %d connected (%s)\n",
			k->name, up, n, line);
		goto out;
	}
	bench_sleep_ms((uint64_t)o->settle_ms);
	if (sc)
		syncount_reset(sc);
	th_proxy_reset_counters(proxy);
	cut = bench_now_ms();
	th_proxy_set_mode(proxy, down_mode, 0);
	th_proxy_cut(proxy, 1);
	fprintf(ch.in, "CUT %" PRIu64 "\n", cut);
	bench_sleep_ms((uint64_t)outage_s * 1000 - (bench_now_ms() - cut));
	back = bench_now_ms();
	th_proxy_set_mode(proxy, TH_PROXY_PASS, 0);
	fprintf(ch.in, "BACK %" PRIu64 " %" PRIu64 "\n", back,
		back + (uint64_t)o->deadline_s * 1000);
	if (child_line(&ch, line, sizeof(line),
		       (uint64_t)o->deadline_s * 1000 + 30000) != 0 ||
	    sscanf(line, "DONE %d %" SCNu64 " %" SCNu64 " %" SCNu64 " %lf %ld",
		   &r->back, &r->t50, &r->t90, &r->t100, &r->cpu_s,
		   &r->maxrss_kib) != 6) {
		fprintf(stderr, "storm: %s: no result from the client\n",
			k->name);
		goto out;
	}
	done = bench_now_ms();
	nt = sc ? syncount_times(sc, NULL, 0)
		: th_proxy_attempt_times(proxy, NULL, 0);
	t = calloc(nt + 1, sizeof(*t));
	if (!t)
		goto out;
	nt = sc ? syncount_times(sc, t, nt)
		: th_proxy_attempt_times(proxy, t, nt);
	r->first_after_ms = r->last_after_ms = UINT64_MAX;
	for (size_t i = 0; i < nt; i++) {
		if (t[i] < back)
			r->attempts_outage++;
		if (t[i] <= done)
			r->attempts_total++;
		if (t[i] >= back && t[i] <= done) {
			if (r->first_after_ms == UINT64_MAX)
				r->first_after_ms = t[i] - back;
			r->last_after_ms = t[i] - back;
		}
	}
	if (o->csv)
		write_csv(o->csv, r, t, nt, cut, back, done);
	r->max_1s = bench_max_in_window(t, nt, 1000);
	r->max_100ms = bench_max_in_window(t, nt, 100);
	r->ok = 1;
	rc = 0;
out:
	if (ch.pid > 0)
		child_reap(&ch, 60000);
	free(t);
	syncount_free(sc);
	th_proxy_free(proxy);
	th_broker_free(broker);
	child_ws_server_stop(ws_pid, ws_ctl);
	return rc;
}

/* Every (N, outage) cell: each kind in turn, then the table. */
static int run_matrix(const struct opts *o)
{
	const struct fleet_kind *kinds[16];
	struct storm_result res[16];
	char list[256], *save = NULL;
	int nk = 0, failed = 0;

	snprintf(list, sizeof(list), "%s", o->clients);
	for (char *tok = strtok_r(list, ",", &save); tok && nk < 16;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!(kinds[nk] = fleet_find(tok))) {
			fprintf(stderr, "storm: unknown client '%s'\n", tok);
			return 1;
		}
		nk++;
	}
	printf("tether: limiter default %d connects/s, burst %d; coordinated "
	       "recovery %s (tether-solo: off)\n",
	       TETHER_DEFAULT_CONNECTS_PER_SECOND, TETHER_DEFAULT_BURST,
	       "on");
	storm_print_header();
	fflush(stdout);
	for (int a = 0; a < o->nn; a++)
		for (int b = 0; b < o->no; b++) {
			for (int i = 0; i < nk; i++) {
				if (run_one(o, kinds[i], (int)o->n[a],
					    (int)o->outage[b], &res[i]) != 0)
					failed++;
				storm_print_row(&res[i]);
			}
			storm_print_ratios(res, nk);
		}
	return failed;
}

static void usage(FILE *f)
{
	fputs("usage: storm [--clients LIST] [-n LIST] [--outage LIST] "
	      "[--deadline S] [--connect S] [--quick]\n"
	      "  --clients  kinds to run, in order (default "
	      "tether,paho,mosq,tether-ws,lws)\n"
	      "  -n         connections per run (default 2000)\n"
	      "  --outage   outage seconds (default 10,30,45)\n"
	      "  --deadline seconds to wait for all to come back (default 120)\n"
	      "  --connect  seconds to wait for the first connect (default 120)\n"
	      "  --quick    -n 50 --outage 3 --deadline 30 (a smoke run)\n"
	      "  --csv FILE attempts per 100 ms of every run, as CSV (client,\n"
	      "             clients,outage_s,t_s,server_up,attempts; t_s from\n"
	      "             the cut until all are back)\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"clients", required_argument, NULL, 'c'},
	    {"outage", required_argument, NULL, 'o'},
	    {"deadline", required_argument, NULL, 'd'},
	    {"connect", required_argument, NULL, 'C'},
	    {"quick", no_argument, NULL, 'q'},
	    {"csv", required_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct opts o = {.clients = "tether,paho,mosq,tether-ws,lws",
			 .n = {2000}, .nn = 1,
			 .outage = {10, 30, 45}, .no = 3,
			 .deadline_s = 120, .connect_s = 120,
			 .settle_ms = 2000};
	const char *csv = NULL;
	int ch, rc;

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main(argc, argv);
	while ((ch = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o.clients = optarg; break;
		case 'n': o.nn = bench_parse_list(optarg, o.n, MAXL); break;
		case 'o': o.no = bench_parse_list(optarg, o.outage, MAXL); break;
		case 'd': o.deadline_s = atoi(optarg); break;
		case 'C': o.connect_s = atoi(optarg); break;
		case 'q':
			o.n[0] = 50; o.nn = 1;
			o.outage[0] = 3; o.no = 1;
			o.deadline_s = 30; o.connect_s = 30;
			o.settle_ms = 500;
			break;
		case 'V': csv = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.nn <= 0 || o.no <= 0 || o.deadline_s <= 0 || o.connect_s <= 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	if (csv) {
		if (!(o.csv = fopen(csv, "w"))) {
			fprintf(stderr, "storm: cannot write %s: %s\n", csv,
				strerror(errno));
			return 2;
		}
		fprintf(o.csv, "client,clients,outage_s,t_s,server_up,attempts\n");
	}
	rc = run_matrix(&o);
	if (o.csv && (ferror(o.csv) + (fclose(o.csv) != 0)) != 0) {
		fprintf(stderr, "storm: cannot write %s\n", csv);
		rc = 1;
	}
	return rc;
}
