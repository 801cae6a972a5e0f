/* The fault proxy: one thread, one epoll set, edge-triggered non-blocking
 * sockets. Test threads only post requests (under a mutex, then a kick on
 * an eventfd) and wait until the proxy thread has applied them; all socket
 * work happens on the proxy thread. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "proxy.h"

enum {
	BUF_SIZE = 64 * 1024, /* per direction per connection */
	NMARKS = 64,	      /* delay marks per direction */
	MAX_EVENTS = 256,
	PUMP_ROUNDS = 16,      /* then yield to other connections */
	CTL_WAIT_MS = 10000,   /* bound on waiting for the proxy thread */
	REBIND_WAIT_MS = 2000, /* bound on re-listening after REFUSE */
	DRAIN_ROUNDS = 64,     /* bound on reading before a FIN close */
	NOFILE_WANTED = 8192,
};

#define US_PER_S 1000000ull
#define MAX_RATE 1000000000000ull /* keeps credit arithmetic in 64 bits */

/* A chunk boundary: bytes up to `end` (stream offset) arrived at `at_us`. */
struct mark {
	uint64_t end;
	uint64_t at_us;
};

/* One direction of a connection: bytes read from one side, waiting to be
 * written to the other. */
struct lane {
	unsigned char *buf; /* BUF_SIZE bytes while it holds data */
	size_t head, tail;
	uint64_t in_total, out_total;
	struct mark marks[NMARKS]; /* ring of chunks not yet fully sent */
	unsigned mhead, mcount;
	uint64_t credit; /* BANDWIDTH: millionths of a byte */
	uint64_t refill_us;
	int eof;  /* the source sent FIN */
	int shut; /* and we forwarded it */
};

struct conn;

struct half {
	struct conn *c;
	int fd; /* -1 once closed */
};

struct conn {
	struct half cl, up;
	struct lane c2u, u2c;
	int connecting; /* upstream connect() in progress */
	int failed;	/* a side failed: end the connection */
	int fail_rst;	/* ... and pass an RST on to the other side */
	int dead;	/* closed; freed after the current batch */
	int timed;
	uint64_t wake_us;
	struct conn *prev, *next;   /* p->conns */
	struct conn *tprev, *tnext; /* p->timed */
	struct conn *gnext;	    /* p->grave */
};

struct th_proxy {
	pthread_t thread;
	int epfd, evfd, lfd;
	uint16_t port;

	/* Proxy thread only. */
	enum th_proxy_mode mode;
	uint64_t param;
	uint16_t target;
	struct conn *conns, *timed, *grave;
	uint64_t accept_retry_us; /* out of fds: try accept() again then */

	/* Shared, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum th_proxy_mode want_mode;
	uint64_t want_param;
	uint16_t want_target;
	int want_cut, want_cut_rst, want_stop, thread_gone;
	uint64_t req_seq, done_seq;
	uint64_t attempts;
	size_t open;
	uint64_t *times;
	size_t ntimes, times_cap;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * US_PER_S + (uint64_t)ts.tv_nsec / 1000;
}

static void loopback(struct sockaddr_in *sa, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void lock(const struct th_proxy *p)
{
	pthread_mutex_lock((pthread_mutex_t *)&p->mu);
}

static void unlock(const struct th_proxy *p)
{
	pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
}

/* ---- timers ---------------------------------------------------------- */

static void untime(struct th_proxy *p, struct conn *c)
{
	if (!c->timed)
		return;
	if (c->tprev)
		c->tprev->tnext = c->tnext;
	else
		p->timed = c->tnext;
	if (c->tnext)
		c->tnext->tprev = c->tprev;
	c->tprev = c->tnext = NULL;
	c->timed = 0;
}

static void time_at(struct th_proxy *p, struct conn *c, uint64_t wake_us)
{
	c->wake_us = wake_us;
	if (c->timed)
		return;
	c->tprev = NULL;
	c->tnext = p->timed;
	if (p->timed)
		p->timed->tprev = c;
	p->timed = c;
	c->timed = 1;
}

static int next_timeout_ms(const struct th_proxy *p)
{
	uint64_t now = now_us(), first = UINT64_MAX;

	for (const struct conn *c = p->timed; c; c = c->tnext)
		if (c->wake_us < first)
			first = c->wake_us;
	if (p->accept_retry_us && p->accept_retry_us < first)
		first = p->accept_retry_us;
	if (first == UINT64_MAX)
		return -1;
	if (first <= now)
		return 0;
	/* Round up: waking early would only spin until the deadline. */
	uint64_t ms = (first - now + 999) / 1000;
	return ms > 60000 ? 60000 : (int)ms;
}

/* ---- lanes ----------------------------------------------------------- */

static uint64_t rate_of(const struct th_proxy *p)
{
	if (p->param == 0)
		return 1;
	return p->param > MAX_RATE ? MAX_RATE : p->param;
}

static uint64_t burst_of(uint64_t rate)
{
	return rate / 20 ? rate / 20 : 1;
}

static void refill(const struct th_proxy *p, struct lane *l, uint64_t now)
{
	uint64_t rate = rate_of(p), cap = burst_of(rate) * US_PER_S;
	uint64_t e = now - l->refill_us;

	/* The bucket holds at most 1/20 s, so a second of credit is plenty. */
	if (e > US_PER_S)
		e = US_PER_S;
	l->credit += e * rate;
	if (l->credit > cap)
		l->credit = cap;
	l->refill_us = now;
}

static void add_mark(struct lane *l, uint64_t now)
{
	struct mark *last = NULL;

	if (l->mcount)
		last = &l->marks[(l->mhead + l->mcount - 1) % NMARKS];
	if (last && (last->at_us == now || l->mcount == NMARKS)) {
		/* Full only outside DELAY (see can_read): timing then does not
		 * matter, so merging into the last chunk is harmless. */
		last->end = l->in_total;
		return;
	}
	l->marks[(l->mhead + l->mcount) % NMARKS] =
	    (struct mark){.end = l->in_total, .at_us = now};
	l->mcount++;
}

/* Bytes that may be written now, given the mode. */
static size_t sendable(const struct th_proxy *p, struct lane *l, uint64_t now)
{
	size_t n = l->tail - l->head;

	if (p->mode == TH_PROXY_DELAY) {
		uint64_t hold = p->param * 1000, upto = l->out_total;
		for (unsigned i = 0; i < l->mcount; i++) {
			const struct mark *m =
			    &l->marks[(l->mhead + i) % NMARKS];
			if (m->at_us + hold > now)
				break;
			upto = m->end;
		}
		if (upto - l->out_total < n)
			n = (size_t)(upto - l->out_total);
	} else if (p->mode == TH_PROXY_BANDWIDTH) {
		refill(p, l, now);
		if (l->credit / US_PER_S < n)
			n = (size_t)(l->credit / US_PER_S);
	}
	return n;
}

/* When held bytes become sendable (0: nothing is held by the mode). */
static uint64_t held_until(const struct th_proxy *p, const struct lane *l)
{
	size_t pending = l->tail - l->head;

	if (!pending)
		return 0;
	if (p->mode == TH_PROXY_DELAY) {
		uint64_t hold = p->param * 1000, now = now_us();
		for (unsigned i = 0; i < l->mcount; i++) {
			const struct mark *m =
			    &l->marks[(l->mhead + i) % NMARKS];
			if (m->at_us + hold > now)
				return m->at_us + hold;
		}
	} else if (p->mode == TH_PROXY_BANDWIDTH) {
		uint64_t rate = rate_of(p), need = rate / 100 ? rate / 100 : 1;
		if (need > pending)
			need = pending;
		/* Wait for a useful amount, not for every single byte. */
		if (l->credit < need * US_PER_S)
			return l->refill_us +
			       (need * US_PER_S - l->credit + rate - 1) / rate;
	}
	return 0;
}

static int can_read(const struct th_proxy *p, const struct lane *l)
{
	if (l->eof || l->tail - l->head >= BUF_SIZE)
		return 0;
	return p->mode != TH_PROXY_DELAY || l->mcount < NMARKS;
}

static void fail(struct conn *c, int rst)
{
	c->failed = 1;
	c->fail_rst |= rst;
}

/* Move bytes from src to dst as far as the mode and the sockets allow.
 * Returns nonzero if anything moved. */
static int flow(const struct th_proxy *p, struct conn *c, struct lane *l,
		const struct half *src, const struct half *dst, int can_send,
		uint64_t now)
{
	int moved = 0;

	while (can_read(p, l)) {
		if (!l->buf && !(l->buf = malloc(BUF_SIZE))) {
			fail(c, 1);
			return 0;
		}
		if (l->tail == BUF_SIZE) {
			memmove(l->buf, l->buf + l->head, l->tail - l->head);
			l->tail -= l->head;
			l->head = 0;
		}
		ssize_t n =
		    recv(src->fd, l->buf + l->tail, BUF_SIZE - l->tail, 0);
		if (n > 0) {
			l->tail += (size_t)n;
			l->in_total += (uint64_t)n;
			add_mark(l, now);
			moved = 1;
		} else if (n == 0) {
			l->eof = 1;
			moved = 1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else if (errno != EINTR) {
			fail(c, 1);
			return 0;
		}
	}
	while (can_send && l->tail > l->head) {
		size_t n = sendable(p, l, now);
		if (n == 0)
			break;
		ssize_t w = send(dst->fd, l->buf + l->head, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			fail(c, 1);
			return 0;
		}
		l->head += (size_t)w;
		l->out_total += (uint64_t)w;
		if (p->mode == TH_PROXY_BANDWIDTH)
			l->credit -= (uint64_t)w * US_PER_S;
		while (l->mcount && l->marks[l->mhead].end <= l->out_total) {
			l->mhead = (l->mhead + 1) % NMARKS;
			l->mcount--;
		}
		if (l->head == l->tail) {
			/* Idle connections should not pin 64 KiB each. */
			free(l->buf);
			l->buf = NULL;
			l->head = l->tail = 0;
		}
		moved = 1;
	}
	if (can_send && l->eof && l->head == l->tail && !l->shut) {
		shutdown(dst->fd, SHUT_WR);
		l->shut = 1;
	}
	return moved;
}

/* ---- connections ----------------------------------------------------- */

static void close_half(struct th_proxy *p, struct half *h, int rst)
{
	if (h->fd < 0)
		return;
	/* Out of the epoll set before close: a process forked meanwhile
	 * (the tests run programs) holds the socket open across its exec,
	 * and close() alone would leave it registered, delivering events
	 * for a connection already freed. */
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	if (rst) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(h->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else {
		/* Unread bytes would turn close() into an RST. */
		unsigned char sink[4096];
		for (int i = 0; i < DRAIN_ROUNDS; i++)
			if (recv(h->fd, sink, sizeof(sink), 0) <= 0)
				break;
	}
	close(h->fd);
	h->fd = -1;
}

static void teardown(struct th_proxy *p, struct conn *c, int rst)
{
	if (c->dead)
		return;
	untime(p, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close_half(p, &c->cl, rst);
	close_half(p, &c->up, rst);
	c->dead = 1;
	c->gnext = p->grave;
	p->grave = c;
	lock(p);
	p->open--;
	unlock(p);
}

static void bury(struct th_proxy *p)
{
	while (p->grave) {
		struct conn *c = p->grave;
		p->grave = c->gnext;
		free(c->c2u.buf);
		free(c->u2c.buf);
		free(c);
	}
}

static void pump(struct th_proxy *p, struct conn *c)
{
	uint64_t now = now_us(), wake = 0;
	int moved = 1, rounds = 0;

	if (c->dead)
		return;
	if (p->mode == TH_PROXY_BLACKHOLE) {
		/* Hold everything, failures included, until the mode ends. */
		untime(p, c);
		return;
	}
	while (moved && !c->failed && rounds++ < PUMP_ROUNDS) {
		moved =
		    flow(p, c, &c->c2u, &c->cl, &c->up, !c->connecting, now);
		if (!c->connecting && !c->failed)
			moved |= flow(p, c, &c->u2c, &c->up, &c->cl, 1, now);
	}
	if (c->failed) {
		teardown(p, c, c->fail_rst);
		return;
	}
	if (c->c2u.shut && c->u2c.shut) {
		teardown(p, c, 0);
		return;
	}
	if (moved) {
		/* Edge-triggered: come back soon rather than lose an edge. */
		wake = now;
	} else if (!c->connecting) {
		uint64_t a = held_until(p, &c->c2u), b = held_until(p, &c->u2c);
		wake = a && (!b || a < b) ? a : b;
	}
	if (wake)
		time_at(p, c, wake);
	else
		untime(p, c);
}

static int watch(struct th_proxy *p, struct half *h)
{
	struct epoll_event ev = {
	    .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = h};
	int one = 1;

	/* Delays and rates should be the proxy's, not Nagle's. */
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return epoll_ctl(p->epfd, EPOLL_CTL_ADD, h->fd, &ev);
}

static void rst_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void count_attempt(struct th_proxy *p)
{
	lock(p);
	p->attempts++;
	if (p->ntimes == p->times_cap) {
		size_t cap = p->times_cap ? 2 * p->times_cap : 256;
		uint64_t *t = realloc(p->times, cap * sizeof(*t));
		if (t) {
			p->times = t;
			p->times_cap = cap;
		}
	}
	if (p->ntimes < p->times_cap)
		p->times[p->ntimes++] = th_now_ms();
	unlock(p);
}

static void new_conn(struct th_proxy *p, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct sockaddr_in sa;

	if (!c) {
		rst_close(fd);
		return;
	}
	c->cl = (struct half){.c = c, .fd = fd};
	c->up = (struct half){.c = c, .fd = -1};
	c->c2u.refill_us = c->u2c.refill_us = now_us();
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	lock(p);
	p->open++;
	unlock(p);

	if (watch(p, &c->cl) != 0) {
		fail(c, 1);
		goto out;
	}
	c->up.fd =
	    socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->up.fd < 0 || watch(p, &c->up) != 0) {
		fail(c, 0);
		goto out;
	}
	loopback(&sa, p->target);
	if (connect(c->up.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno == EINPROGRESS)
			c->connecting = 1;
		else
			fail(c, 0);
	}
out:
	pump(p, c);
}

static void accept_all(struct th_proxy *p)
{
	if (p->lfd < 0)
		p->accept_retry_us = 0;
	while (p->lfd >= 0) {
		int fd =
		    accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				p->accept_retry_us = 0;
				return;
			}
			/* The listener is edge-triggered: without a retry,
			 * queued clients would wait for the next arrival. */
			if (!p->accept_retry_us)
				fprintf(stderr, "proxy: accept: %s\n",
					strerror(errno));
			p->accept_retry_us = now_us() + 100000;
			return;
		}
		p->accept_retry_us = 0;
		count_attempt(p);
		if (p->mode == TH_PROXY_RESET)
			rst_close(fd);
		else
			new_conn(p, fd);
	}
}

static void on_event(struct th_proxy *p, struct half *h, uint32_t events)
{
	struct conn *c = h->c;

	if (c->dead)
		return;
	if (h == &c->up && c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err) {
			c->connecting = 0;
			fail(c, 0);
		} else if (events & EPOLLOUT) {
			c->connecting = 0;
		}
	}
	pump(p, c);
}

static void cut_all(struct th_proxy *p, int rst)
{
	struct conn *c = p->conns, *next;

	for (; c; c = next) {
		next = c->next;
		teardown(p, c, rst);
	}
}

/* ---- listener and modes ---------------------------------------------- */

static int listen_on(struct th_proxy *p)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
				 .data.ptr = &p->lfd};
	struct sockaddr_in sa;
	int one = 1;
	uint64_t end = th_now_ms() + REBIND_WAIT_MS;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	loopback(&sa, p->port);
	while (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int err = errno;
		if (err != EADDRINUSE || th_now_ms() >= end) {
			close(fd);
			return -err;
		}
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	if (listen(fd, SOMAXCONN) != 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	p->lfd = fd;
	return 0;
}

static void apply_mode(struct th_proxy *p, enum th_proxy_mode m, uint64_t param)
{
	enum th_proxy_mode old = p->mode;
	struct conn *c, *next;

	if (m == TH_PROXY_REFUSE && old != TH_PROXY_REFUSE && p->lfd >= 0) {
		/* Whoever is already queued got in before the mode changed. */
		accept_all(p);
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->lfd, NULL); /* see
								    close_half */
		close(p->lfd);
		p->lfd = -1;
	}
	p->mode = m;
	p->param = param;
	if (old == TH_PROXY_REFUSE && m != TH_PROXY_REFUSE) {
		int rc = listen_on(p);
		if (rc != 0)
			fprintf(stderr, "proxy: listen again on %u: %s\n",
				(unsigned)p->port, strerror(-rc));
	}
	if (m == TH_PROXY_RESET) {
		cut_all(p, 1);
		return;
	}
	for (c = p->conns; c; c = next) {
		next = c->next;
		if (m == TH_PROXY_BANDWIDTH) {
			c->c2u.credit = c->u2c.credit = 0;
			c->c2u.refill_us = c->u2c.refill_us = now_us();
		}
		pump(p, c);
	}
}

/* Apply what the test threads asked for; returns nonzero to stop. */
static int control(struct th_proxy *p)
{
	uint64_t v, seq;
	enum th_proxy_mode m;
	uint64_t param;
	int cut, cut_rst, stop;

	if (read(p->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		fprintf(stderr, "proxy: eventfd: %s\n", strerror(errno));
	lock(p);
	m = p->want_mode;
	param = p->want_param;
	p->target = p->want_target;
	cut = p->want_cut;
	cut_rst = p->want_cut_rst;
	stop = p->want_stop;
	seq = p->req_seq;
	p->want_cut = p->want_cut_rst = 0;
	unlock(p);

	if (stop)
		return 1;
	if (m != p->mode || param != p->param)
		apply_mode(p, m, param);
	if (cut)
		cut_all(p, cut_rst);

	lock(p);
	p->done_seq = seq;
	pthread_cond_broadcast(&p->cv);
	unlock(p);
	return 0;
}

static void run_timers(struct th_proxy *p)
{
	uint64_t now = now_us();
	struct conn *c = p->timed, *next;

	if (p->accept_retry_us && p->accept_retry_us <= now)
		accept_all(p);

	for (; c; c = next) {
		next = c->tnext;
		if (c->wake_us <= now)
			pump(p, c);
	}
}

static void *run(void *arg)
{
	struct th_proxy *p = arg;
	struct epoll_event evs[MAX_EVENTS];
	int stop = 0;

	while (!stop) {
		int n =
		    epoll_wait(p->epfd, evs, MAX_EVENTS, next_timeout_ms(p));
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "proxy: epoll_wait: %s\n",
				strerror(errno));
			break;
		}
		for (int i = 0; i < n && !stop; i++) {
			void *d = evs[i].data.ptr;
			if (d == &p->evfd)
				stop = control(p);
			else if (d == &p->lfd)
				accept_all(p);
			else
				on_event(p, d, evs[i].events);
		}
		if (!stop)
			run_timers(p);
		bury(p);
	}
	cut_all(p, 0);
	bury(p);
	lock(p);
	p->thread_gone = 1;
	pthread_cond_broadcast(&p->cv);
	unlock(p);
	return NULL;
}

/* ---- API ------------------------------------------------------------- */

/* Post the request fields set by the caller (mu held) and wait until the
 * proxy thread has applied them. Returns with mu held. */
static void request(struct th_proxy *p)
{
	uint64_t seq = ++p->req_seq, one = 1;
	struct timespec until;

	if (write(p->evfd, &one, sizeof(one)) < 0)
		fprintf(stderr, "proxy: eventfd: %s\n", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += CTL_WAIT_MS / 1000;
	while (p->done_seq < seq && !p->thread_gone)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &until) ==
		    ETIMEDOUT) {
			fprintf(stderr, "proxy: thread did not answer\n");
			break;
		}
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < NOFILE_WANTED &&
	    rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void destroy(struct th_proxy *p)
{
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->evfd >= 0)
		close(p->evfd);
	if (p->epfd >= 0)
		close(p->epfd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->times);
	free(p);
}

int th_proxy_start(uint16_t target_port, struct th_proxy **out)
{
	struct th_proxy *p = calloc(1, sizeof(*p));
	struct epoll_event ev = {.events = EPOLLIN};
	pthread_condattr_t ca;
	int err;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	raise_nofile();
	p->epfd = p->evfd = p->lfd = -1;
	p->mode = p->want_mode = TH_PROXY_PASS;
	p->target = p->want_target = target_port;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);

	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->epfd < 0 || p->evfd < 0)
		goto fail_errno;
	ev.data.ptr = &p->evfd;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev) != 0)
		goto fail_errno;
	p->lfd = th_listen_loopback(&p->port);
	if (p->lfd < 0)
		goto fail_errno;
	ev.events = EPOLLIN | EPOLLET;
	ev.data.ptr = &p->lfd;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->lfd, &ev) != 0)
		goto fail_errno;
	err = pthread_create(&p->thread, NULL, run, p);
	if (err != 0) {
		destroy(p);
		return -err;
	}
	*out = p;
	return 0;

fail_errno:
	err = errno ? errno : EIO;
	destroy(p);
	return -err;
}

uint16_t th_proxy_port(const struct th_proxy *p)
{
	return p->port;
}

void th_proxy_set_mode(struct th_proxy *p, enum th_proxy_mode m, uint64_t param)
{
	lock(p);
	p->want_mode = m;
	p->want_param = param;
	request(p);
	unlock(p);
}

void th_proxy_set_target(struct th_proxy *p, uint16_t target_port)
{
	lock(p);
	p->want_target = target_port;
	request(p);
	unlock(p);
}

void th_proxy_cut(struct th_proxy *p, int rst)
{
	lock(p);
	p->want_cut = 1;
	p->want_cut_rst |= rst != 0;
	request(p);
	unlock(p);
}

uint64_t th_proxy_attempts(const struct th_proxy *p)
{
	uint64_t n;

	lock(p);
	n = p->attempts;
	unlock(p);
	return n;
}

size_t th_proxy_open(const struct th_proxy *p)
{
	size_t n;

	lock(p);
	n = p->open;
	unlock(p);
	return n;
}

size_t th_proxy_attempt_times(const struct th_proxy *p, uint64_t *out,
			      size_t max)
{
	size_t n;

	lock(p);
	n = p->ntimes;
	if (max > n)
		max = n;
	if (max)
		memcpy(out, p->times, max * sizeof(*out));
	unlock(p);
	return n;
}

void th_proxy_reset_counters(struct th_proxy *p)
{
	lock(p);
	p->attempts = 0;
	p->ntimes = 0;
	unlock(p);
}

void th_proxy_free(struct th_proxy *p)
{
	uint64_t one = 1;

	if (!p)
		return;
	lock(p);
	p->want_stop = 1;
	unlock(p);
	if (write(p->evfd, &one, sizeof(one)) < 0)
		fprintf(stderr, "proxy: eventfd: %s\n", strerror(errno));
	pthread_join(p->thread, NULL);
	destroy(p);
}
