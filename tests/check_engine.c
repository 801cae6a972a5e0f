/*
 * The engine on virtual time: actions reach the transport, timers fire at
 * their exact millisecond, the limiter spaces attempts, events arrive in
 * order once the machine is consistent, and callbacks may call back in.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check-int.h"
#include "engine-int.h"
#include "util-int.h"

#define MAXLOG 256

struct ioentry {
	char what;	/* 'c'onnect 'a'bort 'x' close */
	int conn;
	uint32_t id;
	uint64_t at;
};

static struct tth_engine eng;
static uint64_t vnow;
static struct ioentry iolog[MAXLOG];
static int nio;
static struct tether_event evlog[MAXLOG];
static int evconn[MAXLOG];
static int evcls[MAXLOG];
static char evtext[MAXLOG][32];
static int nev;
static struct tth_econn conns[4];
static tether_policy *pols[4];
static struct tth_machine_cfg mcfg;
static int stop_on_up = -1;

static uint64_t vclock(void *ud)
{
	(void)ud;
	return vnow;
}

static int idx(struct tth_econn *c)
{
	return (int)(c - conns);
}

static void io_log(char what, struct tth_econn *c, uint32_t id)
{
	ck_assert_int_lt(nio, MAXLOG);
	iolog[nio++] = (struct ioentry){what, idx(c), id, vnow};
}

static void io_connect(void *ud, struct tth_econn *c, uint32_t ep, uint32_t id)
{
	(void)ud;
	(void)ep;
	io_log('c', c, id);
}
static void io_abort(void *ud, struct tth_econn *c, uint32_t id)
{
	(void)ud;
	io_log('a', c, id);
}
static void io_close(void *ud, struct tth_econn *c, uint32_t id)
{
	(void)ud;
	io_log('x', c, id);
}
static void io_event(void *ud, struct tth_econn *c,
		     const struct tether_event *ev)
{
	(void)ud;
	ck_assert_int_lt(nev, MAXLOG);
	evconn[nev] = idx(c);
	evcls[nev] = ev->reason ? (int)ev->reason->cls : -1;
	evtext[nev][0] = '\0';
	if (ev->reason && ev->reason->text)
		strncat(evtext[nev], ev->reason->text, sizeof evtext[0] - 1);
	evlog[nev++] = *ev;
	if (ev->type == TETHER_EV_UP && idx(c) == stop_on_up)
		tth_engine_stop(&eng, c); /* re-entrant call from a callback */
}

static const struct tth_engine_io io = {
	.connect = io_connect,
	.abort = io_abort,
	.close = io_close,
	.event = io_event,
};

static void setup(void)
{
	tether_params *p = tether_params_new("test");
	char err[256];

	tether_params_set(p, "type", "fixed", NULL);
	tether_params_set(p, "interval", "2s", NULL);
	vnow = 5000;
	nio = nev = 0;
	stop_on_up = -1;
	tth_machine_cfg_defaults(&mcfg);
	tth_engine_init(&eng, vclock, NULL, &io, NULL);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(tether_policy_new(p, &pols[i], err, sizeof err), 0);
		tth_econn_init(&eng, &conns[i], &mcfg, pols[i], NULL, 1, i, NULL);
	}
	tether_params_free(p);
}

static void teardown(void)
{
	for (int i = 0; i < 4; i++) {
		tth_econn_detach(&eng, &conns[i]);
		tether_policy_free(pols[i]);
	}
	tth_engine_cleanup(&eng);
}

static void advance(uint64_t to)
{
	while (tth_engine_next_due(&eng) <= to) {
		vnow = tth_engine_next_due(&eng) > vnow ? tth_engine_next_due(&eng) : vnow;
		tth_engine_run_due(&eng);
	}
	vnow = to;
}

static int count_io(char what, int conn)
{
	int n = 0;
	for (int i = 0; i < nio; i++)
		n += iolog[i].what == what && iolog[i].conn == conn;
	return n;
}

START_TEST(test_engine_start_reports_idle_to_connecting)
{
	tth_engine_start(&eng, &conns[0]);
	ck_assert_int_eq(nio, 1);
	ck_assert_int_eq(iolog[0].what, 'c');
	ck_assert_uint_eq(iolog[0].id, 1);
	ck_assert_int_eq(nev, 2);
	ck_assert_int_eq(evlog[0].type, TETHER_EV_STATE);
	ck_assert_int_eq(evlog[0].old_state, TETHER_STATE_IDLE);
	ck_assert_int_eq(evlog[0].state, TETHER_STATE_CONNECTING);
	ck_assert_int_eq(evlog[1].type, TETHER_EV_ATTEMPT);
	ck_assert_uint_eq(evlog[1].now_ms, 5000);
}
END_TEST

START_TEST(test_engine_backoff_fires_at_the_exact_ms)
{
	struct tether_reason refused = {.kind = TETHER_KIND_SOCKET, .code = ECONNREFUSED};

	tth_engine_start(&eng, &conns[0]);
	vnow += 3;
	tth_engine_fail(&eng, &conns[0], 1, &refused);
	ck_assert_int_eq(conns[0].m.state, TETHER_STATE_BACKOFF);
	/* DOWN carries the classified reason; RETRY the delay */
	int down = -1, retry = -1;
	for (int i = 0; i < nev; i++) {
		if (evlog[i].type == TETHER_EV_DOWN) down = i;
		if (evlog[i].type == TETHER_EV_RETRY) retry = i;
	}
	ck_assert_int_ge(down, 0);
	ck_assert_int_gt(retry, down);
	ck_assert_int_eq(evlog[retry].delay_ms, 2000);
	advance(5003 + 1999);
	ck_assert_int_eq(count_io('c', 0), 1);
	advance(5003 + 2000);
	ck_assert_int_eq(count_io('c', 0), 2);
	ck_assert_uint_eq(iolog[nio - 1].at, 7003);
	ck_assert_uint_eq(iolog[nio - 1].id, 2);
}
END_TEST

START_TEST(test_engine_down_event_carries_classified_reason)
{
	struct tether_reason busy = {.kind = TETHER_KIND_MQTT5, .code = 0x89,
				     .by_peer = 1, .text = "server busy"};
	tth_engine_start(&eng, &conns[0]);
	tth_engine_fail(&eng, &conns[0], 1, &busy);
	int downs = 0;
	for (int i = 0; i < nev; i++)
		if (evlog[i].type == TETHER_EV_DOWN) {
			downs++;
			ck_assert_int_eq(evcls[i], TETHER_CLASS_OVERLOAD);
			ck_assert_str_eq(evtext[i], "server busy");
		}
	ck_assert_int_eq(downs, 1);
	ck_assert_int_eq(conns[0].m.reason.cls, TETHER_CLASS_OVERLOAD);
	/* 2 s policy delay raised to the 5 s overload floor */
	ck_assert_uint_eq(conns[0].timers[TTH_T_WAKE].t.due_ms, 5000 + 5000);
}
END_TEST

START_TEST(test_engine_limiter_spaces_attempts)
{
	tth_engine_set_limits(&eng, 1.0, 1, 0);
	tth_engine_start(&eng, &conns[0]);
	tth_engine_start(&eng, &conns[1]);
	tth_engine_start(&eng, &conns[2]);
	ck_assert_int_eq(count_io('c', 0), 1);
	ck_assert_int_eq(count_io('c', 1), 0);
	ck_assert_int_eq(conns[1].m.state, TETHER_STATE_SUSPENDED);
	/* the wait is reported, since it was not granted at once */
	ck_assert_int_eq(conns[1].reported, TETHER_STATE_SUSPENDED);
	advance(5999);
	ck_assert_int_eq(count_io('c', 1), 0);
	advance(6000);
	ck_assert_int_eq(count_io('c', 1), 1);
	ck_assert_int_eq(count_io('c', 2), 0); /* FIFO: 2 after 1 */
	advance(7000);
	ck_assert_int_eq(count_io('c', 2), 1);
}
END_TEST

START_TEST(test_engine_max_connecting_releases_in_order)
{
	tth_engine_set_limits(&eng, 0, 1, 1);
	tth_engine_start(&eng, &conns[0]);
	tth_engine_start(&eng, &conns[1]);
	tth_engine_start(&eng, &conns[2]);
	ck_assert_int_eq(nio, 1);
	tth_engine_up(&eng, &conns[0], 1);
	ck_assert_int_eq(count_io('c', 1), 1);
	ck_assert_int_eq(count_io('c', 2), 0);
	/* stopping a waiter gives its place to the next one */
	tth_engine_stop(&eng, &conns[1]); /* connecting: aborted, slot back */
	ck_assert_int_eq(count_io('a', 1), 1);
	ck_assert_int_eq(count_io('c', 2), 1);
	ck_assert_int_eq(conns[1].m.state, TETHER_STATE_CLOSED);
}
END_TEST

START_TEST(test_engine_stop_while_waiting_frees_the_queue)
{
	tth_engine_set_limits(&eng, 1.0, 1, 0);
	tth_engine_start(&eng, &conns[0]);
	tth_engine_start(&eng, &conns[1]);
	tth_engine_start(&eng, &conns[2]);
	tth_engine_stop(&eng, &conns[1]);
	ck_assert_int_eq(conns[1].m.state, TETHER_STATE_CLOSED);
	advance(6000);
	ck_assert_int_eq(count_io('c', 1), 0);
	ck_assert_int_eq(count_io('c', 2), 1);
}
END_TEST

START_TEST(test_engine_callbacks_may_call_back_in)
{
	stop_on_up = 0;
	tth_engine_start(&eng, &conns[0]);
	tth_engine_up(&eng, &conns[0], 1);
	/* the stop from inside the UP callback closed the link */
	ck_assert_int_eq(conns[0].m.state, TETHER_STATE_CLOSING);
	ck_assert_int_eq(count_io('x', 0), 1);
	/* order: STATE idle->connecting, ATTEMPT, STATE ->online, UP,
	   then what the callback caused: STATE online->closing */
	ck_assert_int_eq(nev, 5);
	ck_assert_int_eq(evlog[2].type, TETHER_EV_STATE);
	ck_assert_int_eq(evlog[2].state, TETHER_STATE_ONLINE);
	ck_assert_int_eq(evlog[3].type, TETHER_EV_UP);
	ck_assert_int_eq(evlog[4].type, TETHER_EV_STATE);
	ck_assert_int_eq(evlog[4].old_state, TETHER_STATE_ONLINE);
	ck_assert_int_eq(evlog[4].state, TETHER_STATE_CLOSING);
	tth_engine_closed(&eng, &conns[0], 1);
	ck_assert_int_eq(conns[0].m.state, TETHER_STATE_CLOSED);
	ck_assert_int_eq(evlog[nev - 1].type, TETHER_EV_CLOSED);
}
END_TEST

START_TEST(test_engine_close_timeout_aborts)
{
	tth_engine_start(&eng, &conns[0]);
	tth_engine_up(&eng, &conns[0], 1);
	tth_engine_stop(&eng, &conns[0]);
	advance(5000 + mcfg.close_timeout_ms);
	ck_assert_int_eq(count_io('a', 0), 1);
	ck_assert_int_eq(conns[0].m.state, TETHER_STATE_CLOSED);
}
END_TEST

START_TEST(test_engine_detach_leaves_nothing_behind)
{
	tth_engine_set_limits(&eng, 1.0, 1, 0);
	tth_engine_start(&eng, &conns[0]);
	tth_engine_start(&eng, &conns[1]);
	tth_econn_detach(&eng, &conns[1]);
	ck_assert_uint_eq(eng.lim.waiting, 0);
	tth_econn_detach(&eng, &conns[0]); /* was connecting: slot released */
	ck_assert_uint_eq(eng.lim.connecting, 0);
	for (int k = 0; k < TTH_T__COUNT; k++)
		ck_assert(!tth_timer_armed(&conns[0].timers[k].t));
}
END_TEST

/* ------------------------------------------------- coordinated recovery */

static const struct tether_reason eof = {.kind = TETHER_KIND_SOCKET,
					 .by_peer = 1};
static const struct tether_reason refused = {.kind = TETHER_KIND_SOCKET,
					     .code = ECONNREFUSED,
					     .by_peer = 1};

/* 0-2 share endpoint "k", 3 does not take part; all four online, then
 * every link drops at 6000: 0 probes, 1 and 2 wait, 3 is on its own. */
static void outage(void)
{
	static const char *const key[] = {"ws tcp://127.0.0.1:1"};

	tth_engine_set_limits(&eng, 0, 1, 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(tth_econn_set_keys(&conns[i], key, 1), 0);
	for (int i = 0; i < 4; i++) {
		tth_engine_start(&eng, &conns[i]);
		tth_engine_up(&eng, &conns[i], 1);
	}
	advance(6000);
	for (int i = 0; i < 4; i++)
		tth_engine_down(&eng, &conns[i], 1, &eof);
	/* fixed 2 s: all wake at 8000 */
	advance(8000);
}

static const struct tth_group *group(void)
{
	const struct tth_group *g =
		tth_engine_group(&eng, "ws tcp://127.0.0.1:1");
	ck_assert_ptr_nonnull(g);
	return g;
}

START_TEST(test_engine_coordinated_one_probes_the_others_wait)
{
	outage();
	ck_assert_int_eq(count_io('c', 0), 2); /* the prober */
	ck_assert_int_eq(count_io('c', 1), 1); /* waiting: no attempt */
	ck_assert_int_eq(count_io('c', 2), 1);
	ck_assert_int_eq(count_io('c', 3), 2); /* switched off: on its own */
	for (int i = 1; i <= 2; i++) {
		ck_assert_int_eq(conns[i].m.state, TETHER_STATE_SUSPENDED);
		ck_assert_int_eq(conns[i].m.cause, TTH_SUSP_PROBE);
	}
	ck_assert_ptr_eq(group()->prober, &conns[0]);
	ck_assert_uint_eq(group()->nwait, 2);
	ck_assert_uint_eq(group()->members, 3);
	/* the wait was reported: suspend, "endpoint probing" */
	int seen = 0;
	for (int i = 0; i < nev; i++)
		seen += evconn[i] == 1 && evlog[i].type == TETHER_EV_SUSPEND &&
			strcmp(evlog[i].detail, "endpoint probing") == 0;
	ck_assert_int_eq(seen, 1);
	/* the probe fails: with two waiting, the next is sooner than the
	   policy's 2 s (its share, or the probe interval) and nobody else
	   moves meanwhile */
	tth_engine_fail(&eng, &conns[0], 2, &refused);
	uint64_t due = conns[0].timers[TTH_T_WAKE].t.due_ms;
	ck_assert_uint_ge(due, 8000 + 2000 / 3);
	ck_assert_uint_le(due, 8000 + mcfg.probe_interval_ms);
	advance(due);
	ck_assert_int_eq(count_io('c', 0), 3);
	ck_assert_int_eq(count_io('c', 1), 1);
	/* it comes up: both are released at once (no limit set) */
	tth_engine_up(&eng, &conns[0], 3);
	ck_assert_int_eq(count_io('c', 1), 2);
	ck_assert_int_eq(count_io('c', 2), 2);
	ck_assert_int_eq(group()->failing, 0);
	ck_assert_uint_eq(group()->nwait, 0);
	ck_assert_uint_eq(group()->releases, 2);
}
END_TEST

START_TEST(test_engine_coordinated_fatal_is_never_shared)
{
	struct tether_reason bad_creds = {.kind = TETHER_KIND_MQTT3,
					  .code = 4, .by_peer = 1};
	outage();
	/* the prober's credentials are refused: it stops for good, but the
	   server answered, so the others go and try their own */
	tth_engine_fail(&eng, &conns[0], 2, &bad_creds);
	ck_assert_int_eq(conns[0].m.state, TETHER_STATE_CLOSED);
	ck_assert_int_eq(count_io('c', 1), 2);
	ck_assert_int_eq(count_io('c', 2), 2);
	ck_assert_int_eq(conns[1].m.state, TETHER_STATE_CONNECTING);
	ck_assert_int_eq(group()->failing, 0);
	/* and a fatal of one of them while healthy suspends nobody */
	tth_engine_fail(&eng, &conns[1], 2, &bad_creds);
	ck_assert_int_eq(conns[1].m.state, TETHER_STATE_CLOSED);
	ck_assert_int_eq(conns[2].m.state, TETHER_STATE_CONNECTING);
	ck_assert_int_eq(group()->failing, 0);
}
END_TEST

START_TEST(test_engine_coordinated_overload_slows_the_probe)
{
	struct tether_reason busy = {.kind = TETHER_KIND_MQTT5, .code = 0x89,
				     .by_peer = 1};
	outage();
	tth_engine_fail(&eng, &conns[0], 2, &busy);
	ck_assert_uint_eq(conns[0].timers[TTH_T_WAKE].t.due_ms,
			  8000 + mcfg.overload_floor_ms);
	advance(8000 + mcfg.overload_floor_ms - 1);
	ck_assert_int_eq(count_io('c', 0), 2);
	ck_assert_int_eq(count_io('c', 1), 1);
	advance(8000 + mcfg.overload_floor_ms);
	ck_assert_int_eq(count_io('c', 0), 3);
}
END_TEST

START_TEST(test_engine_coordinated_probe_passes_on)
{
	outage();
	/* the prober is stopped: the longest waiter probes at once */
	tth_engine_fail(&eng, &conns[0], 2, &refused);
	tth_engine_stop(&eng, &conns[0]);
	ck_assert_int_eq(count_io('c', 1), 2);
	ck_assert_int_eq(count_io('c', 2), 1);
	ck_assert_ptr_eq(group()->prober, &conns[1]);
	/* a waiter that stops leaves the queue */
	tth_engine_stop(&eng, &conns[2]);
	ck_assert_uint_eq(group()->nwait, 0);
	/* detaching the prober while one waits hands it on at the next
	   run of the timers */
	tth_engine_start(&eng, &conns[2]);
	ck_assert_int_eq(conns[2].m.cause, TTH_SUSP_PROBE);
	tth_econn_detach(&eng, &conns[1]);
	ck_assert_ptr_null(group()->prober);
	ck_assert_uint_eq(group()->members, 2);
	advance(vnow);
	ck_assert_ptr_eq(group()->prober, &conns[2]);
	ck_assert_int_eq(count_io('c', 2), 2);
}
END_TEST

START_TEST(test_engine_coordinated_release_goes_through_the_limiter)
{
	outage();
	tth_engine_set_limits(&eng, 1.0, 1, 0);
	vnow = 20000; /* bucket full again */
	tth_engine_up(&eng, &conns[0], 2);
	/* one token per second: 1 now, 2 a second later */
	ck_assert_int_eq(count_io('c', 1), 2);
	ck_assert_int_eq(count_io('c', 2), 1);
	/* the endpoint fails again meanwhile: 2 goes back to waiting
	   instead of spending its token on it */
	tth_engine_fail(&eng, &conns[1], 2, &refused);
	ck_assert_int_eq(conns[2].m.cause, TTH_SUSP_PROBE);
	ck_assert_uint_eq(eng.lim.waiting, 0);
	advance(21000);
	ck_assert_int_eq(count_io('c', 2), 1);
}
END_TEST

START_TEST(test_engine_coordinated_link_down_wastes_no_attempt)
{
	outage();
	tth_engine_fail(&eng, &conns[0], 2, &refused);
	/* the network goes: the link monitor tells each in turn */
	for (int i = 0; i < 4; i++)
		tth_engine_link(&eng, &conns[i], 0);
	advance(vnow + 1);
	/* no attempt handed on to a waiter that was about to hear it */
	ck_assert_int_eq(count_io('c', 0) + count_io('c', 1) + count_io('c', 2),
			 2 + 1 + 1);
	ck_assert_int_eq(count_io('a', 1) + count_io('a', 2), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(conns[i].m.cause, TTH_SUSP_LINK);
	ck_assert_uint_eq(group()->nwait, 0);
	/* it comes back: one probe for the endpoint, not three */
	for (int i = 0; i < 4; i++)
		tth_engine_link(&eng, &conns[i], 1);
	ck_assert_int_eq(count_io('c', 0) + count_io('c', 1) + count_io('c', 2),
			 2 + 1 + 1 + 1);
	ck_assert_uint_eq(group()->nwait, 2);
	ck_assert_int_eq(count_io('c', 3), 3); /* on its own */
}
END_TEST

static uint64_t rstate = 88172645463325252ull;
static uint64_t rnd(void)
{
	rstate ^= rstate << 13;
	rstate ^= rstate >> 7;
	rstate ^= rstate << 17;
	return rstate;
}

/* The bookkeeping agrees with the machines, and nobody waits for nobody. */
static void check_coord_invariants(void)
{
	uint32_t in_flight = 0;

	for (int i = 0; i < 4; i++) {
		struct tth_econn *c = &conns[i];
		if (c->held)
			ck_assert_ptr_eq(c->held, c->groups[c->m.endpoint]);
		if (c->m.state == TETHER_STATE_SUSPENDED &&
		    c->m.cause == TTH_SUSP_PROBE)
			ck_assert(c->held ||
				  (c->ready && c->pend == TTH_PEND_RESUME));
		else
			ck_assert_ptr_null(c->held);
		in_flight += c->m.state == TETHER_STATE_CONNECTING ||
			     (c->ready && c->pend == TTH_PEND_GRANT);
	}
	ck_assert_uint_eq(eng.lim.connecting, in_flight);
	for (const struct tth_group *g = eng.groups; g; g = g->next) {
		uint32_t held = 0;
		for (int i = 0; i < 4; i++)
			held += conns[i].held == g;
		ck_assert_uint_eq(held, g->nwait);
		if (g->failing && g->nwait)
			ck_assert(g->prober || tth_timer_armed(&g->kick.t));
		if (!g->failing)
			ck_assert_uint_eq(g->nwait, 0);
	}
}

START_TEST(test_engine_coordinated_random_races)
{
	static const struct tether_reason busy = {.kind = TETHER_KIND_MQTT5,
						  .code = 0x89, .by_peer = 1};
	static const struct tether_reason fatal = {.kind = TETHER_KIND_MQTT3,
						   .code = 4, .by_peer = 1};
	/* _i = 0: one endpoint; 1: two, failing over (3 shares only the
	   first, and comes second to the other) */
	static const char *const key[] = {"ws tcp://127.0.0.1:1",
					  "ws tcp://127.0.0.1:2"};
	static const char *const key3[] = {"ws tcp://127.0.0.1:2", NULL};
	int server_up = 0, link = 1;

	for (int i = 0; _i == 1 && i < 4; i++)
		tth_econn_init(&eng, &conns[i], &mcfg, pols[i], NULL, 2, i,
			       NULL);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(tth_econn_set_keys(&conns[i], key, 1 + _i), 0);
	if (_i == 1)
		ck_assert_int_eq(tth_econn_set_keys(&conns[3], key3, 2), 0);
	for (int i = 0; i < 4; i++)
		tth_engine_start(&eng, &conns[i]);
	for (int step = 0; step < 20000; step++) {
		uint64_t r = rnd();
		struct tth_econn *c = &conns[r % 4];
		switch ((r >> 8) % 10) {
		case 0:
			advance(vnow + (r >> 16) % 3000);
			break;
		case 1:
			if ((r >> 16) % 4 == 0)
				tth_engine_stop(&eng, c);
			else
				tth_engine_start(&eng, c);
			break;
		case 2:
		case 3:
		case 4: /* the server answers the attempt in flight */
			if (c->m.state != TETHER_STATE_CONNECTING)
				break;
			if (server_up)
				tth_engine_up(&eng, c, c->m.attempt_id);
			else
				tth_engine_fail(&eng, c, c->m.attempt_id,
						(r >> 16) % 5 == 0   ? &busy
						: (r >> 16) % 7 == 0 ? &fatal
								     : &refused);
			break;
		case 5:
			if (c->m.state == TETHER_STATE_ONLINE)
				tth_engine_down(&eng, c, c->m.attempt_id, &eof);
			else if (c->m.state == TETHER_STATE_CLOSING)
				tth_engine_closed(&eng, c, c->m.attempt_id);
			break;
		case 6:
			server_up = !server_up;
			break;
		case 7:
			if ((r >> 16) % 8 == 0) {
				link = !link;
				for (int i = 0; i < 4; i++)
					tth_engine_link(&eng, &conns[i], link);
			}
			break;
		default:
			advance(vnow + (r >> 16) % 200);
			break;
		}
		check_coord_invariants();
		nio = nev = 0; /* the logs only bound each step here */
	}
	/* then a good day: the network and the server are back, and every
	   connection gets online within a few policy delays */
	if (!link)
		for (int i = 0; i < 4; i++)
			tth_engine_link(&eng, &conns[i], 1);
	for (int i = 0; i < 4; i++)
		tth_engine_start(&eng, &conns[i]);
	for (int k = 0; k < 2000; k++) {
		for (int i = 0; i < 4; i++) {
			if (conns[i].m.state == TETHER_STATE_CONNECTING)
				tth_engine_up(&eng, &conns[i],
					      conns[i].m.attempt_id);
			else if (conns[i].m.state == TETHER_STATE_CLOSING)
				tth_engine_closed(&eng, &conns[i],
						  conns[i].m.attempt_id);
			else if (conns[i].m.state == TETHER_STATE_CLOSED)
				tth_engine_start(&eng, &conns[i]);
		}
		check_coord_invariants();
		nio = nev = 0;
		advance(vnow + 100);
	}
	/* the walk went through outages, waits and releases */
	printf("random races: %llu outages, %llu waits, %llu releases\n",
	       (unsigned long long)group()->outages,
	       (unsigned long long)group()->holds,
	       (unsigned long long)group()->releases);
	ck_assert_uint_gt(group()->outages, 10);
	ck_assert_uint_gt(group()->holds, 10);
	ck_assert_uint_gt(group()->releases, 10);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(conns[i].m.state == TETHER_STATE_ONLINE,
			      "conn %d %s cause %d", i,
			      tether_state_name(conns[i].m.state),
			      conns[i].m.cause);
}
END_TEST

START_TEST(test_engine_endpoint_keys)
{
	char k[128];

	ck_assert_int_eq(tth_endpoint_key("mqtt", "tcp://Broker.Example:1883", k, sizeof k), 0);
	ck_assert_str_eq(k, "mqtt tcp://broker.example:1883");
	/* default ports, user info and paths are not part of it */
	ck_assert_int_eq(tth_endpoint_key("mqtt", "TCP://u:p@127.0.0.1", k, sizeof k), 0);
	ck_assert_str_eq(k, "mqtt tcp://127.0.0.1:1883");
	ck_assert_int_eq(tth_endpoint_key("ws", "wss://[::1]/a/b?c", k, sizeof k), 0);
	ck_assert_str_eq(k, "ws wss://[::1]:443");
	ck_assert_int_eq(tth_endpoint_key("ws", "ws://127.0.0.1:8080/x", k, sizeof k), 0);
	ck_assert_str_eq(k, "ws ws://127.0.0.1:8080");
	ck_assert_int_eq(tth_endpoint_key("ws", "nonsense", k, sizeof k), 0);
	ck_assert_str_eq(k, "");
	ck_assert_int_eq(tth_endpoint_key("ws", "ws://127.0.0.1:8080", k, 8), TETHER_EINVAL);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("actions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_engine_start_reports_idle_to_connecting);
	tcase_add_test(tc, test_engine_backoff_fires_at_the_exact_ms);
	tcase_add_test(tc, test_engine_down_event_carries_classified_reason);
	tcase_add_test(tc, test_engine_close_timeout_aborts);
	suite_add_tcase(s, tc);
	tc = tcase_create("limiter");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_engine_limiter_spaces_attempts);
	tcase_add_test(tc, test_engine_max_connecting_releases_in_order);
	tcase_add_test(tc, test_engine_stop_while_waiting_frees_the_queue);
	tcase_add_test(tc, test_engine_detach_leaves_nothing_behind);
	suite_add_tcase(s, tc);
	tc = tcase_create("callbacks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_engine_callbacks_may_call_back_in);
	suite_add_tcase(s, tc);

	tc = tcase_create("coordinated");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_engine_coordinated_one_probes_the_others_wait);
	tcase_add_test(tc, test_engine_coordinated_fatal_is_never_shared);
	tcase_add_test(tc, test_engine_coordinated_overload_slows_the_probe);
	tcase_add_test(tc, test_engine_coordinated_probe_passes_on);
	tcase_add_test(tc, test_engine_coordinated_release_goes_through_the_limiter);
	tcase_add_test(tc, test_engine_coordinated_link_down_wastes_no_attempt);
	tcase_add_loop_test(tc, test_engine_coordinated_random_races, 0, 2);
	tcase_add_test(tc, test_engine_endpoint_keys);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(engine_suite)
