/* The MQTT peers, reconnecting on their own as their users configure
 * them: Eclipse Paho MQTTAsync with automaticReconnect 1..60 s, and
 * libmosquitto with reconnect_delay_set(1, 60, exponential) driven by
 * mosquitto_loop_start (its reconnect logic lives in that loop). MQTT
 * 3.1.1, clean session, keepalive 60 s. */
#include "config.h"

#include <MQTTAsync.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "fleet.h"

/* ---- Paho ------------------------------------------------------------ */

struct paho_state {
	int n;
	MQTTAsync *h;
};

static void paho_connected(void *ctx, char *cause)
{
	(void)cause;
	fleet_up((int)(intptr_t)ctx);
}

static void paho_lost(void *ctx, char *cause)
{
	(void)cause;
	fleet_down((int)(intptr_t)ctx);
}

static int paho_arrived(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
	(void)ctx;
	(void)len;
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void paho_ok(void *ctx, MQTTAsync_successData *d)
{
	(void)d;
	fleet_up((int)(intptr_t)ctx);
}

static void paho_fail(void *ctx, MQTTAsync_failureData *d)
{
	(void)ctx;
	(void)d;
}

static int paho_start(int n, uint16_t port, void **out)
{
	struct paho_state *s = calloc(1, sizeof(*s));
	char uri[64], id[32];

	*out = s;
	if (!s || !(s->h = calloc((size_t)n, sizeof(*s->h))))
		return -1;
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", (unsigned)port);
	for (int i = 0; i < n; i++) {
		MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
		MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
		void *ctx = (void *)(intptr_t)i;

		co.MQTTVersion = MQTTVERSION_3_1_1;
		snprintf(id, sizeof(id), "paho-%d", i);
		if (MQTTAsync_createWithOptions(&s->h[i], uri, id,
						MQTTCLIENT_PERSISTENCE_NONE,
						NULL, &co) != MQTTASYNC_SUCCESS)
			return -1;
		s->n = i + 1;
		MQTTAsync_setCallbacks(s->h[i], ctx, paho_lost, paho_arrived,
				       NULL);
		MQTTAsync_setConnected(s->h[i], ctx, paho_connected);
		o.keepAliveInterval =
		    fleet_tuning.keepalive_s ? fleet_tuning.keepalive_s : 60;
		o.cleansession = 1;
		o.MQTTVersion = MQTTVERSION_3_1_1;
		o.automaticReconnect = 1;
		o.minRetryInterval = 1;
		o.maxRetryInterval = 60;
		o.connectTimeout = 10;
		o.onSuccess = paho_ok;
		o.onFailure = paho_fail;
		o.context = ctx;
		if (MQTTAsync_connect(s->h[i], &o) != MQTTASYNC_SUCCESS)
			return -1;
	}
	return 0;
}

static void paho_stop(void *state)
{
	struct paho_state *s = state;

	if (!s)
		return;
	for (int i = 0; i < s->n; i++) {
		MQTTAsync_disconnectOptions d =
		    MQTTAsync_disconnectOptions_initializer;
		d.timeout = 0;
		MQTTAsync_disconnect(s->h[i], &d);
	}
	for (int i = 0; i < s->n; i++)
		MQTTAsync_destroy(&s->h[i]);
	free(s->h);
	free(s);
}

const struct fleet_kind fleet_paho = {
    .name = "paho",
    .transport = "mqtt",
    .what = "Paho MQTTAsync 1.3.12, automaticReconnect 1..60 s",
    .start = paho_start,
    .stop = paho_stop,
};

/* ---- libmosquitto ---------------------------------------------------- */

/* libmosquitto's loop uses select(): a client whose socket (or the
 * socketpair each client holds) is fd 1024 or more never connects. So the
 * clients live in worker processes of at most MOSQ_PER_WORKER clients
 * each (3 fds per client), reporting through the shared fleet record. */
enum { MOSQ_PER_WORKER = 250 };

struct mosq_worker {
	pid_t pid;
	int stop_fd; /* closing it tells the worker to stop */
};

struct mosq_state {
	int nw;
	struct mosq_worker *w;
};

static void mosq_on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	if (rc == 0)
		fleet_up((int)(intptr_t)ud - 1);
}

static void mosq_on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)rc;
	fleet_down((int)(intptr_t)ud - 1);
}

/* The worker: clients first..first+n-1, until stop_fd reads EOF. */
static int mosq_worker(int first, int n, uint16_t port, int stop_fd)
{
	struct mosquitto **m = calloc((size_t)n, sizeof(*m));
	pthread_attr_t a;
	char id[32], c;
	int made = 0, rc = 0;

	if (!m)
		return 1;
	/* One thread per client (mosquitto_loop_start): small stacks. */
	if (pthread_attr_init(&a) == 0) {
		pthread_attr_setstacksize(&a, 256 * 1024);
		pthread_setattr_default_np(&a);
		pthread_attr_destroy(&a);
	}
	mosquitto_lib_init();
	for (int i = 0; i < n && rc == 0; i++) {
		int idx = first + i;
		snprintf(id, sizeof(id), "mosq-%d", idx);
		/* idx + 1: a NULL user pointer would mean the struct itself. */
		m[i] = mosquitto_new(id, true, (void *)(intptr_t)(idx + 1));
		if (!m[i]) {
			rc = 1;
			break;
		}
		made++;
		mosquitto_int_option(m[i], MOSQ_OPT_PROTOCOL_VERSION,
				     MQTT_PROTOCOL_V311);
		mosquitto_connect_callback_set(m[i], mosq_on_connect);
		mosquitto_disconnect_callback_set(m[i], mosq_on_disconnect);
		mosquitto_reconnect_delay_set(m[i], 1, 60, true);
		/* A refused first connect is retried by the loop too; bad
		 * arguments are not (libmosquitto 2.0 wants keepalive >= 5). */
		if (mosquitto_connect_async(m[i], "127.0.0.1", port,
					    fleet_tuning.keepalive_s
						? fleet_tuning.keepalive_s
						: 60) == MOSQ_ERR_INVAL) {
			fprintf(stderr, "mosq: connect_async: invalid "
					"arguments (keepalive < 5?)\n");
			rc = 1;
		} else if (mosquitto_loop_start(m[i]) != MOSQ_ERR_SUCCESS) {
			rc = 1;
		}
	}
	if (rc == 0)
		while (read(stop_fd, &c, 1) > 0)
			;
	for (int i = 0; i < made; i++)
		mosquitto_disconnect(m[i]);
	for (int i = 0; i < made; i++) {
		mosquitto_loop_stop(m[i], true);
		mosquitto_destroy(m[i]);
	}
	mosquitto_lib_cleanup();
	free(m);
	return rc;
}

static void mosq_stop(void *state)
{
	struct mosq_state *s = state;

	if (!s)
		return;
	for (int i = 0; i < s->nw; i++)
		close(s->w[i].stop_fd);
	for (int i = 0; i < s->nw; i++) {
		uint64_t end = bench_now_ms() + 20000;
		while (waitpid(s->w[i].pid, NULL, WNOHANG) == 0) {
			if (bench_now_ms() >= end) {
				kill(s->w[i].pid, SIGKILL);
				waitpid(s->w[i].pid, NULL, 0);
				break;
			}
			bench_sleep_ms(10);
		}
	}
	free(s->w);
	free(s);
}

static int mosq_start(int n, uint16_t port, void **out)
{
	struct mosq_state *s = calloc(1, sizeof(*s));
	int nw = (n + MOSQ_PER_WORKER - 1) / MOSQ_PER_WORKER;

	*out = s;
	if (!s || !(s->w = calloc((size_t)nw, sizeof(*s->w))))
		return -1;
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < nw; i++) {
		int p[2], first = i * MOSQ_PER_WORKER;
		int cnt = n - first < MOSQ_PER_WORKER ? n - first
						      : MOSQ_PER_WORKER;
		pid_t pid;

		if (pipe2(p, O_CLOEXEC) != 0)
			return -1;
		pid = fork();
		if (pid == 0) {
			/* Only the read end of our own pipe stays open. */
			close(p[1]);
			for (int j = 0; j < s->nw; j++)
				close(s->w[j].stop_fd);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(mosq_worker(first, cnt, port, p[0]));
		}
		close(p[0]);
		if (pid < 0) {
			close(p[1]);
			return -1;
		}
		s->w[s->nw++] = (struct mosq_worker){.pid = pid,
						     .stop_fd = p[1]};
	}
	return 0;
}

/* utime + stime of a process, from /proc/<pid>/stat. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	r = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[r] = 0;
	/* After "(comm)": state is field 3, utime 14, stime 15. */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		   &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = 0;
	size_t kl = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0) {
			v = strtol(line + kl, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static double mosq_cpu(void *state)
{
	struct mosq_state *s = state;
	double t = 0;

	for (int i = 0; s && i < s->nw; i++)
		t += proc_cpu_s(s->w[i].pid);
	return t;
}

static long mosq_rss(void *state, int peak)
{
	struct mosq_state *s = state;
	long t = 0;

	for (int i = 0; s && i < s->nw; i++)
		t += proc_kib(s->w[i].pid, peak ? "VmHWM:" : "VmRSS:");
	return t;
}

const struct fleet_kind fleet_mosq = {
    .name = "mosq",
    .transport = "mqtt",
    .what = "libmosquitto 2.0.11, reconnect_delay_set(1, 60, true), "
	    "250 clients per worker process (its loop uses select())",
    .start = mosq_start,
    .stop = mosq_stop,
    .worker_cpu_s = mosq_cpu,
    .worker_rss_kib = mosq_rss,
};
