/* The floor of an idle WebSocket heartbeat: N raw TCP sockets, each
 * upgraded with a minimal RFC 6455 client handshake, then one epoll loop
 * in one thread that pings them and nothing else. It is what a client
 * doing only the protocol minimum costs at the same ping rate, so that
 * tether-ws and lws can be read against it (bench/scale).
 *
 * The loop makes, per ping, one send() of a masked empty PING frame
 * (6 bytes) and, when epoll says the socket is readable, one recv() of
 * the PONG. Every socket is registered once, level-triggered EPOLLIN
 * only: no epoll_ctl per ping, no EPOLLOUT (a 6-byte frame always fits
 * an idle socket's send buffer; a send() that takes none of it counts
 * as an unanswered ping, one that takes part of it gives the link up).
 *
 * The schedule is tether's heartbeat (core/runtime/heartbeat.c), so the
 * wake-ups compare: the first ping goes out `interval` after the
 * handshake, a ping waits `timeout`, the next ping goes out `interval`
 * after the last inbound frame, and after `misses` unanswered pings the
 * link is given up (closed, reported down, not reconnected). Every
 * deadline is rounded up to the same grain (interval / 16, at most
 * timeout / 8 and 250 ms), and the due connections of a grain go out in
 * one wake-up: a timing wheel of one slot per grain, whose next busy
 * slot gives epoll_wait its timeout.
 *
 * The handshakes (not measured: only the idle period is) run in the same
 * thread before the loop, blocking with a 5 s bound per socket, in
 * batches: a batch's requests all go out before its replies are read.
 * All in one thread of our own; stop() wakes it through an eventfd and
 * joins it. Loopback only. Benchmarks only. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"

#define GRAIN_MAX_MS 250
#define MAX_SLOTS 65536     /* bounds the wheel (interval / grain + 2) */
#define BATCH 64            /* handshakes in flight at once */
#define TRIES 3             /* handshake attempts per connection */
#define IO_TIMEOUT_S 5      /* per blocking connect, send or recv */
#define REPLY_MAX 1024      /* the 101 and its headers */
#define EVENTS 256          /* epoll_wait's array */
#define WAKE_ID UINT32_MAX  /* the eventfd's epoll data */
#define NIL (-1)

/* RFC 6455 section 1.3's sample key and its accept value: the server
 * does not care that every connection sends the same key. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define SUBPROTOCOL "tether-test"

enum { OP_CLOSE = 0x8, OP_PONG = 0xa };

struct fconn {
	int fd;              /* -1: not up, or given up */
	int next;            /* in its wheel slot's list, or NIL */
	uint64_t due;        /* ms, a multiple of the grain */
	uint64_t last_rx;    /* ms, the last inbound bytes */
	uint64_t ping_sent;  /* ms */
	uint8_t waiting;     /* a ping is out */
	uint8_t missed;
};

struct fstate {
	struct fconn *c;
	int n;
	uint16_t port;
	uint64_t interval, timeout, grain;
	uint32_t misses;
	int *slot;           /* heads of the wheel's lists */
	uint64_t nslots, done_tick; /* ticks up to done_tick have fired */
	int ep, wake;
	pthread_t thread;
	int running;
	atomic_int stop;
	uint32_t rng;
	/* for the report on stop */
	uint64_t t_up, pings, rx, lost, downs;
	uint64_t t0;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the wheel --------------------------------------------------------- */

static uint64_t round_up(const struct fstate *s, uint64_t t)
{
	return (t + s->grain - 1) / s->grain * s->grain;
}

/* Connection i is due at t rounded up to the grain (it is in no slot). */
static void arm(struct fstate *s, int i, uint64_t t)
{
	struct fconn *c = &s->c[i];
	uint64_t k;

	c->due = round_up(s, t);
	k = c->due / s->grain % s->nslots;
	c->next = s->slot[k];
	s->slot[k] = i;
}

/* ms until the next busy slot (0: due now), or -1: none. */
static int next_timeout(const struct fstate *s, uint64_t now)
{
	for (uint64_t t = s->done_tick + 1; t <= s->done_tick + s->nslots;
	     t++) {
		if (s->slot[t % s->nslots] == NIL)
			continue;
		uint64_t at = t * s->grain;
		return at <= now ? 0 : (int)(at - now);
	}
	return -1;
}

/* ---- one connection ---------------------------------------------------- */

static void give_up(struct fstate *s, int i)
{
	struct fconn *c = &s->c[i];

	if (c->fd < 0)
		return;
	/* close() takes the fd out of the epoll set: it is not dup()ed */
	close(c->fd);
	c->fd = -1;
	s->downs++;
	fleet_down(i);
}

static void ping(struct fstate *s, int i, uint64_t now)
{
	struct fconn *c = &s->c[i];
	unsigned char f[6];
	ssize_t r;

	/* FIN + PING, MASK + length 0, then the masking key (RFC 6455
	 * 5.3: unpredictable; a xorshift is enough for a benchmark) */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 17;
	s->rng ^= s->rng << 5;
	f[0] = 0x89;
	f[1] = 0x80;
	memcpy(f + 2, &s->rng, 4);
	r = send(c->fd, f, sizeof(f), MSG_NOSIGNAL | MSG_DONTWAIT);
	s->pings++;
	if (r > 0 && r < (ssize_t)sizeof(f)) {
		give_up(s, i); /* half a frame: the stream is broken */
		return;
	}
	if (r < 0)
		s->lost++; /* nothing went out: an unanswered ping */
	c->ping_sent = now;
	c->waiting = 1;
	arm(s, i, now + s->timeout);
}

/* Connection i's deadline has come (heartbeat.c's hb_fire). */
static void fire(struct fstate *s, int i, uint64_t now)
{
	struct fconn *c = &s->c[i];

	if (c->fd < 0)
		return;
	if (!c->waiting) {
		if (now >= c->last_rx + s->interval)
			ping(s, i, now);
		else
			arm(s, i, c->last_rx + s->interval);
		return;
	}
	if (c->last_rx >= c->ping_sent) {
		c->waiting = 0;
		c->missed = 0;
		arm(s, i, c->last_rx + s->interval);
		return;
	}
	if (++c->missed < s->misses) {
		ping(s, i, now);
		return;
	}
	give_up(s, i);
}

/* Fire every slot up to now: a slot's list holds only its own tick's
 * connections unless the loop fell a whole turn behind, so keep any not
 * yet due. */
static void fire_due(struct fstate *s, uint64_t now)
{
	uint64_t tick = now / s->grain, last = tick;

	if (last > s->done_tick + s->nslots)
		last = s->done_tick + s->nslots;
	for (uint64_t t = s->done_tick + 1; t <= last; t++) {
		int *head = &s->slot[t % s->nslots], i = *head;
		*head = NIL;
		while (i != NIL) {
			int nx = s->c[i].next;
			if (s->c[i].due <= now) {
				s->c[i].next = NIL;
				fire(s, i, now);
			} else {
				s->c[i].next = *head;
				*head = i;
			}
			i = nx;
		}
	}
	s->done_tick = tick;
}

/* One recv() of whatever the server sent (a PONG, 2 bytes). */
static void readable(struct fstate *s, int i, uint64_t now)
{
	struct fconn *c = &s->c[i];
	unsigned char buf[64];
	ssize_t r;

	if (c->fd < 0)
		return;
	r = recv(c->fd, buf, sizeof(buf), 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0 || (buf[0] & 0x0f) == OP_CLOSE) {
		give_up(s, i);
		return;
	}
	s->rx++;
	c->last_rx = now;
}

/* ---- the handshakes ---------------------------------------------------- */

static int dial(const struct fstate *s, int i)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	struct sockaddr_in a = {.sin_family = AF_INET};
	uint16_t port = fleet_tuning.port2 && i % 2
			    ? (uint16_t)fleet_tuning.port2
			    : s->port;
	char req[256];
	int one = 1, len;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	len = snprintf(req, sizeof(req),
		       "GET / HTTP/1.1\r\n"
		       "Host: 127.0.0.1:%u\r\n"
		       "Upgrade: websocket\r\n"
		       "Connection: Upgrade\r\n"
		       "Sec-WebSocket-Key: " WS_KEY "\r\n"
		       "Sec-WebSocket-Version: 13\r\n"
		       "Sec-WebSocket-Protocol: " SUBPROTOCOL "\r\n"
		       "\r\n",
		       (unsigned)port);
	/* SO_SNDTIMEO bounds connect() too */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read the server's 101 on fd; 0 if it is the upgrade we asked for. */
static int await_101(int fd)
{
	char buf[REPLY_MAX + 1];
	size_t len = 0;

	while (len < REPLY_MAX) {
		ssize_t r = recv(fd, buf + len, REPLY_MAX - len, 0);
		if (r <= 0)
			return -1;
		len += (size_t)r;
		buf[len] = 0;
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		/* nothing may follow: the server speaks only when pinged */
		if (end + 4 != buf + len ||
		    strncmp(buf, "HTTP/1.1 101 ", 13) != 0 ||
		    !strstr(buf, WS_ACCEPT "\r\n"))
			return -1;
		return 0;
	}
	return -1;
}

/* Connection i is upgraded on fd: into the epoll set, once, for good. */
static int settle(struct fstate *s, int i, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
	int fl = fcntl(fd, F_GETFL);
	uint64_t now = now_ms();

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		return -1;
	s->c[i].fd = fd;
	s->c[i].last_rx = now;
	arm(s, i, now + s->interval);
	fleet_up(i);
	return 0;
}

static void handshakes(struct fstate *s)
{
	int fds[BATCH];

	for (int tries = 0; tries < TRIES; tries++) {
		for (int from = 0; from < s->n; from += BATCH) {
			int to = from + BATCH < s->n ? from + BATCH : s->n;

			if (atomic_load(&s->stop))
				return;
			for (int i = from; i < to; i++)
				fds[i - from] =
				    s->c[i].fd < 0 ? dial(s, i) : -1;
			for (int i = from; i < to; i++) {
				int fd = fds[i - from];
				if (fd < 0)
					continue;
				if (await_101(fd) != 0 || settle(s, i, fd) != 0)
					close(fd);
			}
		}
	}
}

/* ---- the loop ---------------------------------------------------------- */

static void *run(void *arg)
{
	struct fstate *s = arg;
	struct epoll_event ev[EVENTS];

	handshakes(s);
	s->t_up = now_ms();
	while (!atomic_load(&s->stop)) {
		int k = epoll_wait(s->ep, ev, EVENTS,
				   next_timeout(s, now_ms()));
		/* one clock read per wake-up, as libuv does */
		uint64_t now = now_ms();

		if (k < 0 && errno != EINTR)
			break;
		for (int j = 0; j < k; j++)
			if (ev[j].data.u32 != WAKE_ID)
				readable(s, (int)ev[j].data.u32, now);
		fire_due(s, now);
	}
	return NULL;
}

static int floor_start(int n, uint16_t port, void **out)
{
	struct fstate *s = calloc(1, sizeof(*s));
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WAKE_ID};
	uint64_t g;

	*out = s;
	if (!s)
		return -1;
	s->ep = s->wake = -1;
	s->n = n;
	s->port = port;
	s->interval = fleet_tuning.hb_interval_ms ? fleet_tuning.hb_interval_ms
						  : 10000;
	s->timeout =
	    fleet_tuning.hb_timeout_ms ? fleet_tuning.hb_timeout_ms : 3000;
	s->misses = fleet_tuning.hb_misses ? fleet_tuning.hb_misses : 2;
	g = s->interval / 16;
	if (g > s->timeout / 8)
		g = s->timeout / 8;
	if (g > GRAIN_MAX_MS)
		g = GRAIN_MAX_MS;
	s->grain = g > 1 ? g : 1;
	/* a deadline is at most max(interval, timeout) + one grain ahead */
	s->nslots = ((s->interval > s->timeout ? s->interval : s->timeout) /
		     s->grain) + 3;
	s->t0 = now_ms();
	s->done_tick = s->t0 / s->grain;
	s->rng = (uint32_t)s->t0 | 1;
	if (s->nslots > MAX_SLOTS ||
	    !(s->c = calloc((size_t)n, sizeof(*s->c))) ||
	    !(s->slot = malloc(s->nslots * sizeof(*s->slot))))
		return -1;
	for (uint64_t k = 0; k < s->nslots; k++)
		s->slot[k] = NIL;
	for (int i = 0; i < n; i++) {
		s->c[i].fd = -1;
		s->c[i].next = NIL;
	}
	if ((s->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->wake, &ev) != 0)
		return -1;
	if (pthread_create(&s->thread, NULL, run, s) != 0)
		return -1;
	s->running = 1;
	return 0;
}

static void floor_stop(void *state)
{
	struct fstate *s = state;
	uint64_t one = 1;
	int up = 0;

	if (!s)
		return;
	atomic_store(&s->stop, 1);
	if (s->running) {
		if (write(s->wake, &one, sizeof(one)) != (ssize_t)sizeof(one))
			perror("ws-floor: eventfd");
		pthread_join(s->thread, NULL);
		/* the work done, to check that the floor did ping */
		for (int i = 0; i < s->n; i++)
			up += s->c[i].fd >= 0;
		fprintf(stderr,
			"ws-floor: %d links up at the end; %.1f s after the "
			"handshakes: %llu pings, %llu reads, %llu sends "
			"refused, %llu given up\n",
			up, (double)(now_ms() - s->t_up) / 1000.0,
			(unsigned long long)s->pings,
			(unsigned long long)s->rx,
			(unsigned long long)s->lost,
			(unsigned long long)s->downs);
	}
	/* fds exist only once the thread ran */
	for (int i = 0; s->running && i < s->n; i++)
		if (s->c[i].fd >= 0)
			close(s->c[i].fd);
	if (s->wake >= 0)
		close(s->wake);
	if (s->ep >= 0)
		close(s->ep);
	free(s->slot);
	free(s->c);
	free(s);
}

const struct fleet_kind fleet_ws_floor = {
    .name = "ws-floor",
    .transport = "ws",
    .what = "raw sockets, one epoll loop: one send() per ping, one recv() "
	    "per pong, no reconnection (the floor)",
    .start = floor_start,
    .stop = floor_stop,
};
