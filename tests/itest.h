/*
 * Shared by the runtime and integration suites: a manager whose events are
 * recorded (thread-safe), waits on them (threaded or host-driven loop), and
 * a check that every callback ran on the loop thread.
 */
#ifndef TETHER_ITEST_H
#define TETHER_ITEST_H

#include <check.h>
#include <stdint.h>

#include <tether/policy.h>
#include <tether/tether.h>

struct it_ev {
	enum tether_event_type type;
	enum tether_state state;
	int cls, kind, code; /* of the reason; cls -1 without one */
	int error;
	int dup; /* MESSAGE: the message's dup flag */
	char props[128]; /* MESSAGE: "name=value;..." (numbers in decimal,
			    user properties as "user:name=value") */
	uint64_t at, msg_id, delay_ms;
	uint64_t ev_at; /* the event's own now_ms (the engine's clock when it
			   decided), unlike `at`, the recorder's clock */
	uint64_t retry_after_ms; /* of the reason */
	const tether_conn *conn;
	char payload[128];
	char text[128];
	char ref[128];
	char detail[128]; /* the event's detail, also when it has a reason */
};

extern tether_mgr *it_mgr;

/* A fresh manager with the recorder as its callback; host_driven: the test
 * thread runs the loop inside it_wait, else the manager's own thread. */
void it_setup(int host_driven);
void it_teardown(void);
/* Called for every event after it is recorded (on the loop thread). */
void it_set_hook(void (*hook)(tether_conn *c, const struct tether_event *ev));

/* conn NULL matches any connection. */
int it_count(const tether_conn *conn, enum tether_event_type t);
/* Index of the nth (0-based) such event, or -1. */
int it_find(const tether_conn *conn, enum tether_event_type t, int nth);
/* A copy of event i. */
struct it_ev it_get(int i);
/* Until n such events or ms pass; returns whether they came. */
int it_wait(const tether_conn *conn, enum tether_event_type t, int n, int ms);
/* Let the loop run for ms (host-driven: drive it). */
void it_run(int ms);
/* Callbacks that ran anywhere but on the loop thread. */
int it_wrong_thread(void);

uint64_t it_now_ms(void);
/* Upper timing bounds are widened when TETHER_TEST_SLOW is set. */
uint64_t it_slack(uint64_t ms);
/* A tcase named name with a checked fixture and a timeout, already added
 * to s (tests may be added to it afterwards). */
TCase *it_tcase(Suite *s, const char *name, void (*setup)(void),
		void (*teardown)(void), double timeout_s);

/* {type: fixed, interval: <interval>} (free it). */
tether_params *it_fixed(const char *interval);
/* Give c that fixed policy; fails the test with the error if refused. */
void it_use_fixed(tether_conn *c, const char *interval);
/* tether_conn_start, failing the test with tether_conn_error if refused. */
void it_start(tether_conn *c);

#endif
