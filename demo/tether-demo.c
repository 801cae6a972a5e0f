/* tether-demo: the main job on a built-in default. Real peers on loopback
 * (a WebSocket echo server and, when installed, mosquitto), each behind a
 * fault proxy; an embedded configuration with one MQTT and one WebSocket
 * connection; a scripted bad day with a live timeline; a report.
 *
 * A program of its own, built in the source tree and never installed: the
 * peers are the test harness's (tests/harness), and harness code stays out
 * of installed binaries. ./scripts/demo.sh builds and runs it. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tether/config.h>
#include <tether/tether.h>

#include "broker.h"
#include "net.h"
#include "proxy.h"
#include "ws_server.h"

/* Exit statuses, the same as tether(1)'s. */
#define DEMO_EXIT_OK 0
#define DEMO_EXIT_FAIL 1  /* the day did not end as expected */
#define DEMO_EXIT_USAGE 2 /* bad command line */

#define DEMO_SEND_EVERY_MS 200
#define DEMO_MAX_OUTAGES 16
#define DEMO_DOWN_MS 3000      /* servers dead before they come back */
/* Paho 1.3.12 notices a dead link one to two keepalive periods after its
 * unanswered PINGREQ, about 5 s with keepalive 2s: the blackhole lasts
 * long enough for it to be seen, not only for the WebSocket heartbeat */
#define DEMO_BLACKHOLE_MS 7000
#define DEMO_SETTLE_MS 1500    /* online and sending between faults */
#define DEMO_RECOVER_MS 7000   /* longest wait for a reconnect */
#define DEMO_WATCH_MS 4000     /* watching a closed connection stay closed */
#define DEMO_DRAIN_MS 1000     /* outcomes of the last sends */
#define DEMO_STOP_MS 3000
#define DEMO_BAD_HEADER "Authorization: Bearer demo-token"
#define DEMO_TOPIC "tether-demo/mqtt/loopback"

enum { D_MQTT, D_WS, D_COUNT };

struct outage {
	uint64_t down_ms; /* since the start of the demo */
	uint64_t up_ms;   /* 0 while still down */
	int64_t detect_ms; /* fault -> DOWN; -1 when no fault was pending */
	const char *fault;
	char why[96];
};

struct dconn {
	const char *name;
	tether_conn *c;
	int active;
	uint16_t proxy_port, server_port;
	/* updated on the loop thread, read by the main thread, under lock */
	unsigned attempts;
	int online;
	int fatal;
	enum tether_state final; /* when the script ended, before the stop */
	uint64_t fault_ms; /* a fault injected, not yet seen as DOWN */
	const char *fault;
	struct outage out[DEMO_MAX_OUTAGES];
	size_t nout;
	unsigned long accepted, offline, refused, delivered, failed, received;
	unsigned long while_down; /* accepted while not online: queued */
};

struct demo {
	pthread_mutex_t lock; /* the counters above and stdout */
	uint64_t t0;
	int sending;
	uint64_t next_send;
	unsigned long seq;
	struct dconn conn[D_COUNT];
	tether_mgr *m;
	struct th_ws_server *ws;
	struct th_ws_server *ws_bad; /* the one requiring a header */
	struct th_broker *broker;
	struct th_proxy *ws_px, *mq_px;
	unsigned attempts_before_bad; /* ws attempts when (d) began */
	sigset_t sigs;
};

static volatile sig_atomic_t interrupted;

/* Each line of a multi-line message to stderr as "tether-demo: line". */
static void print_errors(const char *lines)
{
	const char *p = lines;

	while (*p) {
		size_t n = strcspn(p, "\n");
		fprintf(stderr, "tether-demo: %.*s\n", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static uint64_t since(const struct demo *d)
{
	return th_now_ms() - d->t0;
}

/* One timeline line; the caller holds d->lock. */
static void line(const struct demo *d, const char *who, const char *what,
		 const char *fmt, ...)
{
	char t[32];
	va_list ap;

	snprintf(t, sizeof(t), "+%.1fs", (double)since(d) / 1000);
	printf("%-7s %-7s %-5s ", t, who, what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* A scripted fault or a remark, from the main thread. */
static void note(struct demo *d, const char *fmt, ...)
{
	char t[32];
	va_list ap;

	pthread_mutex_lock(&d->lock);
	snprintf(t, sizeof(t), "+%.1fs", (double)since(d) / 1000);
	printf("%-7s ** ", t);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&d->lock);
}

/* Remember that a fault hits the connection now, to time its detection. */
static void mark_fault(struct demo *d, int which, const char *fault)
{
	struct dconn *dc = &d->conn[which];

	pthread_mutex_lock(&d->lock);
	if (dc->active) {
		dc->fault_ms = since(d);
		dc->fault = fault;
	}
	pthread_mutex_unlock(&d->lock);
}

static void link_down(struct demo *d, struct dconn *dc, const char *why)
{
	struct outage *o;

	dc->online = 0;
	if (dc->nout == DEMO_MAX_OUTAGES)
		return;
	o = &dc->out[dc->nout++];
	memset(o, 0, sizeof(*o));
	o->down_ms = since(d);
	o->detect_ms = dc->fault ? (int64_t)(o->down_ms - dc->fault_ms) : -1;
	o->fault = dc->fault ? dc->fault : "(none)";
	snprintf(o->why, sizeof(o->why), "%s", why);
	dc->fault = NULL;
}

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	struct demo *d = ud;
	struct dconn *dc = tether_conn_get_userdata(c);
	char why[256] = "";

	if (!dc)
		return;
	if (ev->reason)
		tether_reason_format(ev->reason, why, sizeof(why));
	pthread_mutex_lock(&d->lock);
	switch (ev->type) {
	case TETHER_EV_ATTEMPT:
		dc->attempts++;
		line(d, dc->name, "try", "attempt %u", dc->attempts);
		break;
	case TETHER_EV_UP:
		dc->online = 1;
		if (dc->nout && !dc->out[dc->nout - 1].up_ms) {
			struct outage *o = &dc->out[dc->nout - 1];

			o->up_ms = since(d);
			line(d, dc->name, "up", "online again after %.1fs down",
			     (double)(o->up_ms - o->down_ms) / 1000);
		} else {
			line(d, dc->name, "up", "online");
		}
		break;
	case TETHER_EV_DOWN:
		/* only a lost link opens an outage; a failed attempt is
		   part of the one already open */
		if (dc->online)
			link_down(d, dc, why);
		line(d, dc->name, "down", "%s", why);
		break;
	case TETHER_EV_RETRY:
		line(d, dc->name, "retry", "in %llu ms",
		     (unsigned long long)ev->delay_ms);
		break;
	case TETHER_EV_SUSPEND:
		line(d, dc->name, "wait", "suspended for %llu ms%s%s",
		     (unsigned long long)ev->delay_ms, ev->detail ? ": " : "",
		     ev->detail ? ev->detail : "");
		break;
	case TETHER_EV_FATAL:
		dc->fatal = 1;
		line(d, dc->name, "fatal", "%s: never retried", why);
		break;
	case TETHER_EV_GIVE_UP:
		line(d, dc->name, "gave", "up: %s",
		     ev->detail ? ev->detail : why);
		break;
	case TETHER_EV_CLOSED:
		dc->online = 0;
		line(d, dc->name, "close", "closed");
		break;
	case TETHER_EV_SENT:
		if (ev->error == 0)
			dc->delivered++;
		else
			dc->failed++;
		break;
	case TETHER_EV_MESSAGE:
		dc->received++;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&d->lock);
}

/* ------------------------------------------------------------ sending */

static void send_one(struct demo *d, struct dconn *dc)
{
	char payload[64];
	struct tether_message msg = {.size = sizeof(msg)};
	int rc;

	snprintf(payload, sizeof(payload), "demo %s #%lu", dc->name, d->seq);
	msg.payload = payload;
	msg.len = strlen(payload);
	if (dc == &d->conn[D_MQTT]) {
		msg.topic = DEMO_TOPIC;
		msg.qos = 1;
	}
	int down = tether_conn_state(dc->c) != TETHER_STATE_ONLINE;

	rc = tether_conn_send(dc->c, &msg, NULL);
	pthread_mutex_lock(&d->lock);
	if (rc == 0)
		dc->while_down += down;
	if (rc == 0)
		dc->accepted++;
	else if (rc == TETHER_ESTATE || rc == TETHER_ECLOSED)
		dc->offline++;
	else
		dc->refused++;
	pthread_mutex_unlock(&d->lock);
}

static void send_due(struct demo *d)
{
	uint64_t now = th_now_ms();

	if (!d->sending || now < d->next_send)
		return;
	d->next_send = now + DEMO_SEND_EVERY_MS;
	d->seq++;
	for (int i = 0; i < D_COUNT; i++)
		if (d->conn[i].active)
			send_one(d, &d->conn[i]);
}

/* Sleep for ms (SIGINT and SIGTERM end it), sending on schedule.
 * Returns -1 when interrupted. */
static int demo_sleep(struct demo *d, uint64_t ms)
{
	uint64_t until = th_now_ms() + ms;

	for (;;) {
		uint64_t now = th_now_ms(), step;
		struct timespec ts;

		send_due(d);
		if (interrupted)
			return -1;
		if (now >= until)
			return 0;
		step = until - now;
		if (d->sending && d->next_send > now && d->next_send - now < step)
			step = d->next_send - now;
		if (step > 100)
			step = 100;
		ts.tv_sec = (time_t)(step / 1000);
		ts.tv_nsec = (long)(step % 1000) * 1000000L;
		if (sigtimedwait(&d->sigs, NULL, &ts) > 0)
			interrupted = 1;
	}
}

static int is_online(struct demo *d, int which)
{
	const struct dconn *dc = &d->conn[which];
	int on;

	pthread_mutex_lock(&d->lock);
	on = !dc->active || dc->online;
	pthread_mutex_unlock(&d->lock);
	return on;
}

/* Wait (at most max_ms) until every active connection is online. */
static int wait_online(struct demo *d, uint64_t max_ms)
{
	uint64_t until = th_now_ms() + max_ms;

	while (!(is_online(d, D_MQTT) && is_online(d, D_WS))) {
		if (th_now_ms() >= until) {
			note(d, "still not online after %.1fs: going on",
			     (double)max_ms / 1000);
			return 0;
		}
		if (demo_sleep(d, 50) != 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- peers */

/* Fork mosquitto with SIGINT/SIGTERM unblocked, so it inherits a normal
 * signal mask (a signal arriving meanwhile only sets the flag). */
static int broker_call(struct demo *d, int restart)
{
	int rc;

	pthread_sigmask(SIG_UNBLOCK, &d->sigs, NULL);
	rc = restart ? th_broker_restart(d->broker)
		     : th_broker_start(NULL, &d->broker);
	pthread_sigmask(SIG_BLOCK, &d->sigs, NULL);
	return rc;
}

static int peers_start(struct demo *d)
{
	int rc;

	if (th_ws_server_start(NULL, &d->ws) != 0) {
		fprintf(stderr, "tether-demo: cannot start the WebSocket "
				"test server\n");
		return -1;
	}
	rc = th_proxy_start(th_ws_server_port(d->ws), &d->ws_px);
	if (rc != 0) {
		fprintf(stderr, "tether-demo: cannot start a proxy: %s\n",
			strerror(-rc));
		return -1;
	}
	d->conn[D_WS].active = 1;
	d->conn[D_WS].server_port = th_ws_server_port(d->ws);
	d->conn[D_WS].proxy_port = th_proxy_port(d->ws_px);
	rc = broker_call(d, 0);
	if (rc == -ENOENT) {
		printf("mosquitto is not installed: running the WebSocket "
		       "half only (apt-get install mosquitto for both)\n");
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "tether-demo: cannot start mosquitto: %s\n",
			strerror(-rc));
		return -1;
	}
	rc = th_proxy_start(th_broker_port(d->broker), &d->mq_px);
	if (rc != 0) {
		fprintf(stderr, "tether-demo: cannot start a proxy: %s\n",
			strerror(-rc));
		return -1;
	}
	d->conn[D_MQTT].active = 1;
	d->conn[D_MQTT].server_port = th_broker_port(d->broker);
	d->conn[D_MQTT].proxy_port = th_proxy_port(d->mq_px);
	return 0;
}

static void peers_free(struct demo *d)
{
	th_proxy_free(d->ws_px);
	th_proxy_free(d->mq_px);
	th_ws_server_free(d->ws);
	th_ws_server_free(d->ws_bad);
	th_broker_free(d->broker);
}

/* ------------------------------------------------------ configuration */

static const char demo_yaml[] =
	"version: 1\n"
	"limits: { connects_per_second: 50, burst: 5 }\n"
	"policies:\n"
	"  demo: { type: exponential, initial: 300ms, max: 3s, jitter: equal }\n"
	"connections:\n"
	"%s"
	"  - name: ws\n"
	"    transport: ws\n"
	"    endpoints: [ \"ws://127.0.0.1:%u/echo\" ]\n"
	"    policy: demo\n"
	"    connect_timeout: 3s\n"
	"    stable_after: 1s\n"
	"    heartbeat: { interval: 1s, timeout: 500ms, misses: 2 }\n";

static const char demo_yaml_mqtt[] =
	"  - name: mqtt\n"
	"    transport: mqtt\n"
	"    endpoints: [ \"tcp://127.0.0.1:%u\" ]\n"
	"    policy: demo\n"
	"    connect_timeout: 3s\n"
	"    stable_after: 1s\n"
	"    mqtt:\n"
	"      version: 5\n"
	"      client_id: tether-demo\n"
	"      keepalive: 2s\n"
	"      subscriptions:\n"
	"        - { topic: \"" DEMO_TOPIC "\", qos: 1 }\n";

#define DEMO_CONFIG_NAME "demo.yaml (built in)"

static int demo_configure(struct demo *d)
{
	char mq[1024] = "", text[4096];
	tether_config *cfg = NULL;
	char *errors = NULL;
	int rc;

	if (d->conn[D_MQTT].active)
		snprintf(mq, sizeof(mq), demo_yaml_mqtt,
			 (unsigned)d->conn[D_MQTT].proxy_port);
	snprintf(text, sizeof(text), demo_yaml, mq,
		 (unsigned)d->conn[D_WS].proxy_port);
	rc = tether_config_load_string(text, strlen(text), DEMO_CONFIG_NAME,
				       &cfg, &errors);
	if (rc == 0)
		rc = tether_config_apply(cfg, d->m, &errors);
	if (rc != 0) {
		print_errors(errors ? errors : tether_strerror(rc));
		free(errors);
		tether_config_free(cfg);
		return -1;
	}
	printf("config %s: %zu connections, policy exponential 300ms..3s "
	       "(equal jitter), limits 50 connects/s\n",
	       DEMO_CONFIG_NAME, tether_config_count(cfg));
	tether_config_free(cfg);
	for (int i = 0; i < D_COUNT; i++) {
		struct dconn *dc = &d->conn[i];

		if (!dc->active)
			continue;
		dc->c = tether_conn_find(d->m, dc->name);
		if (!dc->c)
			return -1;
		tether_conn_set_userdata(dc->c, dc);
		printf("  %-5s %s 127.0.0.1:%u -> fault proxy -> %s on "
		       "127.0.0.1:%u\n",
		       dc->name, i == D_MQTT ? "tcp://" : "ws:// ",
		       (unsigned)dc->proxy_port,
		       i == D_MQTT ? "mosquitto (MQTT 5, keepalive 2s)"
				   : "ws echo server (heartbeat 1s/500ms x2)",
		       (unsigned)dc->server_port);
	}
	return 0;
}

/* ----------------------------------------------------------- the day */

static int fault_kill(struct demo *d)
{
	uint16_t port;

	note(d, "server killed: ws server stopped%s",
	     d->broker ? ", broker SIGKILLed" : "");
	mark_fault(d, D_WS, "server killed");
	mark_fault(d, D_MQTT, "server killed");
	th_ws_server_free(d->ws);
	d->ws = NULL;
	if (d->broker)
		th_broker_kill(d->broker, SIGKILL);
	if (demo_sleep(d, DEMO_DOWN_MS) != 0)
		return -1;
	if (th_ws_server_start(NULL, &d->ws) != 0) {
		note(d, "cannot restart the ws server");
		return -1;
	}
	port = th_ws_server_port(d->ws);
	th_proxy_set_target(d->ws_px, port);
	d->conn[D_WS].server_port = port;
	if (d->broker && broker_call(d, 1) != 0) {
		note(d, "cannot restart the broker");
		return -1;
	}
	note(d, "servers back: ws server on a new port (%u)%s", (unsigned)port,
	     d->broker ? ", broker restarted" : "");
	return 0;
}

static void fault_rst(struct demo *d)
{
	note(d, "RST: the proxies reset every connection");
	mark_fault(d, D_WS, "RST");
	mark_fault(d, D_MQTT, "RST");
	th_proxy_cut(d->ws_px, 1);
	if (d->mq_px)
		th_proxy_cut(d->mq_px, 1);
}

static int fault_blackhole(struct demo *d)
{
	note(d, "blackhole: the proxies drop every byte for %.0fs "
		"(no FIN, no RST)", (double)DEMO_BLACKHOLE_MS / 1000);
	mark_fault(d, D_WS, "blackhole");
	mark_fault(d, D_MQTT, "blackhole");
	th_proxy_set_mode(d->ws_px, TH_PROXY_BLACKHOLE, 0);
	if (d->mq_px)
		th_proxy_set_mode(d->mq_px, TH_PROXY_BLACKHOLE, 0);
	if (demo_sleep(d, DEMO_BLACKHOLE_MS) != 0)
		return -1;
	th_proxy_set_mode(d->ws_px, TH_PROXY_PASS, 0);
	if (d->mq_px)
		th_proxy_set_mode(d->mq_px, TH_PROXY_PASS, 0);
	note(d, "blackhole over: the proxies relay again");
	return 0;
}

static int fault_credentials(struct demo *d)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO,
				      .require_header = DEMO_BAD_HEADER};
	uint16_t port;

	if (th_ws_server_start(&o, &d->ws_bad) != 0) {
		note(d, "cannot start the ws server for bad credentials");
		return -1;
	}
	port = th_ws_server_port(d->ws_bad);
	th_proxy_set_target(d->ws_px, port);
	d->conn[D_WS].server_port = port;
	note(d, "bad credentials: ws server restarted on port %u requiring "
		"'%s' (the client sends none)", (unsigned)port,
	     DEMO_BAD_HEADER);
	pthread_mutex_lock(&d->lock);
	d->attempts_before_bad = d->conn[D_WS].attempts;
	pthread_mutex_unlock(&d->lock);
	mark_fault(d, D_WS, "bad credentials");
	th_ws_server_free(d->ws);
	d->ws = NULL;
	for (int waited = 0; waited < DEMO_RECOVER_MS &&
			     tether_conn_state(d->conn[D_WS].c) !=
				     TETHER_STATE_CLOSED;
	     waited += 50)
		if (demo_sleep(d, 50) != 0)
			return -1;
	for (int s = 1; s * 1000 <= DEMO_WATCH_MS; s++) {
		unsigned n;

		if (demo_sleep(d, 1000) != 0)
			return -1;
		pthread_mutex_lock(&d->lock);
		n = d->conn[D_WS].attempts;
		pthread_mutex_unlock(&d->lock);
		note(d, "ws: %s, attempts still %u (%u since the fault), "
			"the server saw %u upgrade(s)",
		     tether_state_name(tether_conn_state(d->conn[D_WS].c)), n,
		     n - d->attempts_before_bad,
		     th_ws_server_upgrades(d->ws_bad));
	}
	if (d->conn[D_MQTT].active)
		note(d, "recovery: mqtt is %s",
		     tether_state_name(tether_conn_state(d->conn[D_MQTT].c)));
	return 0;
}

static int play(struct demo *d)
{
	if (wait_online(d, DEMO_RECOVER_MS) || demo_sleep(d, DEMO_SETTLE_MS))
		return -1;
	if (fault_kill(d) || wait_online(d, DEMO_RECOVER_MS) ||
	    demo_sleep(d, DEMO_SETTLE_MS))
		return -1;
	fault_rst(d);
	if (wait_online(d, DEMO_RECOVER_MS) || demo_sleep(d, DEMO_SETTLE_MS))
		return -1;
	if (fault_blackhole(d) || wait_online(d, DEMO_RECOVER_MS) ||
	    demo_sleep(d, DEMO_SETTLE_MS))
		return -1;
	return fault_credentials(d);
}

/* ------------------------------------------------------------ report */

static int report(struct demo *d, int played)
{
	int ok = 1;

	pthread_mutex_lock(&d->lock);
	printf("\n%-6s %8s %7s %6s %6s %9s %6s %5s %7s  %s\n", "conn",
	       "attempts", "outages", "sent", "queued", "delivered", "failed",
	       "lost", "refused", "final state");
	for (int i = 0; i < D_COUNT; i++) {
		struct dconn *dc = &d->conn[i];
		unsigned long lost;

		if (!dc->active)
			continue;
		lost = dc->accepted - dc->delivered - dc->failed;
		printf("%-6s %8u %7zu %6lu %6lu %9lu %6lu %5lu %7lu  %s\n",
		       dc->name, dc->attempts, dc->nout, dc->accepted,
		       dc->while_down, dc->delivered, dc->failed,
		       lost, dc->offline + dc->refused,
		       tether_state_name(dc->final));
		if (lost)
			ok = 0;
	}
	printf("(sent = accepted by tether_conn_send; queued = of those, "
	       "accepted while the link was down;\n failed = dropped with a "
	       "reason; lost = sent but neither delivered nor dropped;\n "
	       "refused = not accepted: the connection was closed for good)\n");
	for (int i = 0; i < D_COUNT; i++) {
		struct dconn *dc = &d->conn[i];

		if (!dc->active)
			continue;
		printf("\n%s outages: %-16s %9s %9s  %s\n", dc->name, "fault",
		       "detected", "downtime", "reason");
		for (size_t k = 0; k < dc->nout; k++) {
			const struct outage *o = &dc->out[k];
			char det[32] = "-", down[32] = "still down";

			if (o->detect_ms >= 0)
				snprintf(det, sizeof(det), "%.2fs",
					 (double)o->detect_ms / 1000);
			if (o->up_ms)
				snprintf(down, sizeof(down), "%.2fs",
					 (double)(o->up_ms - o->down_ms) /
						 1000);
			printf("  #%zu %*s %-16s %9s %9s  %s\n", k + 1,
			       (int)strlen(dc->name) + 5, "", o->fault, det,
			       down, o->why);
		}
		printf("  echoes received: %lu of %lu delivered\n", dc->received,
		       dc->delivered);
	}
	pthread_mutex_unlock(&d->lock);

	if (!played) {
		printf("\nverdict: interrupted before the end of the day\n");
		return -1;
	}
	struct dconn *ws = &d->conn[D_WS], *mq = &d->conn[D_MQTT];
	unsigned after = ws->attempts - d->attempts_before_bad;
	int ws_closed = ws->final == TETHER_STATE_CLOSED && ws->fatal;

	printf("\nws: attempts after the bad-credentials fault: %u\n", after);
	if (mq->active)
		printf("mqtt: back online at the end: %s\n",
		       mq->final == TETHER_STATE_ONLINE ? "yes" : "no");
	if (!ws_closed || after != 1)
		ok = 0;
	if (mq->active && mq->final != TETHER_STATE_ONLINE)
		ok = 0;
	if (ok)
		printf("verdict: bad credentials: %u attempt, then closed — "
		       "never retried; %s0 messages lost\n",
		       after, mq->active ? "mqtt back online; " : "");
	else
		printf("verdict: NOT as expected (see above)\n");
	return ok ? 0 : -1;
}

/* ------------------------------------------------------------- main */

static void stop_all(struct demo *d)
{
	d->sending = 0;
	for (int i = 0; i < D_COUNT; i++)
		if (d->conn[i].c)
			tether_conn_stop(d->conn[i].c);
	for (int waited = 0; waited < DEMO_STOP_MS; waited += 50) {
		int open = 0;

		for (int i = 0; i < D_COUNT; i++)
			if (d->conn[i].c && tether_conn_state(d->conn[i].c) !=
						    TETHER_STATE_CLOSED)
				open = 1;
		if (!open)
			break;
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
}

static void demo_usage(FILE *f)
{
	fprintf(f,
		"usage: tether-demo\n"
		"\n"
		"Run one MQTT and one WebSocket connection against real servers\n"
		"on loopback (mosquitto when installed, a WebSocket echo server),\n"
		"each behind a fault proxy, through a scripted bad day: server\n"
		"killed, RST, blackhole, bad credentials, recovery. Prints a live\n"
		"timeline and a report; takes about 30 s. Exit 0 when every\n"
		"message was accounted for and each connection ended as\n"
		"expected.\n"
		"\n"
		"Built in the source tree and not installed;\n"
		"./scripts/demo.sh builds and runs it.\n");
}

int main(int argc, char **argv)
{
	struct demo d = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct sigaction sa = {.sa_handler = on_signal};
	int status = DEMO_EXIT_FAIL, played = -1;

	if (argc > 1) {
		int help = strcmp(argv[1], "--help") == 0 ||
			   strcmp(argv[1], "-h") == 0;
		demo_usage(help ? stdout : stderr);
		return help ? DEMO_EXIT_OK : DEMO_EXIT_USAGE;
	}
	d.conn[D_MQTT].name = "mqtt";
	d.conn[D_WS].name = "ws";
	/* blocked before any thread exists, so only the main thread takes
	   them (sigtimedwait, or the handler while a broker is forked) */
	sigemptyset(&d.sigs);
	sigaddset(&d.sigs, SIGINT);
	sigaddset(&d.sigs, SIGTERM);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	pthread_sigmask(SIG_BLOCK, &d.sigs, NULL);
	d.t0 = th_now_ms();

	printf("tether-demo: a bad day for one MQTT and one WebSocket "
	       "connection, on loopback\n");
	if (peers_start(&d) != 0)
		goto out;
	if (tether_mgr_new(&d.m) != 0 ||
	    tether_mgr_set_event_cb(d.m, on_event, &d) != 0) {
		fprintf(stderr, "tether-demo: cannot create a manager\n");
		goto out;
	}
	if (demo_configure(&d) != 0)
		goto out;
	for (int i = 0; i < D_COUNT; i++) {
		int rc;

		if (!d.conn[i].active)
			continue;
		rc = tether_conn_start(d.conn[i].c);
		if (rc != 0) {
			fprintf(stderr, "tether-demo: %s: %s\n", d.conn[i].name,
				tether_strerror(rc));
			goto out;
		}
	}
	printf("sending one message per connection every %d ms while online "
	       "(mqtt: QoS 1 to its own topic, ws: echoed)\n\n",
	       DEMO_SEND_EVERY_MS);
	fflush(stdout);
	if (tether_mgr_start(d.m) != 0) {
		fprintf(stderr, "tether-demo: cannot start the loop\n");
		goto out;
	}
	d.sending = 1;
	d.next_send = th_now_ms();
	played = play(&d);
	if (played != 0 && interrupted)
		note(&d, "interrupted: stopping everything");
	d.sending = 0;
	for (int i = 0; i < D_COUNT; i++)
		if (d.conn[i].active)
			d.conn[i].final = tether_conn_state(d.conn[i].c);
	if (!interrupted) {
		note(&d, "end of the day: last outcomes, then both stop");
		demo_sleep(&d, DEMO_DRAIN_MS);
	}
	stop_all(&d);
	/* after the loop has stopped, nothing changes the counters */
	tether_mgr_stop(d.m);
	if (report(&d, played == 0) == 0 && played == 0)
		status = DEMO_EXIT_OK;
	printf("finished in %.1fs\n", (double)since(&d) / 1000);
out:
	tether_mgr_free(d.m);
	peers_free(&d);
	return status;
}
