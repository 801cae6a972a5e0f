/*
 * The engine runs state machines for real: it owns the timer heap and the
 * limiter, executes the machines' actions through an I/O vtable (a real
 * transport in the runtime, a simulated server in core/sim.c and the
 * tests), and delivers events. Single-threaded; the clock is a function so
 * tests and the simulator run on virtual time.
 *
 * Re-entrancy: events are queued while machines step and delivered only
 * when the outermost engine call is about to return, so an event callback
 * may call back into the engine (start, stop...). Reason strings handed in
 * with an input must stay valid until that outermost call returns.
 */
#ifndef TETHER_ENGINE_INT_H
#define TETHER_ENGINE_INT_H

#include "limiter-int.h"
#include "machine-int.h"
#include "timer_heap-int.h"

struct tth_engine;

/* A heap timer with a handler. */
struct tth_etimer {
	struct tth_timer t;
	void (*fire)(struct tth_engine *e, struct tth_etimer *et);
};

/* One connection as the engine sees it. */
struct tth_econn {
	struct tth_machine m;
	struct tth_etimer timers[TTH_T__COUNT];
	struct tth_waiter waiter;
	struct tth_econn *ready_next; /* granted, GRANT not yet fed */
	enum tether_state reported;   /* last state given in a STATE event */
	unsigned ready : 1;
	void *user;
};

/* What the engine asks of its transport side; all calls on the engine's
 * thread, from inside engine calls. connect must not feed inputs back
 * synchronously (post them, or feed them from a timer). */
struct tth_engine_io {
	void (*connect)(void *ud, struct tth_econn *c, uint32_t endpoint,
			uint32_t attempt_id);
	void (*abort)(void *ud, struct tth_econn *c, uint32_t attempt_id);
	void (*close)(void *ud, struct tth_econn *c, uint32_t attempt_id);
	void (*redirect)(void *ud, struct tth_econn *c, const char *ref);
	void (*event)(void *ud, struct tth_econn *c,
		      const struct tether_event *ev);
};

struct tth_qevent;

struct tth_engine {
	struct tth_heap heap;
	struct tth_limiter lim;
	struct tth_etimer lim_timer;
	uint64_t (*clock)(void *ud);
	void *clock_ud;
	const struct tth_engine_io *io;
	void *io_ud;
	uint64_t now_ms; /* time of the current call */
	struct tth_econn *ready_head, *ready_tail;
	struct tth_qevent *evq;
	size_t evq_n, evq_cap;
	int depth;
	uint64_t events_lost; /* events dropped for lack of memory */
	uint64_t timers_lost; /* timers not armed for lack of memory */
};

/* The limiter starts unlimited (see tth_engine_set_limits). */
void tth_engine_init(struct tth_engine *e, uint64_t (*clock)(void *),
		     void *clock_ud, const struct tth_engine_io *io,
		     void *io_ud);
void tth_engine_cleanup(struct tth_engine *e);
/* rate tokens/s (0 = unlimited), burst >= 1, max_connecting (0 = no cap). */
void tth_engine_set_limits(struct tth_engine *e, double rate, uint64_t burst,
			   uint32_t max_connecting);

/* Make room in the heap for n more timers so arming never allocates. */
int tth_engine_reserve(struct tth_engine *e, size_t n_timers);

void tth_econn_init(struct tth_engine *e, struct tth_econn *c,
		    const struct tth_machine_cfg *cfg, tether_policy *policy,
		    const tether_classifier *classifier, uint32_t n_endpoints,
		    uint64_t seed, void *user);
/* Forget c: cancel its timers and its place in the limiter queue. */
void tth_econn_detach(struct tth_engine *e, struct tth_econn *c);

/* Feed one input (its now_ms is set from the clock). */
void tth_engine_input(struct tth_engine *e, struct tth_econn *c,
		      struct tth_input *in);
void tth_engine_start(struct tth_engine *e, struct tth_econn *c);
void tth_engine_stop(struct tth_engine *e, struct tth_econn *c);
void tth_engine_up(struct tth_engine *e, struct tth_econn *c, uint32_t id);
void tth_engine_fail(struct tth_engine *e, struct tth_econn *c, uint32_t id,
		     const struct tether_reason *r);
void tth_engine_down(struct tth_engine *e, struct tth_econn *c, uint32_t id,
		     const struct tether_reason *r);
void tth_engine_closed(struct tth_engine *e, struct tth_econn *c, uint32_t id);
void tth_engine_link(struct tth_engine *e, struct tth_econn *c, int up);

/* Fire every timer due at the clock's now. */
void tth_engine_run_due(struct tth_engine *e);
/* Earliest timer, or TTH_NEVER. */
uint64_t tth_engine_next_due(const struct tth_engine *e);

/* Timers of the engine's users (a simulated transport...). */
void tth_etimer_init(struct tth_etimer *et,
		     void (*fire)(struct tth_engine *, struct tth_etimer *));
void tth_engine_arm(struct tth_engine *e, struct tth_etimer *et,
		    uint64_t at_ms);
void tth_engine_cancel(struct tth_engine *e, struct tth_etimer *et);

#endif
