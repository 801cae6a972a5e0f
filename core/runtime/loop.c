/*
 * The runtime's loop (docs/architecture.md): a manager owns one engine
 * (machines, timers, limiter) that only its loop thread touches, and one
 * libuv loop (its own, or the host's: tether_mgr_new_uv). Transports and
 * other threads talk to the engine through the mailbox (core/runtime/mailbox.c).
 * A post from another thread wakes the loop with a uv_async_t (an eventfd
 * write, coalesced by libuv while one is pending); a post from the loop
 * thread itself (an lws callback, a user callback) starts a uv_idle_t
 * instead: no syscall, drained in the same turn of the loop. The engine's
 * timers stay in its own heap; one uv_timer_t is armed for the earliest.
 * The loop runs on the manager's own thread (tether_mgr_start), on the
 * host's libuv loop, or is driven by the host (tether_mgr_fd /
 * _timeout_ms / _dispatch: the loop's backend fd and one UV_RUN_NOWAIT
 * pass).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <uv.h>

#include "linkmon-int.h"
#include "mailbox-int.h"
#include "mgr-int.h"
#include "util-int.h"

static uint64_t mgr_clock(void *ud)
{
	(void)ud;
	return tth_mono_ms();
}


/* The manager's libuv handles, freed by the last close callback. */
struct tth_uv {
	uv_loop_t own;      /* the loop, when it is the manager's */
	uv_async_t wake;    /* posts from other threads; tether_mgr_stop */
	uv_idle_t idle;     /* posts from the loop thread */
	uv_timer_t timer;   /* the engine's earliest deadline */
	uv_poll_t link;     /* the link monitor's netlink socket */
	int has_link;
	int open;           /* handles not closed yet */
	tether_mgr *m;      /* NULL once the manager is freed */
};

static void on_idle(uv_idle_t *h);
static void on_timer(uv_timer_t *h);

static int on_loop_thread(tether_mgr *m)
{
	return atomic_load(&m->loop_tid_set) &&
	       atomic_load(&m->loop_tid) == (unsigned long)pthread_self();
}

static void set_loop_thread(tether_mgr *m)
{
	atomic_store(&m->loop_tid, (unsigned long)pthread_self());
	atomic_store(&m->loop_tid_set, 1);
}


void tth_loop_wake(tether_mgr *m)
{
	if (on_loop_thread(m))
		uv_idle_start(&m->uv->idle, on_idle);
	else
		uv_async_send(&m->uv->wake);
}

static void poll_link(tether_mgr *m)
{
	tether_conn *first, *c;
	int r, up;

	if (!m->lm)
		return;
	r = tth_linkmon_poll(m->lm);
	if (!r)
		return;
	up = tth_linkmon_usable(m->lm);
	if (up)
		m->link_tracking = 1;
	if (!m->link_tracking)
		return;
	if (!(r & TTH_LINK_CHANGED) && !(up && (r & TTH_LINK_NEW_ROUTE)))
		return;
	m->link_usable = up;
	/* Connections are prepended by any thread and unlinked by
	   tether_conn_remove (any thread) but freed only here, on the loop:
	   walking from a snapshot of the head needs no lock, and callbacks
	   may add connections. A connection being removed is skipped. */
	pthread_mutex_lock(&m->lock);
	first = m->conns;
	pthread_mutex_unlock(&m->lock);
	for (c = first; c; c = c->next)
		if (c->inited && c->needs_network && !atomic_load(&c->removing))
			tth_engine_link(&m->eng, &c->ec, up);
}

/* Arm the one libuv timer for the engine's earliest deadline. */
static void arm_timer(tether_mgr *m)
{
	uint64_t next = tth_engine_next_due(&m->eng), now;

	if (next == m->armed_due)
		return;
	m->armed_due = next;
	if (next == TTH_NEVER) {
		uv_timer_stop(&m->uv->timer);
		return;
	}
	now = tth_mono_ms();
	uv_update_time(m->loop);
	uv_timer_start(&m->uv->timer, on_timer, next > now ? next - now : 0, 0);
}

/*
 * One pass of the runtime's work: the link monitor (when it spoke), the
 * mailbox, due timers; then the timer is armed for what is next, and the
 * idle handle kept only while posts wait.
 */
static void loop_work(tether_mgr *m, int link)
{
	int nested = atomic_exchange(&m->in_dispatch, 1);

	if (link)
		poll_link(m);
	tth_mailbox_run(m);
	tth_engine_run_due(&m->eng);
	/* metrics: published for tether_mgr_metrics_text's threads */
	atomic_store(&m->met_limiter_waits, m->eng.lim.queued_total);
	arm_timer(m);
	/* more work arrived meanwhile (posted here): come back at once */
	if (tth_mailbox_empty(m))
		uv_idle_stop(&m->uv->idle);
	else
		uv_idle_start(&m->uv->idle, on_idle);
	if (!nested)
		atomic_store(&m->in_dispatch, 0);
}

static void on_idle(uv_idle_t *h)
{
	struct tth_uv *u = h->data;

	if (u->m)
		loop_work(u->m, 0);
}

static void on_timer(uv_timer_t *h)
{
	struct tth_uv *u = h->data;

	if (!u->m)
		return;
	u->m->armed_due = TTH_NEVER; /* it fired: not armed any more */
	loop_work(u->m, 0);
}

static void on_wake(uv_async_t *h)
{
	struct tth_uv *u = h->data;

	if (!u->m)
		return;
	if (atomic_load(&u->m->quit)) {
		uv_stop(h->loop);
		return;
	}
	loop_work(u->m, 0);
}

static void on_link(uv_poll_t *h, int status, int events)
{
	struct tth_uv *u = h->data;

	(void)status;
	(void)events;
	if (u->m)
		loop_work(u->m, 1);
}

TETHER_EXPORT int tether_mgr_dispatch(tether_mgr *m)
{
	if (!m)
		return TETHER_EINVAL;
	if (!m->own_loop || m->thread_running)
		return TETHER_ESTATE;
	if (atomic_load(&m->in_dispatch))
		return TETHER_ESTATE; /* from inside a callback */
	set_loop_thread(m);
	atomic_store(&m->in_dispatch, 1);
	uv_run(m->loop, UV_RUN_NOWAIT);
	atomic_store(&m->in_dispatch, 0);
	return 0;
}

TETHER_EXPORT int tether_mgr_fd(const tether_mgr *m)
{
	return m && m->own_loop ? uv_backend_fd(m->loop) : -1;
}

TETHER_EXPORT int tether_mgr_timeout_ms(tether_mgr *m)
{
	if (!m)
		return -1;
	/* a post from another thread shows on the fd, but this says it
	   without a poll */
	if (!tth_mailbox_empty(m))
		return 0;
	uv_update_time(m->loop);
	return uv_backend_timeout(m->loop);
}

TETHER_EXPORT int tether_mgr_is_loop_thread(const tether_mgr *m)
{
	return m && atomic_load(&m->in_dispatch) && on_loop_thread((tether_mgr *)m);
}

TETHER_EXPORT struct uv_loop_s *tether_mgr_uv_loop(const tether_mgr *m)
{
	return m ? m->loop : NULL;
}

static void *loop_main(void *arg)
{
	tether_mgr *m = arg;

	set_loop_thread(m);
	atomic_store(&m->in_dispatch, 1);
	/* the mailbox may have filled before the thread ran */
	uv_idle_start(&m->uv->idle, on_idle);
	while (!atomic_load(&m->quit))
		uv_run(m->loop, UV_RUN_DEFAULT);
	atomic_store(&m->in_dispatch, 0);
	return NULL;
}

TETHER_EXPORT int tether_mgr_start(tether_mgr *m)
{
	if (!m)
		return TETHER_EINVAL;
	if (m->thread_running || !m->own_loop)
		return TETHER_ESTATE;
	atomic_store(&m->quit, 0);
	/* thread_running first: the loop's own dispatch checks it */
	m->thread_running = 1;
	if (pthread_create(&m->thread, NULL, loop_main, m) != 0) {
		m->thread_running = 0;
		return TETHER_EIO;
	}
	return 0;
}

TETHER_EXPORT int tether_mgr_stop(tether_mgr *m)
{
	if (!m || !m->thread_running)
		return TETHER_ESTATE;
	if (pthread_equal(pthread_self(), m->thread))
		return TETHER_ESTATE;
	atomic_store(&m->quit, 1);
	uv_async_send(&m->uv->wake);
	pthread_join(m->thread, NULL);
	m->thread_running = 0;
	atomic_store(&m->loop_tid_set, 0);
	return 0;
}

/* ------------------------------------------------------------ manager */

static void uv_closed(uv_handle_t *h)
{
	struct tth_uv *u = h->data;

	/* the own loop lives in u: it is freed by tether_mgr_free */
	if (--u->open == 0 && !u->m && !u->own.data)
		free(u);
}

/* Make the handles on m->loop; 0 or TETHER_EIO. */
static int uv_open(tether_mgr *m)
{
	struct tth_uv *u = m->uv;

	u->m = m;
	if (uv_async_init(m->loop, &u->wake, on_wake) != 0)
		return TETHER_EIO;
	u->wake.data = u;
	u->open++;
	uv_idle_init(m->loop, &u->idle);
	u->idle.data = u;
	u->open++;
	uv_timer_init(m->loop, &u->timer);
	u->timer.data = u;
	u->open++;
	m->armed_due = TTH_NEVER;
	/* Without netlink (a sandbox) tether works, minus link awareness. */
	if (tth_linkmon_open(&m->lm) == 0) {
		if (uv_poll_init(m->loop, &u->link, tth_linkmon_fd(m->lm)) != 0 ||
		    (u->link.data = u, u->open++, u->has_link = 1,
		     uv_poll_start(&u->link, UV_READABLE, on_link) != 0)) {
			tth_linkmon_close(m->lm);
			m->lm = NULL;
		} else {
			m->link_usable = tth_linkmon_usable(m->lm);
			m->link_tracking = m->link_usable;
		}
	}
	return 0;
}

/* Close every handle of m; u outlives m until the last is closed. */
static void uv_shut(tether_mgr *m)
{
	struct tth_uv *u = m->uv;

	u->m = NULL;
	if (u->open == 0) {
		if (!u->own.data)
			free(u);
		return;
	}
	uv_close((uv_handle_t *)&u->wake, uv_closed);
	uv_close((uv_handle_t *)&u->idle, uv_closed);
	uv_close((uv_handle_t *)&u->timer, uv_closed);
	if (u->has_link)
		uv_close((uv_handle_t *)&u->link, uv_closed);
}

static void close_stray(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int mgr_new(tether_mgr **out, uv_loop_t *host)
{
	tether_mgr *m;
	int rc;

	if (!out)
		return TETHER_EINVAL;
	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return TETHER_ENOMEM;
	m->uv = calloc(1, sizeof(*m->uv));
	if (!m->uv) {
		free(m);
		return TETHER_ENOMEM;
	}
	if (host) {
		m->loop = host;
	} else {
		if (uv_loop_init(&m->uv->own) != 0) {
			free(m->uv);
			free(m);
			return TETHER_EIO;
		}
		m->uv->own.data = m->uv; /* marks it as in use */
		m->loop = &m->uv->own;
		m->own_loop = 1;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->qlock, NULL);
	rc = uv_open(m);
	if (rc != 0) {
		tth_engine_init(&m->eng, mgr_clock, m, &tth_mgr_io, m);
		tether_mgr_free(m);
		return rc;
	}
	if (host)
		set_loop_thread(m);
	if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(m->seed))
		m->seed = tth_mono_ms() ^ ((uint64_t)getpid() << 32);
	tth_engine_init(&m->eng, mgr_clock, m, &tth_mgr_io, m);
	*out = m;
	return 0;
}

TETHER_EXPORT int tether_mgr_new(tether_mgr **out)
{
	return mgr_new(out, NULL);
}

TETHER_EXPORT int tether_mgr_new_uv(tether_mgr **out, struct uv_loop_s *loop)
{
	if (!loop)
		return TETHER_EINVAL;
	return mgr_new(out, loop);
}

TETHER_EXPORT int tether_mgr_set_event_cb(tether_mgr *m, tether_event_cb cb,
					  void *userdata)
{
	if (!m)
		return TETHER_EINVAL;
	m->cb = cb;
	m->cb_ud = userdata;
	return 0;
}

TETHER_EXPORT int tether_mgr_set_limits(tether_mgr *m,
					double connects_per_second,
					uint32_t burst, uint32_t max_connecting)
{
	struct tth_post *p;

	if (!m || !(connects_per_second >= 0) || burst == 0)
		return TETHER_EINVAL;
	p = tth_post_new(TTH_POST_LIMITS, NULL, 0);
	if (!p)
		return TETHER_ENOMEM;
	p->u.limits.rate = connects_per_second;
	p->u.limits.burst = burst;
	p->u.limits.max_connecting = max_connecting;
	tth_post(m, p);
	return 0;
}

TETHER_EXPORT void tether_mgr_free(tether_mgr *m)
{
	tether_conn *c, *next;
	struct tth_uv *u;

	if (!m)
		return;
	if (m->thread_running)
		tether_mgr_stop(m);
	/* Links first (each aborted), then the transport contexts, which
	   stop the transports' threads: after that nothing posts. The
	   connections being removed are done the same way. */
	for (int list = 0; list < 2; list++)
		for (c = list ? m->removed : m->conns; c;
		     c = list ? c->rnext : c->next) {
			if (!c->link)
				continue;
			if (c->inited)
				tth_econn_detach(&m->eng, &c->ec);
			tth_engine_cancel(&m->eng, &c->hb.timer);
			tth_engine_cancel(&m->eng, &c->out.ttl_timer);
			tth_engine_cancel(&m->eng, &c->out.flush_timer);
			c->tops->abort(c->link, c->ec.m.attempt_id);
			c->tops->link_free(c->link);
			c->link = NULL;
		}
	/* Our handles are closed before the transports' contexts go: their
	   last steps may run the loop (lws on it finishes closing), and no
	   callback of ours may run on a half-freed manager. */
	u = m->uv;
	uv_shut(m);
	for (size_t i = 0; i < m->ntctx; i++)
		m->tctx[i].ops->ctx_free(m->tctx[i].ctx);
	tth_mailbox_clear(m);
	for (c = m->conns; c; c = next) {
		next = c->next;
		tth_conn_free(c);
	}
	for (c = m->removed; c; c = next) {
		next = c->rnext;
		tth_conn_free(c);
	}
	tth_engine_cleanup(&m->eng);
	if (m->own_loop) {
		/* Run the loop to the end of every close, ours and the
		   transports' (lws closes its handles asynchronously). */
		uv_run(m->loop, UV_RUN_DEFAULT);
		uv_walk(m->loop, close_stray, NULL);
		uv_run(m->loop, UV_RUN_DEFAULT);
		uv_loop_close(m->loop);
		free(u);
	}
	if (m->lm)
		tth_linkmon_close(m->lm);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->qlock);
	free(m);
}

/* ------------------------------------------------------ for metrics.c */

int tth_mgr_conns_locked(tether_mgr *m, tether_conn ***out, size_t *n)
{
	tether_conn **v = NULL, *c;
	size_t i;

	*out = NULL;
	*n = 0;
	if (m->nconns) {
		v = malloc(m->nconns * sizeof(*v));
		if (!v)
			return -1;
		/* the list is newest first */
		i = m->nconns;
		for (c = m->conns; c && i > 0; c = c->next)
			v[--i] = c;
		*n = m->nconns;
	}
	*out = v;
	return 0;
}

int tth_mgr_conns(tether_mgr *m, tether_conn ***out, size_t *n)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = tth_mgr_conns_locked(m, out, n);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

TETHER_EXPORT size_t tether_mgr_conns(tether_mgr *m, tether_conn **out,
				      size_t cap)
{
	tether_conn *c;
	size_t n, i;

	if (!m)
		return 0;
	pthread_mutex_lock(&m->lock);
	n = m->nconns;
	/* the list is newest first; out is oldest first */
	i = n;
	for (c = m->conns; c && i > 0; c = c->next) {
		i--;
		if (i < cap)
			out[i] = c;
	}
	pthread_mutex_unlock(&m->lock);
	return n;
}

uint64_t tth_mgr_limiter_waits(tether_mgr *m)
{
	return atomic_load(&m->met_limiter_waits);
}

