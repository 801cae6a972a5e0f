/*
 * The per-connection state machine (docs/state-machine.md), sans-I/O:
 *
 *     tth_machine_step(m, input) -> new state + actions
 *
 * The machine never reads a clock, never does I/O and never allocates: the
 * input carries the time, and the caller (core/sansio/engine.c) executes the
 * actions in order. It owns no transport; it names attempts by id, and any
 * input about another attempt than the current one is stale and ignored
 * (single flight: at most one attempt in flight, ever).
 */
#ifndef TETHER_MACHINE_INT_H
#define TETHER_MACHINE_INT_H

#include <tether/policy.h>
#include <tether/tether.h>

enum tth_input_type {
	TTH_IN_START = 0, /* the application starts the connection */
	TTH_IN_STOP,      /* the application stops it */
	TTH_IN_GRANT,     /* the limiter granted a connect token */
	TTH_IN_UP,        /* transport: attempt attempt_id is up */
	TTH_IN_FAIL,      /* transport: attempt attempt_id failed (reason) */
	TTH_IN_DOWN,      /* transport: link of attempt_id lost (reason) */
	TTH_IN_CLOSED,    /* transport: orderly close of attempt_id done */
	TTH_IN_TIMER,     /* timer `timer` fired */
	TTH_IN_LINK_DOWN, /* the network link went down */
	TTH_IN_LINK_UP,   /* link or default route came up */
	TTH_IN_HOLD,      /* coordinated recovery: the endpoint is failing and
			     another connection probes it; wait (fed only
			     while no token request is pending) */
	TTH_IN_RESUME,    /* coordinated recovery: go (the probe succeeded,
			     or this connection probes now) */
	TTH_IN__COUNT
};

enum tth_timer_kind {
	TTH_T_WAKE = 0, /* end of BACKOFF or of a policy SUSPEND */
	TTH_T_CONNECT,  /* connect_timeout of the attempt in flight */
	TTH_T_CLOSE,    /* close_timeout while CLOSING */
	TTH_T_STABLE,   /* ONLINE long enough: the streak is over */
	TTH_T_FAILBACK, /* ONLINE on a secondary long enough: try endpoint 0 */
	TTH_T__COUNT
};

/* Why a machine is SUSPENDED. */
enum tth_suspend_cause {
	TTH_SUSP_NONE = 0,
	TTH_SUSP_TOKEN,  /* waiting for the limiter */
	TTH_SUSP_POLICY, /* the policy said SUSPEND (breaker open) */
	TTH_SUSP_LINK,   /* the network link is down */
	TTH_SUSP_PROBE   /* another connection probes the failing endpoint */
};

/* The endpoint slot a redirect target occupies. */
#define TTH_EP_REDIRECT UINT32_MAX

struct tth_input {
	enum tth_input_type type;
	uint64_t now_ms;
	uint32_t attempt_id;               /* UP, FAIL, DOWN, CLOSED */
	enum tth_timer_kind timer;         /* TIMER */
	const struct tether_reason *reason; /* FAIL, DOWN (may be NULL) */
	/* Coordinated recovery: how many connections wait for this one's
	   probe of the endpoint (0: it probes for itself alone). A retry
	   delay the policy chooses now is shortened to share the probe. */
	uint32_t waiting;
};

enum tth_action_type {
	TTH_ACT_CONNECT = 0,   /* start attempt attempt_id on endpoint */
	TTH_ACT_ABORT,         /* drop attempt attempt_id at once, no events */
	TTH_ACT_CLOSE,         /* close attempt attempt_id orderly; expect
				  CLOSED or DOWN */
	TTH_ACT_ARM,           /* arm timer at at_ms */
	TTH_ACT_CANCEL,        /* cancel timer */
	TTH_ACT_ACQUIRE,       /* ask the limiter for a token */
	TTH_ACT_CANCEL_ACQUIRE, /* withdraw the request */
	TTH_ACT_RELEASE,       /* the granted attempt finished */
	TTH_ACT_REDIRECT,      /* remember ref as endpoint TTH_EP_REDIRECT */
	TTH_ACT_EMIT,          /* report event (reason: the step's reason) */
	TTH_ACT_WAIT,          /* join the probe queue of endpoint: expect
				  RESUME */
	TTH_ACT_CANCEL_WAIT    /* leave it */
};

struct tth_action {
	enum tth_action_type type;
	enum tth_timer_kind timer;
	enum tether_event_type event;
	uint32_t endpoint;
	uint32_t attempt_id;
	uint64_t at_ms;
	uint64_t delay_ms;
	const char *detail; /* static text or the step's borrowed strings */
	int with_reason;    /* EMIT: the event carries m->reason */
};

#define TTH_MAX_ACTIONS 16

struct tth_actions {
	size_t n;
	struct tth_action v[TTH_MAX_ACTIONS];
};

/* Settings of one connection's machine; all durations in ms. */
struct tth_machine_cfg {
	uint64_t connect_timeout_ms; /* 0 = none */
	uint64_t close_timeout_ms;
	uint64_t stable_after_ms;   /* ONLINE this long ends a failure streak */
	uint64_t overload_floor_ms; /* minimum delay after an overload */
	uint64_t failback_after_ms; /* 0 = no failback */
	uint32_t max_redirects;     /* in a row, before redirect = transient */
	uint64_t probe_interval_ms; /* coordinated recovery: longest delay
				       between shared probes while others
				       wait (drawn in [1/2, 1] of it) */
	uint64_t flap_window_ms;    /* a link the peer closes within this of
				       coming up is a flap; 0 = off */
	uint64_t retry_after_max_ms; /* bound of a peer's retry-after hint
					(reason.retry_after_ms); 0 = ignore
					hints */
};

/* Flap damping: from the TTH_FLAP_AT-th flap in a row, a WARNING names
 * the likely cause and a retry waits at least overload_floor doubled per
 * further flap, at most TTH_FLAP_MAX_MS. */
#define TTH_FLAP_AT 3
#define TTH_FLAP_MAX_MS 60000

/* Defaults: connect 10 s, close 2 s, stable 5 s, overload floor 5 s,
 * no failback, 5 redirects, probe interval 1 s, flap window 10 s,
 * retry-after hints up to 60 s (the default `max` of the exponential and
 * adaptive policies). */
void tth_machine_cfg_defaults(struct tth_machine_cfg *cfg);

struct tth_machine {
	enum tether_state state;
	enum tth_suspend_cause cause;
	uint32_t attempt_id;  /* latest attempt; 0 before the first */
	uint32_t rounds;      /* failed rounds in the streak (policy attempt) */
	uint32_t tried;       /* endpoints failed in the current round */
	uint32_t redirects;   /* redirects followed since last stable */
	uint32_t endpoint;    /* index in use, or TTH_EP_REDIRECT */
	uint32_t n_endpoints; /* >= 1 */
	uint32_t restart_endpoint;
	unsigned in_streak : 1, link_down : 1, restart : 1;
	uint64_t streak_start_ms;
	uint64_t attempt_start_ms;
	const struct tth_machine_cfg *cfg; /* borrowed */
	tether_policy *policy;             /* borrowed */
	const tether_classifier *classifier; /* borrowed; may be NULL */
	struct tether_rng rng;
	/* The reason of the latest step (classified); strings borrowed from
	 * the input, so valid only while the step's actions are executed. */
	struct tether_reason reason;
	int has_reason;
	uint32_t waiting; /* the step's input.waiting */
	/* flaps: links the peer closed within flap_window of coming up, in
	   a row (0 again once a link outlives the window); their total */
	uint32_t flaps;
	uint64_t flaps_total;
	int failed_since_loss; /* an attempt failed since the last loss */
	uint64_t online_since_ms;
	uint64_t damp_ms;     /* the least retry delay while flapping */
	char flap_note[320];  /* the WARNING's detail */
};

void tth_machine_init(struct tth_machine *m, const struct tth_machine_cfg *cfg,
		      tether_policy *policy, const tether_classifier *classifier,
		      uint32_t n_endpoints, uint64_t seed);

/* Feed one input; appends the actions to out (out->n is not reset). */
void tth_machine_step(struct tth_machine *m, const struct tth_input *in,
		      struct tth_actions *out);

const char *tth_input_name(enum tth_input_type t);
const char *tth_timer_name(enum tth_timer_kind k);
const char *tth_action_name(enum tth_action_type t);

#endif
