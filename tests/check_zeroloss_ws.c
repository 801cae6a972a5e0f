/*
 * Messages survive WebSocket disconnects (issue 5, docs/architecture.md): the
 * harness's WebSocket server publishes 100,000 numbered messages into a
 * session ("seq <N> <payload>" frames, a history it replays after the
 * client's last sequence); a tether connection behind a fault proxy
 * reads them while the test forces outages of four kinds: RST, blackhole
 * (found by tether's heartbeat), refused connections, and the server
 * closing every connection with 1001. After each connect the resume hook
 * (tether_conn_set_resume_cb) sends "resume <session> <newest seq
 * received>" ahead of anything else. Every message arrives, in order, no
 * gap reported by the server, and no duplicate.
 *
 * By hand: TETHER_ZEROLOSS_N (message count), TETHER_ZEROLOSS_OUTAGES,
 * TETHER_ZEROLOSS_VERBOSE (the connection's events on stderr).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/tether.h>

#include "check-int.h"
#include "itest.h"
#include "proxy.h"
#include "ws_server.h"

#define DEFAULT_N 100000
#define SESSION "zl"
#define MIN_OUTAGES 20
#define MAX_OUTAGES 60
#define FAULT_BUDGET_MS 100000
#define SETTLE_MS 60000

enum outage_kind { O_RST = 0, O_BLACKHOLE, O_REFUSE, O_CLOSE, O_KINDS };
static const char *const kind_name[O_KINDS] = {"rst", "blackhole", "refused",
					       "server close 1001"};

static struct th_ws_server *srv;
static struct th_proxy *px;
static tether_mgr *mgr;
static tether_conn *conn;
static pthread_t pub_th;
static int pub_started;

static uint32_t n_msgs, pub_rate;
static int min_outages, verbose;
static int outages[O_KINDS];
/* the loop thread's: newest seq received, and what it has seen */
static uint64_t newest;
static _Atomic uint16_t *seen;
static atomic_uint n_distinct, n_dups, n_out_of_order, n_bad, n_gap;
static atomic_uint n_resume_sent, n_resume_err, n_wrong_thread, n_fatal;
static atomic_uint downs, ups;
static atomic_int pub_done, pub_stop;

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

static void resume(tether_conn *c, void *ud)
{
	char text[64];
	struct tether_message m = {.size = sizeof m, .payload = text};

	(void)ud;
	m.len = (size_t)snprintf(text, sizeof text, "resume %s %llu", SESSION,
				 (unsigned long long)newest);
	if (tether_conn_send(c, &m, NULL) == 0)
		atomic_fetch_add(&n_resume_sent, 1);
	else
		atomic_fetch_add(&n_resume_err, 1);
}

static void on_message(const struct tether_message *msg)
{
	char buf[64];
	unsigned long long seq, payload;
	size_t len = msg->len;

	if (len >= sizeof buf) {
		atomic_fetch_add(&n_bad, 1);
		return;
	}
	memcpy(buf, msg->payload, len);
	buf[len] = '\0';
	if (strncmp(buf, "gap ", 4) == 0) {
		atomic_fetch_add(&n_gap, 1);
		return;
	}
	if (sscanf(buf, "seq %llu %llu", &seq, &payload) != 2 ||
	    seq != payload || seq == 0 || seq > n_msgs) {
		atomic_fetch_add(&n_bad, 1);
		return;
	}
	if (seq != newest + 1)
		atomic_fetch_add(&n_out_of_order, 1);
	if (seq > newest)
		newest = seq;
	if (atomic_fetch_add(&seen[seq - 1], 1) == 0)
		atomic_fetch_add(&n_distinct, 1);
	else
		atomic_fetch_add(&n_dups, 1);
}

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	(void)c;
	(void)ud;
	if (!tether_mgr_is_loop_thread(mgr))
		atomic_fetch_add(&n_wrong_thread, 1);
	if (verbose && ev->type != TETHER_EV_MESSAGE &&
	    ev->type != TETHER_EV_SENT) {
		char why[200] = "";
		if (ev->reason)
			tether_reason_format(ev->reason, why, sizeof why);
		fprintf(stderr, "%llu %s %s %s\n",
			(unsigned long long)ev->now_ms,
			tether_event_name(ev->type),
			tether_state_name(ev->state), why);
	}
	switch (ev->type) {
	case TETHER_EV_MESSAGE:
		on_message(ev->message);
		break;
	case TETHER_EV_DOWN:
		atomic_fetch_add(&downs, 1);
		break;
	case TETHER_EV_UP:
		atomic_fetch_add(&ups, 1);
		break;
	case TETHER_EV_FATAL:
	case TETHER_EV_GIVE_UP:
		atomic_fetch_add(&n_fatal, 1);
		break;
	default:
		break;
	}
}

static void setup(void)
{
	srv = NULL;
	px = NULL;
	mgr = NULL;
	conn = NULL;
	pub_started = 0;
	newest = 0;
	memset(outages, 0, sizeof outages);
	atomic_store(&n_distinct, 0);
	atomic_store(&n_dups, 0);
	atomic_store(&n_out_of_order, 0);
	atomic_store(&n_bad, 0);
	atomic_store(&n_gap, 0);
	atomic_store(&n_resume_sent, 0);
	atomic_store(&n_resume_err, 0);
	atomic_store(&n_wrong_thread, 0);
	atomic_store(&n_fatal, 0);
	atomic_store(&downs, 0);
	atomic_store(&ups, 0);
	atomic_store(&pub_done, 0);
	atomic_store(&pub_stop, 0);
	verbose = getenv("TETHER_ZEROLOSS_VERBOSE") != NULL;
	min_outages = MIN_OUTAGES;
	if (getenv("TETHER_ZEROLOSS_OUTAGES"))
		min_outages = atoi(getenv("TETHER_ZEROLOSS_OUTAGES"));
	n_msgs = DEFAULT_N;
	if (getenv("TETHER_ZEROLOSS_N"))
		n_msgs =
		    (uint32_t)strtoul(getenv("TETHER_ZEROLOSS_N"), NULL, 10);
	ck_assert_uint_gt(n_msgs, 0);
	seen = calloc(n_msgs, sizeof(*seen));
	ck_assert(seen);
	ck_assert_int_eq(tether_mgr_new(&mgr), 0);
	ck_assert_int_eq(tether_mgr_set_event_cb(mgr, on_event, NULL), 0);
	ck_assert_int_eq(tether_mgr_start(mgr), 0);
}

static void teardown(void)
{
	if (pub_started) {
		atomic_store(&pub_stop, 1);
		pthread_join(pub_th, NULL);
	}
	tether_mgr_free(mgr);
	th_proxy_free(px);
	th_ws_server_free(srv);
	free((void *)seen);
}

/* The server side's application: numbered messages at pub_rate. */
static void *publisher(void *arg)
{
	uint64_t t0 = it_now_ms();

	(void)arg;
	for (uint32_t i = 1; i <= n_msgs && !atomic_load(&pub_stop);) {
		char text[16];

		if (it_now_ms() < t0 + (uint64_t)(i - 1) * 1000 / pub_rate) {
			sleep_ms(1);
			continue;
		}
		snprintf(text, sizeof text, "%u", i);
		if (th_ws_server_publish(srv, SESSION, text) != i)
			break; /* the count check below fails */
		i++;
	}
	atomic_store(&pub_done, 1);
	return NULL;
}

static int wait_until(atomic_uint *v, unsigned want, int ms)
{
	uint64_t end = it_now_ms() + (uint64_t)ms;

	while (atomic_load(v) < want && it_now_ms() < end)
		sleep_ms(5);
	return atomic_load(v) >= want;
}

static void outage(enum outage_kind k)
{
	unsigned d0 = atomic_load(&downs), u0 = atomic_load(&ups);

	switch (k) {
	case O_RST:
		th_proxy_cut(px, 1);
		break;
	case O_BLACKHOLE:
		th_proxy_set_mode(px, TH_PROXY_BLACKHOLE, 0);
		wait_until(&downs, d0 + 1, 10000); /* the heartbeat */
		th_proxy_set_mode(px, TH_PROXY_PASS, 0);
		break;
	case O_REFUSE:
		th_proxy_set_mode(px, TH_PROXY_REFUSE, 0);
		th_proxy_cut(px, 0);
		sleep_ms(500);
		th_proxy_set_mode(px, TH_PROXY_PASS, 0);
		break;
	case O_CLOSE:
		th_ws_server_close_all(srv, 1001, "going away");
		break;
	default:
		break;
	}
	ck_assert_msg(wait_until(&downs, d0 + 1, 10000),
		      "outage %s: the connection saw no loss", kind_name[k]);
	ck_assert_msg(wait_until(&ups, u0 + 1, 10000),
		      "outage %s: the connection did not come back",
		      kind_name[k]);
	outages[k]++;
}

START_TEST(test_zeroloss_ws_resume_outages)
{
	struct th_ws_server_opts so = {.behaviour = TH_WS_ECHO};
	char uri[64];
	uint64_t t0, t_faults, t_end;
	unsigned missing = 0;
	int n_out = 0;

	so.history_max = n_msgs;
	ck_assert_int_eq(th_ws_server_start(&so, &srv), 0);
	ck_assert_int_eq(th_proxy_start(th_ws_server_port(srv), &px), 0);
	snprintf(uri, sizeof uri, "ws://127.0.0.1:%u/", th_proxy_port(px));
	ck_assert_int_eq(tether_conn_new(mgr, "ws", "ws", &conn), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(conn, uri), 0);
	ck_assert_int_eq(
	    tether_conn_set_option(conn, "subprotocol", "tether-test"), 0);
	/* a blackhole is found within 300 + 200 x 2 ms */
	ck_assert_int_eq(tether_conn_set_heartbeat(conn, 300, 200, 2), 0);
	ck_assert_int_eq(tether_conn_set_timing(conn, "connect_timeout", 2000),
			 0);
	/* an outage every few seconds is, by definition, a flapping link:
	   this suite measures loss, not flap damping (check_machine and
	   check_mqtt do), so it turns the damping off */
	ck_assert_int_eq(tether_conn_set_timing(conn, "flap_window", 0), 0);
	ck_assert_int_eq(tether_conn_set_resume_cb(conn, resume, NULL), 0);
	it_use_fixed(conn, "100ms");
	it_start(conn);
	ck_assert(wait_until(&ups, 1, 10000));

	pub_rate = n_msgs / 40 ? n_msgs / 40 : 1;
	t0 = it_now_ms();
	ck_assert_int_eq(pthread_create(&pub_th, NULL, publisher, NULL), 0);
	pub_started = 1;
	while (n_out < MAX_OUTAGES && it_now_ms() - t0 < FAULT_BUDGET_MS &&
	       (n_out < min_outages || !atomic_load(&pub_done))) {
		if (!min_outages) {
			sleep_ms(10);
			continue;
		}
		sleep_ms(400 + (unsigned)(n_out % 3) * 300); /* traffic */
		outage((enum outage_kind)(n_out % O_KINDS));
		n_out++;
	}
	atomic_store(&pub_stop, 1);
	pthread_join(pub_th, NULL);
	pub_started = 0;
	t_faults = it_now_ms();
	{
		uint64_t end = it_now_ms() + SETTLE_MS;
		while (it_now_ms() < end && atomic_load(&n_distinct) < n_msgs)
			sleep_ms(10);
	}
	sleep_ms(200); /* late duplicates would be counted too */
	t_end = it_now_ms();
	ck_assert_int_eq(tether_mgr_stop(mgr), 0);

	for (uint32_t i = 0; i < n_msgs; i++)
		missing += atomic_load(&seen[i]) == 0;
	printf("zeroloss ws: %llu messages published, %u delivered, %u "
	       "duplicates, %u missing, %u out of order, %u gaps; outages: %d "
	       "(rst %d, blackhole %d, refused %d, server close %d), downs "
	       "%u, resumes sent %u, accepted by the server %u; stream+faults "
	       "%.1f s, settle %.1f s, wall %.1f s\n",
	       (unsigned long long)th_ws_server_newest(srv, SESSION),
	       atomic_load(&n_distinct), atomic_load(&n_dups), missing,
	       atomic_load(&n_out_of_order), atomic_load(&n_gap), n_out,
	       outages[O_RST], outages[O_BLACKHOLE], outages[O_REFUSE],
	       outages[O_CLOSE], atomic_load(&downs),
	       atomic_load(&n_resume_sent), th_ws_server_resumes(srv),
	       (double)(t_faults - t0) / 1000,
	       (double)(t_end - t_faults) / 1000, (double)(t_end - t0) / 1000);
	fflush(stdout);

	ck_assert_uint_eq(th_ws_server_newest(srv, SESSION), n_msgs);
	ck_assert_int_ge(n_out, min_outages);
	for (int k = 0; k < O_KINDS; k++)
		ck_assert_int_ge(outages[k], min_outages / O_KINDS);
	ck_assert_uint_eq(missing, 0);
	ck_assert_uint_eq(atomic_load(&n_distinct), n_msgs);
	ck_assert_uint_eq(atomic_load(&n_dups), 0);
	ck_assert_uint_eq(atomic_load(&n_out_of_order), 0);
	ck_assert_uint_eq(atomic_load(&n_gap), 0);
	ck_assert_uint_eq(atomic_load(&n_bad), 0);
	ck_assert_uint_eq(atomic_load(&n_resume_err), 0);
	/* one resume per link */
	ck_assert_uint_eq(atomic_load(&n_resume_sent), atomic_load(&ups));
	ck_assert_uint_ge(th_ws_server_resumes(srv), (unsigned)n_out + 1);
	ck_assert_uint_eq(atomic_load(&n_fatal), 0);
	ck_assert_uint_eq(atomic_load(&n_wrong_thread), 0);
}
END_TEST

static Suite *zeroloss_ws_suite(void)
{
	Suite *s = suite_create("zeroloss_ws");
	TCase *tc = it_tcase(s, "ws", setup, teardown, 240);
	tcase_add_test(tc, test_zeroloss_ws_resume_outages);
	return s;
}

TTH_CHECK_MAIN(zeroloss_ws_suite)
