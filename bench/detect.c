/* bench/detect: how long a client takes to notice a half-open link. One
 * client connects through the fault proxy; at a chosen phase of its
 * heartbeat period the proxy turns to BLACKHOLE (sockets stay open, no
 * byte, FIN or RST passes), and we time the client's "link down".
 *
 *   tether-ws    tether's WebSocket heartbeat (interval, timeout, misses)
 *   lws          a plain lws client with the same ping as an lws_retry_bo_t
 *                (secs_since_valid_ping = interval, hangup = interval +
 *                timeout x misses, whole seconds)
 *   lws-default  a plain lws client with lws's own defaults (no policy)
 *   tether       tether's MQTT link: the MQTT keepalive
 *   paho         raw Paho with the same keepalive
 *   mosq         raw libmosquitto with the same keepalive
 *
 * The expected bound for tether's heartbeat is interval + timeout x misses
 * (tether.h); the target is that plus 10 %. Paho's is about 1.5 x
 * keepalive. The MQTT keepalive defaults to 5 s, the least libmosquitto
 * 2.0 accepts.
 *
 *   detect [--clients LIST] [--interval MS] [--timeout MS] [--misses N]
 *          [--keepalive S] [--trials N] [--cap S] [--quick]
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "broker.h"
#include "fleet.h"
#include "proxy.h"
#include "ws_server.h"

struct dopts {
	const char *clients;
	uint64_t interval_ms, timeout_ms;
	uint32_t misses;
	int keepalive_s, trials, cap_s;
};

/* One trial: detection time in ms, UINT64_MAX if not within the cap,
 * 0 on a setup failure. */
static uint64_t trial(const struct dopts *o, const struct fleet_kind *k,
		      uint64_t phase_ms, int cap_s)
{
	struct th_broker *broker = NULL;
	struct th_ws_server *ws = NULL;
	struct th_proxy *proxy = NULL;
	void *st = NULL;
	uint64_t t0, res = 0, end;
	uint16_t target;

	(void)o;
	if (strcmp(k->transport, "mqtt") == 0) {
		if (th_broker_start(NULL, &broker) != 0)
			return 0;
		target = th_broker_port(broker);
	} else {
		if (th_ws_server_start(NULL, &ws) != 0)
			return 0;
		target = th_ws_server_port(ws);
	}
	if (th_proxy_start(target, &proxy) != 0 || fleet_record_init(1) != 0)
		goto out;
	if (k->start(1, th_proxy_port(proxy), &st) != 0)
		goto out;
	end = bench_now_ms() + 15000;
	while (!fleet_last_up(0) && bench_now_ms() < end)
		bench_sleep_ms(5);
	if (!fleet_last_up(0)) {
		fprintf(stderr, "detect: %s did not connect\n", k->name);
		goto out;
	}
	/* The heartbeat clock starts at the last inbound traffic, here the
	 * handshake: phase 0 is the worst case (a full interval, then the
	 * pings' timeouts). */
	bench_sleep_ms(phase_ms);
	t0 = bench_now_ms();
	th_proxy_set_mode(proxy, TH_PROXY_BLACKHOLE, 0);
	end = t0 + (uint64_t)cap_s * 1000;
	while (fleet_last_down(0) < t0 && bench_now_ms() < end)
		bench_sleep_ms(2);
	res = fleet_last_down(0) >= t0 ? fleet_last_down(0) - t0 : UINT64_MAX;
	/* Cut before stopping, so no client waits on a dead link to close. */
	th_proxy_cut(proxy, 1);
	th_proxy_set_mode(proxy, TH_PROXY_REFUSE, 0);
out:
	k->stop(st);
	fleet_record_free();
	th_proxy_free(proxy);
	th_broker_free(broker);
	th_ws_server_free(ws);
	return res;
}

static int run(const struct dopts *o)
{
	char list[256], *save = NULL;
	double hb_bound = (double)(o->interval_ms +
				   o->timeout_ms * o->misses) / 1000.0;
	int failed = 0, nk = 0;
	struct {
		char name[16];
		uint64_t worst;
	} worst[16];

	printf("heartbeat: interval %.1f s, timeout %.1f s, misses %u "
	       "(bound %.2f s, target %.2f s); MQTT keepalive %d s "
	       "(Paho: about %.1f s)\n",
	       (double)o->interval_ms / 1000.0, (double)o->timeout_ms / 1000.0,
	       o->misses, hb_bound, hb_bound * 1.1, o->keepalive_s,
	       1.5 * o->keepalive_s);
	printf("%-12s %6s | %8s %8s %8s | %s\n", "client", "trials", "min s",
	       "median s", "max s", "expected");
	snprintf(list, sizeof(list), "%s", o->clients);
	for (char *tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int deflt = strcmp(tok, "lws-default") == 0;
		const struct fleet_kind *k = fleet_find(deflt ? "lws" : tok);
		uint64_t d[64], period;
		int n = 0, missed = 0;
		char expect[64];

		if (!k) {
			fprintf(stderr, "detect: unknown client '%s'\n", tok);
			return 1;
		}
		memset(&fleet_tuning, 0, sizeof(fleet_tuning));
		if (strcmp(k->transport, "mqtt") == 0) {
			fleet_tuning.keepalive_s = o->keepalive_s;
			period = (uint64_t)o->keepalive_s * 1000;
			snprintf(expect, sizeof(expect), "~%.1f s (1.5 x ka)",
				 1.5 * o->keepalive_s);
		} else if (deflt) {
			fleet_tuning.lws_default_policy = 1;
			period = 1000;
			snprintf(expect, sizeof(expect), "lws defaults");
		} else {
			fleet_tuning.hb_interval_ms = o->interval_ms;
			fleet_tuning.hb_timeout_ms = o->timeout_ms;
			fleet_tuning.hb_misses = o->misses;
			fleet_tuning.lws_ping_s =
			    (int)((o->interval_ms + 999) / 1000);
			fleet_tuning.lws_hangup_s =
			    (int)((o->interval_ms + o->timeout_ms * o->misses +
				   999) / 1000);
			period = o->interval_ms;
			snprintf(expect, sizeof(expect), "<= %.2f s",
				 strcmp(k->name, "lws") == 0
				     ? (double)fleet_tuning.lws_hangup_s
				     : hb_bound * 1.1);
		}
		for (int i = 0; i < o->trials && i < 64; i++) {
			/* Spread the blackhole over the heartbeat period. */
			uint64_t r = trial(o, k, period * (uint64_t)i /
						   (uint64_t)o->trials,
					   o->cap_s);
			if (r == 0) {
				failed++;
				continue;
			}
			if (r == UINT64_MAX)
				missed++;
			d[n++] = r;
		}
		bench_sort_u64(d, (size_t)n);
		if (n > 0 && nk < 16) {
			snprintf(worst[nk].name, sizeof(worst[nk].name), "%s",
				 tok);
			worst[nk++].worst = d[n - 1];
		}
		if (n == 0) {
			printf("%-12s %6d | failed\n", tok, 0);
			continue;
		}
		if (missed == n) {
			printf("%-12s %6d | not detected within %d s | %s\n",
			       tok, n, o->cap_s, expect);
		} else {
			printf("%-12s %6d | %8.2f %8.2f %8.2f | %s%s\n", tok,
			       n, (double)d[0] / 1000.0,
			       d[n / 2] == UINT64_MAX
				   ? -1.0 : (double)d[n / 2] / 1000.0,
			       d[n - 1] == UINT64_MAX
				   ? -1.0 : (double)d[n - 1] / 1000.0,
			       expect, missed ? " (some not detected: -1)" : "");
		}
		fflush(stdout);
	}
	/* tether against each peer of the same transport: worst cases. */
	for (int i = 0; i < nk; i++) {
		int ws = strcmp(worst[i].name, "tether-ws") == 0;
		if (!ws && strcmp(worst[i].name, "tether") != 0)
			continue;
		for (int j = 0; j < nk; j++) {
			int peer_ws = strncmp(worst[j].name, "lws", 3) == 0;
			if (j == i || strncmp(worst[j].name, "tether", 6) == 0 ||
			    peer_ws != ws || worst[i].worst == UINT64_MAX ||
			    worst[j].worst == UINT64_MAX)
				continue;
			printf("  ratio %s/%s (worst case): %.3g\n",
			       worst[i].name, worst[j].name,
			       (double)worst[i].worst / (double)worst[j].worst);
		}
	}
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"clients", required_argument, NULL, 'c'},
	    {"interval", required_argument, NULL, 'i'},
	    {"timeout", required_argument, NULL, 't'},
	    {"misses", required_argument, NULL, 'm'},
	    {"keepalive", required_argument, NULL, 'k'},
	    {"trials", required_argument, NULL, 'n'},
	    {"cap", required_argument, NULL, 'C'},
	    {"quick", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct dopts o = {.clients = "tether-ws,lws,tether,paho,mosq",
			  .interval_ms = 2000, .timeout_ms = 1000, .misses = 2,
			  .keepalive_s = 5, .trials = 5, .cap_s = 60};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o.clients = optarg; break;
		case 'i': o.interval_ms = strtoull(optarg, NULL, 10); break;
		case 't': o.timeout_ms = strtoull(optarg, NULL, 10); break;
		case 'm': o.misses = (uint32_t)atoi(optarg); break;
		case 'k': o.keepalive_s = atoi(optarg); break;
		case 'n': o.trials = atoi(optarg); break;
		case 'C': o.cap_s = atoi(optarg); break;
		case 'q':
			o.interval_ms = 1000; o.timeout_ms = 500; o.misses = 1;
			o.keepalive_s = 1; o.trials = 1; o.cap_s = 10;
			/* libmosquitto refuses a keepalive under 5 s. */
			o.clients = "tether-ws,lws,tether,paho";
			break;
		case 'h':
			puts("usage: detect [--clients tether-ws,lws,lws-default,"
			     "tether,paho,mosq] [--interval MS] [--timeout MS] "
			     "[--misses N] [--keepalive S] [--trials N] "
			     "[--cap S] [--quick]");
			return 0;
		default:
			return 2;
		}
	}
	if (o.interval_ms == 0 || o.misses == 0 || o.keepalive_s <= 0 ||
	    o.trials <= 0 || o.trials > 64 || o.cap_s <= 0) {
		fprintf(stderr, "detect: bad option\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	return run(&o);
}
