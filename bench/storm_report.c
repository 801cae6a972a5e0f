/* bench/storm's table. Times in seconds; "-" where a run failed or a
 * percentile was not reached by the deadline. a1st and alast: the first
 * and the last connection attempt after the server is back. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "storm-int.h"

static void sec(char *b, size_t n, uint64_t ms)
{
	if (ms == UINT64_MAX)
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.2f", (double)ms / 1000.0);
}

void storm_print_header(void)
{
	printf("%-11s %5s %4s | %7s %6s %6s | %6s %6s %6s | %6s %6s | %6s "
	       "%7s | %s\n",
	       "client", "N", "out", "att/cli", "max1s", "max100", "t50 s",
	       "t90 s", "t100 s", "a1st s", "alast", "cpu s", "rss MiB",
	       "back");
}

void storm_print_row(const struct storm_result *r)
{
	char a[16], b[16], c[16], f[16], l[16];

	if (!r->ok) {
		printf("%-11s %5d %3ds | run failed\n", r->kind->name, r->n,
		       r->outage_s);
		fflush(stdout);
		return;
	}
	sec(a, sizeof(a), r->t50);
	sec(b, sizeof(b), r->t90);
	sec(c, sizeof(c), r->t100);
	sec(f, sizeof(f), r->first_after_ms);
	sec(l, sizeof(l), r->last_after_ms);
	printf("%-11s %5d %3ds | %7.2f %6" PRIu64 " %6" PRIu64
	       " | %6s %6s %6s | %6s %6s | %6.2f %7.1f | %d/%d%s\n",
	       r->kind->name, r->n, r->outage_s,
	       (double)r->attempts_outage / r->n, r->max_1s, r->max_100ms, a,
	       b, c, f, l, r->cpu_s, (double)r->maxrss_kib / 1024.0, r->back,
	       r->n, r->counted_by_proxy ? " (reset, not refuse)" : "");
	fflush(stdout);
}

static void ratio(const char *what, double t, double p)
{
	if (p > 0)
		printf(" %s %.3g", what, t / p);
	else
		printf(" %s -", what);
}

static double tsec(uint64_t ms)
{
	return ms == UINT64_MAX ? -1 : (double)ms;
}

void storm_print_ratios(const struct storm_result *r, int n)
{
	for (int i = 0; i < n; i++) {
		const struct storm_result *t = &r[i];
		if (!t->ok || strncmp(t->kind->name, "tether", 6) != 0)
			continue;
		for (int j = 0; j < n; j++) {
			const struct storm_result *p = &r[j];
			if (!p->ok || p == t ||
			    strncmp(p->kind->name, "tether", 6) == 0 ||
			    strcmp(p->kind->transport,
				   t->kind->transport) != 0)
				continue;
			printf("  ratio %s/%s:", t->kind->name, p->kind->name);
			ratio("att", (double)t->attempts_outage,
			      (double)p->attempts_outage);
			ratio("max1s", (double)t->max_1s, (double)p->max_1s);
			ratio("max100ms", (double)t->max_100ms,
			      (double)p->max_100ms);
			if (tsec(t->t100) >= 0 && tsec(p->t100) >= 0) {
				ratio("t50", tsec(t->t50), tsec(p->t50));
				ratio("t90", tsec(t->t90), tsec(p->t90));
				ratio("t100", tsec(t->t100), tsec(p->t100));
			} else {
				printf(" t100 -");
			}
			ratio("cpu", t->cpu_s, p->cpu_s);
			ratio("rss", (double)t->maxrss_kib,
			      (double)p->maxrss_kib);
			printf("\n");
		}
	}
	fflush(stdout);
}
