/*
 * The inbound bound (tether_conn_set_inbound), against real peers on
 * loopback: floods against an application that takes 2 ms per message.
 *
 * mqtt_qos0: mosquitto_pub floods QoS 0; the held messages never pass
 *   the bound, memory stays within bound + 10 MB, drops are counted and
 *   told (TETHER_EV_INBOUND_DROPPED), and a stop reaches CLOSED in < 1 s.
 * mqtt_qos1: a QoS 1 flood into a clean_start false subscriber that is
 *   stopped in the middle (< 1 s to CLOSED) and started again: every
 *   message arrives, none was dropped, the bound held.
 * mqtt_too_large: a message over max_message is dropped and told
 *   (TETHER_ETOOBIG); the next one arrives.
 * ws: the WebSocket test server replays a backlog as fast as it can:
 *   reading stops at the bound (lws_rx_flow_control), nothing is lost.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/tether.h>

#include "broker.h"
#include "check-int.h"
#include "itest.h"
#include "ws_server.h"

#define BOUND_MSGS 100
#define BOUND_BYTES (1u << 20)
#define HANDLER_US 2000
/* ASan keeps freed memory in its quarantine (256 MiB by default), so
   RSS says nothing about what is held: the RSS bound is checked in
   plain builds only. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED 0
#else
#define RSS_CHECKED 1
#endif
#define RSS_SLACK (10u << 20)
#define TOPIC "in/flood"
#define MAXSEQ 40000
#define SESSION "s1"

static tether_mgr *mgr;
static tether_conn *conn;
static struct th_broker *broker;
static struct th_ws_server *wss;
static _Atomic unsigned char seen[MAXSEQ];
static atomic_uint n_msgs, n_distinct, n_closed, n_bad;
static _Atomic uint64_t drop_full_ev, drop_big_ev, n_drop_events;
static _Atomic uint64_t closed_at;
static atomic_int slow;

static uint64_t now_ms(void)
{
	return it_now_ms();
}

static uint64_t rss_bytes(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* "<seq> padding" (MQTT) or "seq <N> gen <N>" (the WebSocket server) */
static long seq_of(const struct tether_message *m)
{
	char buf[64];
	size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
	const char *p = buf;

	memcpy(buf, m->payload, n);
	buf[n] = '\0';
	if (strncmp(p, "seq ", 4) == 0)
		p += 4;
	return strtol(p, NULL, 10);
}

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	(void)c;
	(void)ud;
	switch (ev->type) {
	case TETHER_EV_MESSAGE: {
		long s = seq_of(ev->message);

		atomic_fetch_add(&n_msgs, 1);
		if (s <= 0 || s >= MAXSEQ)
			atomic_fetch_add(&n_bad, 1);
		else if (atomic_exchange(&seen[s], 1) == 0)
			atomic_fetch_add(&n_distinct, 1);
		if (atomic_load(&slow))
			usleep(HANDLER_US);
		break;
	}
	case TETHER_EV_INBOUND_DROPPED:
		atomic_fetch_add(&n_drop_events, 1);
		atomic_fetch_add(ev->error == TETHER_ETOOBIG ? &drop_big_ev
							      : &drop_full_ev,
				 ev->count);
		break;
	case TETHER_EV_CLOSED:
		atomic_store(&closed_at, now_ms());
		atomic_fetch_add(&n_closed, 1);
		break;
	default:
		break;
	}
}

static void setup(void)
{
	mgr = NULL;
	conn = NULL;
	broker = NULL;
	wss = NULL;
	for (size_t i = 0; i < MAXSEQ; i++)
		atomic_store(&seen[i], 0);
	atomic_store(&n_msgs, 0);
	atomic_store(&n_distinct, 0);
	atomic_store(&n_closed, 0);
	atomic_store(&n_bad, 0);
	atomic_store(&drop_full_ev, 0);
	atomic_store(&drop_big_ev, 0);
	atomic_store(&n_drop_events, 0);
	atomic_store(&slow, 1);
	ck_assert_int_eq(tether_mgr_new(&mgr), 0);
	ck_assert_int_eq(tether_mgr_set_event_cb(mgr, on_event, NULL), 0);
	ck_assert_int_eq(tether_mgr_start(mgr), 0);
}

static void teardown(void)
{
	atomic_store(&slow, 0);
	tether_mgr_free(mgr);
	th_broker_free(broker);
	th_ws_server_free(wss);
}

static void start_broker(void)
{
	struct th_broker_opts bo = {.max_queued_messages = -1};
	int rc = th_broker_start(&bo, &broker);

	ck_assert_msg(rc == 0, "mosquitto: %s", strerror(-rc));
}

static tether_conn *mqtt_sub(const char *version, int qos, int clean)
{
	tether_conn *c;
	char uri[64];

	snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", th_broker_port(broker));
	ck_assert_int_eq(tether_conn_new(mgr, "sub", "mqtt", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	it_use_fixed(c, "100ms");
	ck_assert_int_eq(tether_conn_set_option(c, "version", version), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "client_id", "in-sub"), 0);
	ck_assert_int_eq(
	    tether_conn_set_option(c, "clean_start", clean ? "true" : "false"),
	    0);
	ck_assert_int_eq(tether_conn_set_inbound(c, BOUND_MSGS, BOUND_BYTES),
			 0);
	ck_assert_int_eq(tether_conn_subscribe(c, TOPIC, qos), 0);
	return c;
}

static int wait_state(tether_conn *c, enum tether_state s, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (tether_conn_state(c) != s && now_ms() < end)
		usleep(2000);
	return tether_conn_state(c) == s;
}

/* mosquitto_pub -l: each line one message, first..last. */
static void publish(int qos, long first, long last, int pad)
{
	char cmd[160];
	FILE *p;

	snprintf(cmd, sizeof cmd,
		 "exec mosquitto_pub -h 127.0.0.1 -p %u -q %d -t %s -l",
		 th_broker_port(broker), qos, TOPIC);
	p = popen(cmd, "w");
	ck_assert_ptr_nonnull(p);
	for (long s = first; s <= last; s++)
		fprintf(p, "%ld %.*s\n", s, pad,
			"................................................"
			"................................................"
			"................................................");
	ck_assert_int_eq(pclose(p), 0);
}

struct sample {
	uint64_t max_held, max_rss;
};

static void sample_for(tether_conn *c, int ms, struct sample *sm)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end) {
		struct tether_conn_stats st = {.size = sizeof st};
		uint64_t r = rss_bytes();

		ck_assert_int_eq(tether_conn_stats(c, &st), 0);
		if (st.inbound_held > sm->max_held)
			sm->max_held = st.inbound_held;
		if (r > sm->max_rss)
			sm->max_rss = r;
		usleep(10000);
	}
}

/* Stop c; how long until CLOSED. */
static uint64_t stop_ms(tether_conn *c)
{
	unsigned k = atomic_load(&n_closed);
	uint64_t t0 = now_ms(), end = t0 + 5000;

	ck_assert_int_eq(tether_conn_stop(c), 0);
	while (atomic_load(&n_closed) == k && now_ms() < end)
		usleep(1000);
	ck_assert_msg(atomic_load(&n_closed) > k, "no CLOSED");
	return atomic_load(&closed_at) - t0;
}

struct pub_args {
	int qos;
	long first, last;
};

static void *pub_thread(void *arg)
{
	struct pub_args *a = arg;

	publish(a->qos, a->first, a->last, 100);
	return NULL;
}

START_TEST(test_inbound_mqtt_qos0_flood)
{
	struct sample sm = {0, 0};
	struct tether_conn_stats st = {.size = sizeof st};
	uint64_t base, close_ms;
	const long n = 20000;
	struct pub_args pa = {0, 1, n};
	pthread_t th;

	start_broker();
	conn = mqtt_sub("3.1.1", 0, 1);
	it_start(conn);
	ck_assert(wait_state(conn, TETHER_STATE_ONLINE, 10000));
	usleep(300000); /* the SUBSCRIBE is made */
	base = rss_bytes();
	ck_assert_int_eq(pthread_create(&th, NULL, pub_thread, &pa), 0);
	sample_for(conn, 1500, &sm);
	close_ms = stop_ms(conn); /* while the flood goes on */
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(tether_conn_stats(conn, &st), 0);
	printf("inbound mqtt qos0: %ld published, %u delivered, %llu dropped "
	       "(events: %llu in %llu), max held %llu, rss +%llu KiB, close "
	       "%llu ms\n",
	       n, atomic_load(&n_msgs),
	       (unsigned long long)st.inbound_dropped_full,
	       (unsigned long long)atomic_load(&drop_full_ev),
	       (unsigned long long)atomic_load(&n_drop_events),
	       (unsigned long long)sm.max_held,
	       (unsigned long long)((sm.max_rss > base ? sm.max_rss - base
						       : 0) >> 10),
	       (unsigned long long)close_ms);
	fflush(stdout);
	ck_assert_uint_le(sm.max_held, BOUND_MSGS);
	if (RSS_CHECKED)
		ck_assert_uint_lt(sm.max_rss, base + BOUND_BYTES + RSS_SLACK);
	ck_assert_uint_gt(st.inbound_dropped_full, 0);
	ck_assert_uint_eq(atomic_load(&drop_full_ev), st.inbound_dropped_full);
	ck_assert_uint_gt(atomic_load(&n_msgs), 0);
	ck_assert_uint_le(atomic_load(&n_msgs) + st.inbound_dropped_full,
			  (uint64_t)n);
	ck_assert_uint_lt(close_ms, 1000);
	ck_assert_uint_eq(atomic_load(&n_bad), 0);
}
END_TEST

START_TEST(test_inbound_mqtt_qos1_flood_stop_start)
{
	struct sample sm = {0, 0};
	struct tether_conn_stats st = {.size = sizeof st};
	struct pub_args pa = {1, 1, 2000};
	pthread_t th;
	uint64_t base, close_ms, end;

	start_broker();
	conn = mqtt_sub("5", 1, 0);
	it_start(conn);
	ck_assert(wait_state(conn, TETHER_STATE_ONLINE, 10000));
	usleep(300000);
	base = rss_bytes();
	ck_assert_int_eq(pthread_create(&th, NULL, pub_thread, &pa), 0);
	sample_for(conn, 1500, &sm);
	close_ms = stop_ms(conn); /* in the middle of the flood */
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	it_start(conn);
	end = now_ms() + 20000;
	while (atomic_load(&n_distinct) < 2000 && now_ms() < end)
		sample_for(conn, 100, &sm);
	ck_assert_int_eq(tether_conn_stats(conn, &st), 0);
	printf("inbound mqtt qos1: 2000 published, %u distinct of %u "
	       "delivered, max held %llu, rss +%llu KiB, close %llu ms\n",
	       atomic_load(&n_distinct), atomic_load(&n_msgs),
	       (unsigned long long)sm.max_held,
	       (unsigned long long)((sm.max_rss > base ? sm.max_rss - base
						       : 0) >> 10),
	       (unsigned long long)close_ms);
	fflush(stdout);
	ck_assert_uint_eq(atomic_load(&n_distinct), 2000);
	ck_assert_uint_eq(st.inbound_dropped_full, 0);
	ck_assert_uint_eq(atomic_load(&n_drop_events), 0);
	/* a message taken over the bound after a 1 s wait would show here */
	ck_assert_uint_le(sm.max_held, BOUND_MSGS + 1);
	if (RSS_CHECKED)
		ck_assert_uint_lt(sm.max_rss, base + BOUND_BYTES + RSS_SLACK);
	ck_assert_uint_lt(close_ms, 1000);
	ck_assert_uint_eq(atomic_load(&n_bad), 0);
}
END_TEST

START_TEST(test_inbound_mqtt_too_large)
{
	struct tether_conn_stats st = {.size = sizeof st};
	char cmd[200];
	uint64_t end;

	start_broker();
	atomic_store(&slow, 0);
	conn = mqtt_sub("3.1.1", 1, 1);
	ck_assert_int_eq(tether_conn_set_option(conn, "max_message", "1000"),
			 0);
	it_start(conn);
	ck_assert(wait_state(conn, TETHER_STATE_ONLINE, 10000));
	usleep(300000);
	publish(1, 1, 1, 0);
	/* 2000 bytes, over max_message; then one more that fits */
	snprintf(cmd, sizeof cmd,
		 "head -c 2000 /dev/zero | tr '\\0' x | mosquitto_pub -h "
		 "127.0.0.1 -p %u -q 1 -t %s -s",
		 th_broker_port(broker), TOPIC);
	ck_assert_int_eq(system(cmd), 0);
	publish(1, 2, 2, 0);
	end = now_ms() + 5000;
	while ((atomic_load(&n_distinct) < 2 ||
		atomic_load(&drop_big_ev) < 1) &&
	       now_ms() < end)
		usleep(5000);
	ck_assert_int_eq(tether_conn_stats(conn, &st), 0);
	ck_assert_uint_eq(atomic_load(&n_distinct), 2);
	ck_assert_uint_eq(atomic_load(&n_msgs), 2);
	ck_assert_uint_eq(atomic_load(&drop_big_ev), 1);
	ck_assert_uint_eq(st.inbound_dropped_too_large, 1);
	ck_assert_uint_eq(st.inbound_dropped_full, 0);
}
END_TEST

static void resume_hook(tether_conn *c, void *ud)
{
	struct tether_message m = {.size = sizeof m,
				   .payload = "resume " SESSION " 0"};

	(void)ud;
	m.len = strlen(m.payload);
	ck_assert_int_eq(tether_conn_send(c, &m, NULL), 0);
}

START_TEST(test_inbound_ws_flood)
{
	struct th_ws_server_opts so = {.behaviour = TH_WS_ECHO,
				       .history_max = 3000};
	struct sample sm = {0, 0};
	struct tether_conn_stats st = {.size = sizeof st};
	char uri[64], payload[1100];
	uint64_t base, end, close_ms;
	const unsigned n = 1500;

	ck_assert_int_eq(th_ws_server_start(&so, &wss), 0);
	memset(payload, 'x', sizeof payload - 1);
	payload[sizeof payload - 1] = '\0';
	for (unsigned i = 1; i <= n; i++)
		ck_assert_uint_eq(th_ws_server_publish(wss, SESSION, payload),
				  i);
	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/",
		 th_ws_server_port(wss));
	ck_assert_int_eq(tether_conn_new(mgr, "ws", "ws", &conn), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(conn, uri), 0);
	it_use_fixed(conn, "100ms");
	ck_assert_int_eq(tether_conn_set_inbound(conn, BOUND_MSGS, 64u << 10),
			 0);
	ck_assert_int_eq(tether_conn_set_resume_cb(conn, resume_hook, NULL),
			 0);
	base = rss_bytes();
	it_start(conn);
	end = now_ms() + 20000;
	while (atomic_load(&n_distinct) < n && now_ms() < end)
		sample_for(conn, 100, &sm);
	close_ms = stop_ms(conn);
	ck_assert_int_eq(tether_conn_stats(conn, &st), 0);
	printf("inbound ws: %u published, %u distinct of %u delivered, max "
	       "held %llu, rss +%llu KiB, close %llu ms\n",
	       n, atomic_load(&n_distinct), atomic_load(&n_msgs),
	       (unsigned long long)sm.max_held,
	       (unsigned long long)((sm.max_rss > base ? sm.max_rss - base
						       : 0) >> 10),
	       (unsigned long long)close_ms);
	fflush(stdout);
	ck_assert_uint_eq(atomic_load(&n_distinct), n);
	ck_assert_uint_eq(atomic_load(&n_bad), 0);
	/* lws may hand over what it had already read when reading stops:
	   a frame or two beyond the bound */
	ck_assert_uint_le(sm.max_held, BOUND_MSGS + 8);
	if (RSS_CHECKED)
		ck_assert_uint_lt(sm.max_rss, base + BOUND_BYTES + RSS_SLACK);
	ck_assert_uint_eq(st.inbound_dropped_full, 0);
	ck_assert_uint_lt(close_ms, 1000);
}
END_TEST

static Suite *inbound_suite(void)
{
	Suite *s = suite_create("inbound");
	TCase *tc = it_tcase(s, "mqtt", setup, teardown, 60);

	tcase_add_test(tc, test_inbound_mqtt_qos0_flood);
	tcase_add_test(tc, test_inbound_mqtt_qos1_flood_stop_start);
	tcase_add_test(tc, test_inbound_mqtt_too_large);
	tc = it_tcase(s, "ws", setup, teardown, 60);
	tcase_add_test(tc, test_inbound_ws_flood);
	return s;
}

TTH_CHECK_MAIN_MOSQUITTO(inbound_suite)
