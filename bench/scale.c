/* bench/scale: many idle connections in one process, heartbeats on.
 * Each kind runs as a child process (child.h) with N connections straight
 * to the server (no proxy); once all are up and settled we read its RSS
 * and its CPU time over an idle period.
 *
 *   WebSocket  tether-ws (one manager, heartbeat on) vs a plain lws client
 *              with the same ping interval (lws_retry_bo_t), on lws's own
 *              poll() loop (lws) and on libuv (lws-uv, the event library
 *              tether runs lws on), and vs the floor (ws-floor: raw
 *              sockets on one epoll loop pinging on tether's schedule,
 *              one send() per ping and one recv() per pong, nothing else:
 *              what the same ping rate costs at the least)
 *   MQTT       tether (one manager) vs raw Paho, same keepalive
 *
 * tether's own memory per connection is (RSS tether - RSS raw) / N: what
 * tether adds beyond the transport library it drives. The WebSocket
 * clients connect to two harness servers, each in a process of its own
 * (half the connections each: the server needs two fds per connection).
 *
 *   scale [--ws N] [--mqtt N] [--idle S] [--hb-interval MS]
 *         [--hb-timeout MS] [--hb-misses N] [--keepalive S] [--quick]
 *         [--clients LIST]   (default: every kind; for example
 *                             tether-ws,ws-floor skips the raw lws rows)
 */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "broker.h"
#include "child.h"
#include "fleet.h"
#include "ws_server.h"

struct sopts {
	int ws_n, mqtt_n, idle_s, settle_s, connect_s, keepalive_s;
	uint64_t hbi, hbt;
	uint32_t hbm;
	const char *clients; /* comma-separated kinds to run; NULL: all */
};

/* Whether kind is in o->clients (every kind when there is no list). */
static int wanted(const struct sopts *o, const char *kind)
{
	size_t n = strlen(kind);

	for (const char *p = o->clients; p; p = strchr(p, ',')) {
		p += *p == ',';
		if (strncmp(p, kind, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
	}
	return o->clients == NULL;
}

struct sres {
	int ok;
	uint64_t connect_ms;
	long rss_kib;
	double idle_cpu_s;
};

static int measure(const struct sopts *o, const char *kind, int n,
		   uint16_t port, const char *tuning, struct sres *r)
{
	struct child ch = {.pid = -1};
	char line[256];
	int up = 0;

	memset(r, 0, sizeof(*r));
	if (!wanted(o, kind))
		return 0;
	if (child_spawn(&ch, kind, n, port, o->connect_s, tuning) != 0)
		return -1;
	if (child_line(&ch, line, sizeof(line),
		       (uint64_t)o->connect_s * 1000 + 30000) != 0 ||
	    sscanf(line, "UP %d %" SCNu64, &up, &r->connect_ms) != 2 ||
	    up < n) {
		fprintf(stderr, "scale: %s: %d of %d connected\n", kind, up, n);
		goto out;
	}
	bench_sleep_ms((uint64_t)o->settle_s * 1000);
	fprintf(ch.in, "IDLE %d\n", o->idle_s);
	if (child_line(&ch, line, sizeof(line),
		       (uint64_t)o->idle_s * 1000 + 30000) != 0 ||
	    sscanf(line, "IDLE %ld %lf", &r->rss_kib, &r->idle_cpu_s) != 2) {
		fprintf(stderr, "scale: %s: no idle figures\n", kind);
		goto out;
	}
	r->ok = 1;
out:
	child_reap(&ch, 120000);
	return r->ok ? 0 : -1;
}

static void row(const struct sopts *o, const char *kind, int n,
		const struct sres *r)
{
	if (!wanted(o, kind))
		return;
	if (!r->ok) {
		printf("%-10s %6d | run failed\n", kind, n);
		return;
	}
	printf("%-10s %6d | %8.1f | %8.1f %8.2f | %8.3f %6.2f %%\n", kind, n,
	       (double)r->connect_ms / 1000.0, (double)r->rss_kib / 1024.0,
	       (double)r->rss_kib / n, r->idle_cpu_s,
	       100.0 * r->idle_cpu_s / o->idle_s);
	fflush(stdout);
}

static void compare(const char *t, const char *raw, int n,
		    const struct sres *a, const struct sres *b)
{
	if (!a->ok || !b->ok)
		return;
	printf("  %s own memory: %+.0f B per connection beyond %s; idle CPU "
	       "%s/%s %.2f\n",
	       t, (double)(a->rss_kib - b->rss_kib) * 1024.0 / n, raw, t, raw,
	       b->idle_cpu_s > 0 ? a->idle_cpu_s / b->idle_cpu_s : -1.0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"ws", required_argument, NULL, 'w'},
	    {"mqtt", required_argument, NULL, 'm'},
	    {"idle", required_argument, NULL, 'i'},
	    {"hb-interval", required_argument, NULL, 'I'},
	    {"hb-timeout", required_argument, NULL, 'T'},
	    {"hb-misses", required_argument, NULL, 'M'},
	    {"keepalive", required_argument, NULL, 'k'},
	    {"quick", no_argument, NULL, 'q'},
	    {"clients", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct sopts o = {.ws_n = 10000, .mqtt_n = 2000, .idle_s = 30,
			  .settle_s = 5, .connect_s = 240, .keepalive_s = 30,
			  .hbi = 10000, .hbt = 3000, .hbm = 2};
	struct th_broker *b = NULL;
	struct sres rt, rr, ru, rf;
	char tun[256];
	int ch, failed = 0;

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main(argc, argv);
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'w': o.ws_n = atoi(optarg); break;
		case 'm': o.mqtt_n = atoi(optarg); break;
		case 'i': o.idle_s = atoi(optarg); break;
		case 'I': o.hbi = strtoull(optarg, NULL, 10); break;
		case 'T': o.hbt = strtoull(optarg, NULL, 10); break;
		case 'M': o.hbm = (uint32_t)atoi(optarg); break;
		case 'k': o.keepalive_s = atoi(optarg); break;
		case 'c': o.clients = optarg; break;
		case 'q':
			o.ws_n = 200; o.mqtt_n = 100; o.idle_s = 3;
			o.settle_s = 1; o.connect_s = 30;
			o.hbi = 1000; o.hbt = 500; o.hbm = 2;
			o.keepalive_s = 5;
			break;
		case 'h':
			puts("usage: scale [--ws N] [--mqtt N] [--idle S] "
			     "[--hb-interval MS] [--hb-timeout MS] "
			     "[--hb-misses N] [--keepalive S] [--quick]\n"
			     "             [--clients LIST]\n"
			     "  --clients  the kinds to run (default all: "
			     "tether-ws,lws,lws-uv,\n"
			     "             ws-floor,tether,paho)\n"
			     "  WebSocket rows: tether-ws, lws (poll), lws-uv, "
			     "ws-floor (raw\n"
			     "  sockets, one send() per ping and one recv() per "
			     "pong: the floor);\n"
			     "  --hb-* set tether-ws's and ws-floor's heartbeat, "
			     "lws pings after\n"
			     "  the interval in whole seconds");
			return 0;
		default:
			return 2;
		}
	}
	if (o.ws_n < 0 || o.mqtt_n < 0 || o.idle_s <= 0 || o.hbi < 1000 ||
	    o.keepalive_s < 5) {
		fprintf(stderr, "scale: bad option (heartbeat >= 1000 ms, "
				"keepalive >= 5 s)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	printf("idle %d s; WebSocket heartbeat %" PRIu64 "/%" PRIu64
	       " ms x %u (lws: ping after %" PRIu64 " s); MQTT keepalive %d s\n",
	       o.idle_s, o.hbi, o.hbt, o.hbm, (o.hbi + 999) / 1000,
	       o.keepalive_s);
	printf("%-10s %6s | %8s | %8s %8s | %8s %8s\n", "client", "N",
	       "conn s", "RSS MiB", "KiB/conn", "idle cpu", "of 1 core");
	if (o.ws_n > 0) {
		uint16_t p1 = 0, p2 = 0;
		int c1 = -1, c2 = -1;
		pid_t s1 = child_ws_server(&p1, &c1),
		      s2 = child_ws_server(&p2, &c2);

		if (s1 < 0 || s2 < 0) {
			fprintf(stderr, "scale: ws servers did not start\n");
			child_ws_server_stop(s1, c1);
			child_ws_server_stop(s2, c2);
			return 1;
		}
		char tun_hb[256];

		snprintf(tun_hb, sizeof(tun_hb),
			 "hbi=%" PRIu64 ",hbt=%" PRIu64 ",hbm=%u,port2=%u", o.hbi,
			 o.hbt, o.hbm, (unsigned)p2);
		failed +=
		    measure(&o, "tether-ws", o.ws_n, p1, tun_hb, &rt) != 0;
		row(&o, "tether-ws", o.ws_n, &rt);
		/* lws pings after secs_since_valid_ping of silence and hangs
		 * up after secs_since_valid_hangup, whole seconds. */
		snprintf(tun, sizeof(tun),
			 "lping=%" PRIu64 ",lhang=%" PRIu64 ",port2=%u",
			 (o.hbi + 999) / 1000,
			 (o.hbi + o.hbt * o.hbm + 999) / 1000, (unsigned)p2);
		failed += measure(&o, "lws", o.ws_n, p1, tun, &rr) != 0;
		row(&o, "lws", o.ws_n, &rr);
		failed += measure(&o, "lws-uv", o.ws_n, p1, tun, &ru) != 0;
		row(&o, "lws-uv", o.ws_n, &ru);
		/* tether's heartbeat settings: the floor pings on tether's
		 * schedule */
		failed +=
		    measure(&o, "ws-floor", o.ws_n, p1, tun_hb, &rf) != 0;
		row(&o, "ws-floor", o.ws_n, &rf);
		compare("tether-ws", "lws", o.ws_n, &rt, &rr);
		compare("tether-ws", "lws-uv", o.ws_n, &rt, &ru);
		compare("tether-ws", "ws-floor", o.ws_n, &rt, &rf);
		child_ws_server_stop(s1, c1);
		child_ws_server_stop(s2, c2);
	}
	if (o.mqtt_n > 0) {
		if (th_broker_start(NULL, &b) != 0) {
			fprintf(stderr, "scale: mosquitto did not start\n");
			return 1;
		}
		snprintf(tun, sizeof(tun), "ka=%d", o.keepalive_s);
		failed += measure(&o, "tether", o.mqtt_n, th_broker_port(b), tun,
				  &rt) != 0;
		row(&o, "tether", o.mqtt_n, &rt);
		failed += measure(&o, "paho", o.mqtt_n, th_broker_port(b), tun,
				  &rr) != 0;
		row(&o, "paho", o.mqtt_n, &rr);
		compare("tether", "paho", o.mqtt_n, &rt, &rr);
		th_broker_free(b);
	}
	return failed ? 1 : 0;
}
