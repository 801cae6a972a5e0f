/*
 * The engine runs state machines for real: it owns the timer heap and the
 * limiter, executes the machines' actions through an I/O vtable (a real
 * transport in the runtime, a simulated server in core/sansio/sim.c and the
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
struct tth_econn;

/* A heap timer with a handler. */
struct tth_etimer {
	struct tth_timer t;
	void (*fire)(struct tth_engine *e, struct tth_etimer *et);
};

/* What a connection on the ready list will be fed. */
enum tth_pend {
	TTH_PEND_GRANT = 0, /* the limiter granted its token and slot */
	TTH_PEND_HOLD,      /* its endpoint is being probed: wait */
	TTH_PEND_RESUME     /* released from the wait (or now the prober) */
};

/*
 * Coordinated recovery (core/sansio/coord.c): the connections of one engine whose
 * endpoint has the same key (transport and host:port) share its health.
 * While it is failing one of them, the prober, attempts it on its own
 * policy's schedule (shortened by the number waiting, see
 * tth_input.waiting); the others wait in SUSPENDED(probe) without spending
 * attempts, and are released through the limiter when an attempt on the
 * endpoint gets an answer.
 */
struct tth_group {
	struct tth_group *next; /* the engine's list */
	char *key;
	int failing;
	struct tth_econn *prober;     /* the one allowed to attempt */
	struct tth_econn *head, *tail; /* waiting, FIFO */
	uint32_t nwait;
	uint32_t members;
	struct tth_etimer kick; /* hands the probe on after a detach */
	uint64_t holds, releases, outages; /* totals */
};

/* One connection as the engine sees it. */
struct tth_econn {
	struct tth_machine m;
	struct tth_etimer timers[TTH_T__COUNT];
	struct tth_waiter waiter;
	struct tth_econn *ready_next; /* on the ready list: input not yet fed */
	enum tether_state reported;   /* last state given in a STATE event */
	unsigned ready : 1;
	unsigned pend : 2;  /* enum tth_pend: what the ready list feeds */
	unsigned pass : 1;  /* the acquire of this step skips the gate */
	/* coordinated recovery: endpoint keys (set before the first input)
	   and their groups, resolved on the engine's thread */
	char **keys;
	uint32_t nkeys;
	struct tth_group **groups;
	struct tth_group *held; /* the group whose queue it waits in */
	struct tth_econn *hnext, *hprev;
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
	struct tth_group *groups;
	uint64_t coord_lost; /* connections left uncoordinated (no memory) */
};

/* The manager's default limiter (reasoning in docs/policies.md,
 * "Coordinated recovery"): releases 2,000 waiting connections in 2 s, and
 * no 1 s window ever holds more than 1,000 attempts. */
#define TTH_DEFAULT_CONNECTS_PER_SECOND \
	((double)TETHER_DEFAULT_CONNECTS_PER_SECOND)
#define TTH_DEFAULT_BURST TETHER_DEFAULT_BURST

/* The limiter starts at the defaults above (see tth_engine_set_limits). */
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
/* Forget c: cancel its timers, its place in the limiter queue and in its
 * endpoint groups, and free its keys. Also for a c never started. */
void tth_econn_detach(struct tth_engine *e, struct tth_econn *c);

/* Coordinated recovery for c: keys[i] names endpoint i's shared health
 * (NULL or "" for none; see tth_endpoint_key). Copied. Before c's first
 * input; touches only c, so any thread that owns c may call it.
 * 0 or TETHER_ENOMEM (c stays uncoordinated). */
int tth_econn_set_keys(struct tth_econn *c, const char *const *keys,
		       uint32_t n);
/* "transport scheme://host:port" for a URI (host lowercased, the scheme's
 * default port filled in), or an empty string when the URI has no
 * authority. 0, or TETHER_EINVAL when it does not fit in len. */
int tth_endpoint_key(const char *transport, const char *uri, char *out,
		     size_t len);
/* The group with this key, or NULL (tests, metrics). */
const struct tth_group *tth_engine_group(const struct tth_engine *e,
					 const char *key);

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

/* Between engine.c and coord.c. */
void tth_engine_ready_push(struct tth_engine *e, struct tth_econn *c,
			   enum tth_pend what);
void tth_engine_ready_unlink(struct tth_engine *e, struct tth_econn *c);
void tth_coord_resolve(struct tth_engine *e, struct tth_econn *c);
uint32_t tth_coord_waiting(const struct tth_econn *c);
int tth_coord_gate(struct tth_engine *e, struct tth_econn *c);
int tth_coord_resume_ok(struct tth_engine *e, struct tth_econn *c);
void tth_coord_wait(struct tth_engine *e, struct tth_econn *c,
		    uint32_t endpoint);
void tth_coord_cancel_wait(struct tth_engine *e, struct tth_econn *c);
void tth_coord_after(struct tth_engine *e, struct tth_econn *c,
		     enum tether_state old_state, uint32_t old_endpoint);
void tth_coord_detach(struct tth_engine *e, struct tth_econn *c);
void tth_coord_cleanup(struct tth_engine *e);

/* Timers of the engine's users (a simulated transport...). */
void tth_etimer_init(struct tth_etimer *et,
		     void (*fire)(struct tth_engine *, struct tth_etimer *));
void tth_engine_arm(struct tth_engine *e, struct tth_etimer *et,
		    uint64_t at_ms);
void tth_engine_cancel(struct tth_engine *e, struct tth_etimer *et);

#endif
