/*
 * What a gateway needs from its MQTT upstream link (issue 13), against a
 * real mosquitto broker on loopback, checked by an independent client
 * (mosquitto_sub from mosquitto-clients): the last will when the process
 * holding the connection dies, none after an orderly close; outbound
 * MQTT 5 properties; unsubscribe; a refused SUBSCRIBE as an event (from
 * the scripted peer: mosquitto never refuses one); QoS 2
 * across a reconnect (docs/transport-mqtt.md states the guarantee).
 *
 * Every process a test starts (mosquitto_sub, tests/mqtt_holder) dies
 * with the test process (PR_SET_PDEATHSIG) and is killed and reaped by
 * its pid in the teardown, also when the test failed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether/tether.h>

#include "broker.h"
#include "check-int.h"
#include "itest.h"
#include "mqtt_peer.h"
#include "proxy.h"

#define MAX_PROCS 4

/* A child process whose stdout we read (and whose stdin we may close). */
struct proc {
	pid_t pid; /* 0: none */
	int out;   /* its stdout */
	int in;    /* its stdin, or -1 */
	char buf[16384];
	size_t len;
};

static struct th_broker *broker;
static struct th_proxy *px;
static struct th_mqtt_peer *peer;
static tether_conn *conn;
static struct proc procs[MAX_PROCS];

static void proc_reap(struct proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	if (p->out >= 0)
		close(p->out);
	if (p->in >= 0)
		close(p->in);
	p->out = p->in = -1;
}

static struct proc *proc_spawn(char *const argv[])
{
	struct proc *p = NULL;
	int out[2], in[2];

	for (int i = 0; i < MAX_PROCS && !p; i++)
		if (procs[i].pid == 0)
			p = &procs[i];
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	p->pid = fork();
	ck_assert_int_ge(p->pid, 0);
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		dup2(in[0], 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	close(in[0]);
	p->out = out[0];
	p->in = in[1];
	p->len = 0;
	p->buf[0] = '\0';
	return p;
}

/* Read what p wrote until its output holds needle or ms pass. */
static int proc_wait(struct proc *p, const char *needle, int ms)
{
	uint64_t end = it_now_ms() + (uint64_t)ms;

	while (!strstr(p->buf, needle)) {
		struct pollfd pfd = {.fd = p->out, .events = POLLIN};
		uint64_t now = it_now_ms();
		ssize_t n;

		if (now >= end || p->len + 1 >= sizeof(p->buf))
			return 0;
		if (poll(&pfd, 1, (int)(end - now)) <= 0)
			continue;
		n = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
		if (n <= 0)
			return strstr(p->buf, needle) != NULL;
		p->len += (size_t)n;
		p->buf[p->len] = '\0';
	}
	return 1;
}

static void setup(void)
{
	broker = NULL;
	px = NULL;
	peer = NULL;
	conn = NULL;
	for (int i = 0; i < MAX_PROCS; i++) {
		procs[i].pid = 0;
		procs[i].out = procs[i].in = -1;
	}
	it_setup(0);
}

static void teardown(void)
{
	int wrong = it_wrong_thread();
	it_teardown();
	for (int i = 0; i < MAX_PROCS; i++)
		proc_reap(&procs[i]);
	th_proxy_free(px);
	th_mqtt_peer_free(peer);
	th_broker_free(broker);
	ck_assert_int_eq(wrong, 0);
}

static void start_broker(const struct th_broker_opts *o)
{
	int rc = th_broker_start(o, &broker);
	ck_assert_msg(rc == 0, "mosquitto: %s", strerror(-rc));
}

/* "MSG|topic|payload|content type|expiry|user|response topic|
   correlation|payload format|qos|retain" per message. */
#define SUB_FORMAT "MSG|%t|%p|%C|%E|%P|%R|%D|%F|%q|%r"

/* mosquitto_sub on topic, subscribed once this returns. */
/*
 * A v5 subscriber advertises a Receive Maximum of 1000 (libmosquitto's
 * default is 20). Debian's mosquitto 2.0.11 can count its in-flight
 * messages to a v5 client wrong and send more than that client's
 * Receive Maximum (eclipse-mosquitto/mosquitto#2301, quota fixes in
 * 2.0.13); libmosquitto then ends the link with "A network protocol
 * error". It happened once to the 40-message QoS 2 test below in a CI
 * rehearsal; with 1000 no test here comes near the limit.
 */
static struct proc *start_sub(const char *topic, int v5, int qos)
{
	char port[16], q[4];
	char *argv[] = {"stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1",
			"-p", port, "-V", v5 ? "5" : "311", "-q", q, "-t",
			(char *)topic, "-d", "-F", SUB_FORMAT,
			v5 ? "-D" : NULL, "connect", "receive-maximum", "1000",
			NULL};
	struct proc *p;

	snprintf(port, sizeof port, "%u", th_broker_port(broker));
	snprintf(q, sizeof q, "%d", qos);
	p = proc_spawn(argv);
	ck_assert_msg(proc_wait(p, "SUBACK", 5000),
		      "mosquitto_sub did not subscribe: %s", p->buf);
	return p;
}

static char *holder_path(void)
{
	const char *top = getenv("top_builddir");
	static char path[4096];

	snprintf(path, sizeof path, "%s/tests/mqtt_holder", top ? top : ".");
	if (access(path, X_OK) != 0)
		snprintf(path, sizeof path, "tests/mqtt_holder");
	ck_assert_msg(access(path, X_OK) == 0, "tests/mqtt_holder not built");
	return path;
}

/* The holder process, up, with the will options of version. */
static struct proc *start_holder(const char *version)
{
	char uri[64];
	int v5 = strcmp(version, "5") == 0;
	char *argv[16] = {holder_path(), uri, "will_topic=gw/will",
			  "will_payload=gw-01 offline", "will_qos=1",
			  "client_id=holder"};
	int n = 6;
	struct proc *p;

	snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", th_broker_port(broker));
	argv[n++] = v5 ? "version=5" : "version=3.1.1";
	if (v5) {
		argv[n++] = "session_expiry=30s";
		argv[n++] = "will_delay=1s";
		argv[n++] = "will_expiry=60s";
		argv[n++] = "will_content_type=text/plain";
		argv[n++] = "will_user.site=gw-01";
	}
	argv[n] = NULL;
	p = proc_spawn(argv);
	ck_assert_msg(proc_wait(p, "up\n", 8000), "holder: %s", p->buf);
	return p;
}

static void will_on_kill(const char *version)
{
	int v5 = strcmp(version, "5") == 0;
	struct proc *sub, *h;
	uint64_t t0;

	start_broker(NULL);
	sub = start_sub("gw/will", v5, 1);
	h = start_holder(version);
	it_run(200);
	t0 = it_now_ms();
	ck_assert_int_eq(kill(h->pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(h->pid, NULL, 0), h->pid);
	h->pid = 0;
	ck_assert_msg(proc_wait(sub, "MSG|gw/will|gw-01 offline|", 6000),
		      "no will: %s", sub->buf);
	if (v5) {
		char *line = strstr(sub->buf, "MSG|gw/will|");
		unsigned exp = 0;
		/* will delay 1 s: not before it (the session outlives it) */
		ck_assert_msg(it_now_ms() - t0 >= 900, "will after %llu ms",
			      (unsigned long long)(it_now_ms() - t0));
		ck_assert_ptr_nonnull(strstr(line, "|text/plain|"));
		ck_assert_ptr_nonnull(strstr(line, "site:gw-01"));
		/* the broker counts the expiry down from 60 s */
		ck_assert_int_eq(sscanf(strstr(line, "|text/plain|") + 12, "%u",
					&exp), 1);
		ck_assert_msg(exp > 50 && exp <= 60, "expiry %u", exp);
	}
}

START_TEST(test_mqtt_will_on_kill_v311)
{
	will_on_kill("3.1.1");
}
END_TEST

START_TEST(test_mqtt_will_on_kill_v5_with_properties)
{
	will_on_kill("5");
}
END_TEST

/* An orderly stop sends DISCONNECT: the broker drops the will. */
START_TEST(test_mqtt_no_will_after_close)
{
	struct proc *sub, *h;

	start_broker(NULL);
	sub = start_sub("gw/will", 1, 1);
	h = start_holder("5");
	close(h->in);
	h->in = -1;
	ck_assert_msg(proc_wait(h, "closed\n", 5000), "holder: %s", h->buf);
	ck_assert_int_eq(waitpid(h->pid, NULL, 0), h->pid);
	h->pid = 0;
	/* past the 1 s will delay */
	ck_assert(!proc_wait(sub, "MSG|", 2000));
}
END_TEST

static tether_conn *make_conn(const char *name, uint16_t port,
			      const char *version)
{
	tether_conn *c;
	char uri[64];

	snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", port);
	ck_assert_int_eq(tether_conn_new(it_mgr, name, "mqtt", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "version", version), 0);
	return c;
}

START_TEST(test_mqtt5_outbound_properties_seen_by_subscriber)
{
	struct tether_property props[] = {
	    {.name = "content_type", .value = "application/json", .len = 16},
	    {.name = "message_expiry_interval", .number = 300},
	    {.name = "response_topic", .value = "reply/gw-01", .len = 11},
	    {.name = "correlation_data", .value = "corr-42", .len = 7},
	    {.name = "payload_format_indicator", .number = 1},
	    {.name = "site", .value = "gw-01", .len = 5, .user = 1},
	};
	struct tether_message m = {.size = sizeof m, .topic = "gw/props",
				   .payload = "{\"t\":21}", .len = 8, .qos = 1,
				   .props = props, .nprops = 6};
	struct proc *sub;
	char *line;
	unsigned exp = 0;

	start_broker(NULL);
	sub = start_sub("gw/props", 1, 1);
	conn = make_conn("p5", th_broker_port(broker), "5");
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 8000));
	ck_assert_int_eq(tether_conn_send(conn, &m, NULL), 0);
	ck_assert(it_wait(conn, TETHER_EV_SENT, 1, 5000));
	ck_assert_int_eq(it_get(it_find(conn, TETHER_EV_SENT, 0)).error, 0);
	ck_assert_msg(proc_wait(sub, "MSG|gw/props|{\"t\":21}|", 5000),
		      "not seen: %s", sub->buf);
	line = strstr(sub->buf, "MSG|gw/props|");
	ck_assert_ptr_nonnull(strstr(line, "|application/json|"));
	ck_assert_int_eq(sscanf(strstr(line, "|application/json|") + 18, "%u",
				&exp), 1);
	ck_assert_msg(exp > 290 && exp <= 300, "expiry %u", exp);
	ck_assert_ptr_nonnull(strstr(line, "|site:gw-01|reply/gw-01|corr-42|1|1|"));
}
END_TEST

/* Sent before the link is up, through the queue: the properties wait
   with the message. */
START_TEST(test_mqtt5_properties_survive_the_queue)
{
	struct tether_property props[] = {
	    {.name = "content_type", .value = "text/plain", .len = 10},
	    {.name = "k", .value = "v", .len = 1, .user = 1},
	};
	struct tether_message m = {.size = sizeof m, .topic = "gw/q",
				   .payload = "queued", .len = 6, .qos = 1,
				   .props = props, .nprops = 2};
	struct proc *sub;

	start_broker(NULL);
	sub = start_sub("gw/q", 1, 1);
	conn = make_conn("q5", th_broker_port(broker), "5");
	ck_assert_int_eq(tether_conn_send(conn, &m, NULL), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_SENT, 1, 8000));
	ck_assert_msg(proc_wait(sub, "MSG|gw/q|queued|text/plain||k:v|", 5000),
		      "not seen: %s", sub->buf);
}
END_TEST

START_TEST(test_mqtt_properties_refused_at_send)
{
	struct tether_property ct = {.name = "content_type", .value = "a/b",
				     .len = 3};
	struct tether_property alias = {.name = "topic_alias", .number = 3};
	struct tether_property wild = {.name = "response_topic",
				       .value = "r/#", .len = 3};
	struct tether_property many[TETHER_PROPS_MAX + 1];
	struct tether_message m = {.size = sizeof m, .topic = "gw/x",
				   .payload = "x", .len = 1, .qos = 1};
	tether_conn *c3;

	start_broker(NULL);
	c3 = make_conn("v311", th_broker_port(broker), "3.1.1");
	conn = make_conn("v5", th_broker_port(broker), "5");
	/* any property on a 3.1.1 link */
	m.props = &ct;
	m.nprops = 1;
	ck_assert_int_eq(tether_conn_send(c3, &m, NULL), TETHER_ENOTSUP);
	/* a property no client may send */
	m.props = &alias;
	ck_assert_int_eq(tether_conn_send(conn, &m, NULL), TETHER_ENOTSUP);
	/* malformed, too many */
	m.props = &wild;
	ck_assert_int_eq(tether_conn_send(conn, &m, NULL), TETHER_EINVAL);
	for (size_t i = 0; i < TETHER_PROPS_MAX + 1; i++)
		many[i] = (struct tether_property){.name = "u", .value = "v",
						   .len = 1, .user = 1};
	m.props = many;
	m.nprops = TETHER_PROPS_MAX + 1;
	ck_assert_int_eq(tether_conn_send(conn, &m, NULL), TETHER_EINVAL);
	m.nprops = TETHER_PROPS_MAX;
	ck_assert_int_eq(tether_conn_send(conn, &m, NULL), 0);
	ck_assert_uint_eq(tether_conn_queued(conn), 1);
	ck_assert_uint_eq(tether_conn_queued(c3), 0);
}
END_TEST

/* Publish to our own subscription; count what comes back. */
static void publish(tether_conn *c, const char *topic, const char *text,
		    int n_sent)
{
	struct tether_message m = {.size = sizeof m, .topic = topic,
				   .payload = text, .len = strlen(text),
				   .qos = 1};

	ck_assert_int_eq(tether_conn_send(c, &m, NULL), 0);
	ck_assert(it_wait(c, TETHER_EV_SENT, n_sent, 5000));
}

static void unsubscribe_stops_delivery(const char *version)
{
	start_broker(NULL);
	conn = make_conn("u", th_broker_port(broker), version);
	ck_assert_int_eq(tether_conn_subscribe(conn, "u/#", 1), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 8000));
	it_run(300); /* the SUBACK */
	publish(conn, "u/a", "before", 1);
	ck_assert(it_wait(conn, TETHER_EV_MESSAGE, 1, 5000));
	ck_assert_int_eq(tether_conn_unsubscribe(conn, "u/#"), 0);
	it_run(300); /* the UNSUBACK */
	publish(conn, "u/a", "after", 2);
	it_run(1000);
	ck_assert_int_eq(it_count(conn, TETHER_EV_MESSAGE), 1);
	ck_assert_int_eq(it_count(conn, TETHER_EV_SUBSCRIBE_FAILED), 0);
}

START_TEST(test_mqtt_unsubscribe_stops_delivery_v311)
{
	unsubscribe_stops_delivery("3.1.1");
}
END_TEST

START_TEST(test_mqtt_unsubscribe_stops_delivery_v5)
{
	unsubscribe_stops_delivery("5");
}
END_TEST

/*
 * mosquitto 2.0.11 grants every SUBSCRIBE its ACL would refuse (it filters
 * on delivery instead), so the refusal comes from the scripted peer
 * (tests/harness/mqtt_peer.c), which refuses one filter.
 */
static void refused_subscribe(const char *version, int kind, int code)
{
	struct th_mqtt_peer_script sc = {.disconnect_after_ms = -1,
					 .refuse_topic = "secret/#",
					 .refuse_code = 0x87};

	ck_assert_int_eq(th_mqtt_peer_start(&sc, &peer), 0);
	conn = make_conn("s", th_mqtt_peer_port(peer), version);
	ck_assert_int_eq(tether_conn_subscribe(conn, "ok/#", 1), 0);
	ck_assert_int_eq(tether_conn_subscribe(conn, "secret/#", 1), 0);
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_SUBSCRIBE_FAILED, 1, 8000));
	struct it_ev e = it_get(it_find(conn, TETHER_EV_SUBSCRIBE_FAILED, 0));
	ck_assert_int_eq(e.kind, kind);
	ck_assert_int_eq(e.code, code);
	ck_assert_int_eq(e.cls, TETHER_CLASS_NORMAL);
	ck_assert_str_eq(e.detail, "secret/#");
	it_run(300);
	/* one refusal only, and the link stays */
	ck_assert_int_eq(it_count(conn, TETHER_EV_SUBSCRIBE_FAILED), 1);
	ck_assert_int_eq(tether_conn_state(conn), TETHER_STATE_ONLINE);
	if (kind == TETHER_KIND_MQTT5) {
		/* an UNSUBACK refusal too (3.1.1's UNSUBACK has no code) */
		ck_assert_int_eq(tether_conn_unsubscribe(conn, "secret/#"), 0);
		ck_assert(it_wait(conn, TETHER_EV_SUBSCRIBE_FAILED, 2, 5000));
		e = it_get(it_find(conn, TETHER_EV_SUBSCRIBE_FAILED, 1));
		ck_assert_int_eq(e.code, 0x87);
		ck_assert_str_eq(e.detail, "secret/#");
		ck_assert_ptr_nonnull(strstr(e.text, "UNSUBACK"));
	}
}

START_TEST(test_mqtt5_refused_subscribe_is_an_event)
{
	refused_subscribe("5", TETHER_KIND_MQTT5, 0x87);
}
END_TEST

START_TEST(test_mqtt_refused_subscribe_is_an_event_v311)
{
	refused_subscribe("3.1.1", TETHER_KIND_MQTT3, 0x80);
}
END_TEST

/* no_local: our own publishes do not come back; 3.1.1 cannot say it. */
START_TEST(test_mqtt5_subscription_options)
{
	struct tether_subscription s = {.size = sizeof s, .topic = "nl/#",
					.qos = 1, .no_local = 1};
	tether_conn *c3;

	start_broker(NULL);
	conn = make_conn("nl5", th_broker_port(broker), "5");
	c3 = make_conn("nl3", th_broker_port(broker), "3.1.1");
	ck_assert_int_eq(tether_conn_subscribe_opts(conn, &s), 0);
	ck_assert_int_eq(tether_conn_subscribe_opts(c3, &s), 0);
	s.retain_handling = 3;
	ck_assert_int_eq(tether_conn_subscribe_opts(conn, &s), TETHER_EINVAL);
	it_start(conn);
	it_start(c3);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 8000));
	ck_assert(it_wait(c3, TETHER_EV_SUBSCRIBE_FAILED, 1, 8000));
	struct it_ev e = it_get(it_find(c3, TETHER_EV_SUBSCRIBE_FAILED, 0));
	ck_assert_int_eq(e.kind, TETHER_KIND_LOCAL);
	ck_assert_str_eq(e.detail, "nl/#");
	it_run(300);
	publish(conn, "nl/a", "mine", 1);
	it_run(800);
	ck_assert_int_eq(it_count(conn, TETHER_EV_MESSAGE), 0);
}
END_TEST

/*
 * QoS 2 across a lost link: Paho keeps no state between tether's
 * attempts (a client per attempt, no persistence), so a message whose
 * PUBCOMP did not come is published again on the next link as a new
 * PUBLISH with a new packet id. Every message arrives; one in flight at
 * the cut may arrive twice (docs/transport-mqtt.md).
 */
START_TEST(test_mqtt_qos2_across_a_reconnect_at_least_once)
{
	enum { N = 40 };
	struct proc *sub;
	char uri[64], text[32];
	int seen = 0, dups = 0;

	start_broker(NULL);
	sub = start_sub("q2/t", 1, 2);
	ck_assert_int_eq(th_proxy_start(th_broker_port(broker), &px), 0);
	snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", th_proxy_port(px));
	ck_assert_int_eq(tether_conn_new(it_mgr, "q2", "mqtt", &conn), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(conn, uri), 0);
	ck_assert_int_eq(tether_conn_set_option(conn, "version", "5"), 0);
	it_use_fixed(conn, "200ms");
	it_start(conn);
	ck_assert(it_wait(conn, TETHER_EV_UP, 1, 8000));
	for (int i = 0; i < N; i++) {
		struct tether_message m = {.size = sizeof m, .topic = "q2/t",
					   .qos = 2};
		snprintf(text, sizeof text, "m%03d", i);
		m.payload = text;
		m.len = strlen(text);
		ck_assert_int_eq(tether_conn_send(conn, &m, NULL), 0);
		if (i == N / 2)
			th_proxy_cut(px, 1); /* flows in flight are cut */
	}
	ck_assert(it_wait(conn, TETHER_EV_SENT, N, 20000));
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(it_get(it_find(conn, TETHER_EV_SENT, i)).error, 0);
	ck_assert(proc_wait(sub, "MSG|q2/t|m039|", 5000));
	it_run(300);
	proc_wait(sub, "never", 200);
	for (int i = 0; i < N; i++) {
		char needle[32];
		const char *p = sub->buf;
		int k = 0;

		snprintf(needle, sizeof needle, "MSG|q2/t|m%03d|", i);
		while ((p = strstr(p, needle)) != NULL) {
			k++;
			p++;
		}
		seen += k > 0;
		dups += k > 1 ? k - 1 : 0;
	}
	printf("qos 2 across a reconnect: %d of %d seen, %d duplicates, "
	       "%d links\n", seen, N, dups, it_count(conn, TETHER_EV_UP));
	ck_assert_int_eq(seen, N);
	ck_assert_int_ge(it_count(conn, TETHER_EV_UP), 2);
}
END_TEST

static Suite *gateway_suite(void)
{
	Suite *s = suite_create("mqtt_gateway");
	TCase *tc = it_tcase(s, "will", setup, teardown, 60);
	tcase_add_test(tc, test_mqtt_will_on_kill_v311);
	tcase_add_test(tc, test_mqtt_will_on_kill_v5_with_properties);
	tcase_add_test(tc, test_mqtt_no_will_after_close);
	tc = it_tcase(s, "properties", setup, teardown, 60);
	tcase_add_test(tc, test_mqtt5_outbound_properties_seen_by_subscriber);
	tcase_add_test(tc, test_mqtt5_properties_survive_the_queue);
	tcase_add_test(tc, test_mqtt_properties_refused_at_send);
	tc = it_tcase(s, "subscriptions", setup, teardown, 60);
	tcase_add_test(tc, test_mqtt_unsubscribe_stops_delivery_v311);
	tcase_add_test(tc, test_mqtt_unsubscribe_stops_delivery_v5);
	tcase_add_test(tc, test_mqtt5_refused_subscribe_is_an_event);
	tcase_add_test(tc, test_mqtt_refused_subscribe_is_an_event_v311);
	tcase_add_test(tc, test_mqtt5_subscription_options);
	tc = it_tcase(s, "qos2", setup, teardown, 60);
	tcase_add_test(tc, test_mqtt_qos2_across_a_reconnect_at_least_once);
	return s;
}

TTH_CHECK_MAIN_MOSQUITTO(gateway_suite)
