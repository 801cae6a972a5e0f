/* The fault proxy of the test harness, against a small echo server, in real
 * time on loopback. */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check-int.h"
#include "net.h"
#include "proxy.h"

/* ---- an echo server on its own thread -------------------------------- */

struct echo_conn {
	int fd;
	uint32_t ev;
	size_t len;
	int eof;
	struct echo_conn *prev, *next;
	unsigned char buf[16384];
};

struct echo {
	pthread_t thread;
	int lfd, epfd, evfd;
	uint16_t port;
	pthread_mutex_t mu;
	int open, accepted; /* under mu */
	struct echo_conn *conns;
};

static void echo_drop(struct echo *e, struct echo_conn *ec)
{
	if (ec->prev)
		ec->prev->next = ec->next;
	else
		e->conns = ec->next;
	if (ec->next)
		ec->next->prev = ec->prev;
	close(ec->fd);
	free(ec);
	pthread_mutex_lock(&e->mu);
	e->open--;
	pthread_mutex_unlock(&e->mu);
}

static void echo_accept(struct echo *e)
{
	int one = 1;

	for (;;) {
		int fd =
		    accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct echo_conn *ec;
		if (fd < 0)
			return;
		ec = calloc(1, sizeof(*ec));
		ck_assert_ptr_nonnull(ec);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ec->fd = fd;
		ec->ev = EPOLLIN;
		ec->next = e->conns;
		if (e->conns)
			e->conns->prev = ec;
		e->conns = ec;
		struct epoll_event ev = {.events = ec->ev, .data.ptr = ec};
		ck_assert_int_eq(epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev), 0);
		pthread_mutex_lock(&e->mu);
		e->open++;
		e->accepted++;
		pthread_mutex_unlock(&e->mu);
	}
}

/* Level-triggered: read while there is room, write back what was read,
 * close after the peer's FIN once everything is echoed. */
static void echo_io(struct echo *e, struct echo_conn *ec, uint32_t events)
{
	uint32_t want = 0;

	if (events & EPOLLERR) {
		echo_drop(e, ec);
		return;
	}
	if (!ec->eof && ec->len < sizeof(ec->buf)) {
		ssize_t n = recv(ec->fd, ec->buf + ec->len,
				 sizeof(ec->buf) - ec->len, MSG_DONTWAIT);
		if (n > 0)
			ec->len += (size_t)n;
		else if (n == 0)
			ec->eof = 1;
		else if (errno != EAGAIN && errno != EINTR) {
			echo_drop(e, ec);
			return;
		}
	}
	if (ec->len) {
		ssize_t w =
		    send(ec->fd, ec->buf, ec->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			memmove(ec->buf, ec->buf + w, ec->len - (size_t)w);
			ec->len -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			echo_drop(e, ec);
			return;
		}
	}
	if (ec->eof && !ec->len) {
		echo_drop(e, ec);
		return;
	}
	if (!ec->eof && ec->len < sizeof(ec->buf))
		want |= EPOLLIN;
	if (ec->len)
		want |= EPOLLOUT;
	if (want != ec->ev) {
		struct epoll_event ev = {.events = want, .data.ptr = ec};
		epoll_ctl(e->epfd, EPOLL_CTL_MOD, ec->fd, &ev);
		ec->ev = want;
	}
}

static void *echo_run(void *arg)
{
	struct echo *e = arg;
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(e->epfd, evs, 64, -1);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &e->evfd)
				goto out;
			if (evs[i].data.ptr == &e->lfd)
				echo_accept(e);
			else
				echo_io(e, evs[i].data.ptr, evs[i].events);
		}
	}
out:
	while (e->conns)
		echo_drop(e, e->conns);
	return NULL;
}

static struct echo *echo_start(void)
{
	struct echo *e = calloc(1, sizeof(*e));
	struct epoll_event ev = {.events = EPOLLIN};

	ck_assert_ptr_nonnull(e);
	pthread_mutex_init(&e->mu, NULL);
	e->lfd = th_listen_loopback(&e->port);
	ck_assert_int_ge(e->lfd, 0);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->evfd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(e->epfd, 0);
	ck_assert_int_ge(e->evfd, 0);
	ev.data.ptr = &e->lfd;
	ck_assert_int_eq(epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->lfd, &ev), 0);
	ev.data.ptr = &e->evfd;
	ck_assert_int_eq(epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->evfd, &ev), 0);
	ck_assert_int_eq(pthread_create(&e->thread, NULL, echo_run, e), 0);
	return e;
}

static void echo_stop(struct echo *e)
{
	uint64_t one = 1;

	if (!e)
		return;
	ck_assert_int_eq(write(e->evfd, &one, sizeof(one)), sizeof(one));
	pthread_join(e->thread, NULL);
	close(e->lfd);
	close(e->epfd);
	close(e->evfd);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

static int echo_count(struct echo *e, const int *field)
{
	int n;

	pthread_mutex_lock(&e->mu);
	n = *field;
	pthread_mutex_unlock(&e->mu);
	return n;
}

#define ECHO_OPEN(e) echo_count((e), &(e)->open)
#define ECHO_ACCEPTED(e) echo_count((e), &(e)->accepted)

/* ---- client helpers -------------------------------------------------- */

/* Poll cond every 5 ms for at most ms milliseconds. */
#define WAIT_UNTIL(cond, ms)                                                   \
	do {                                                                   \
		uint64_t end_ = th_now_ms() + (ms);                            \
		while (!(cond) && th_now_ms() < end_)                          \
			poll(NULL, 0, 5);                                      \
	} while (0)

/* A blocking TCP connection to 127.0.0.1:port, or -errno. */
static int dial(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Read n bytes within ms: n, fewer at EOF, -ETIMEDOUT, or -errno (when an
 * error comes before any byte). */
static ssize_t recv_n(int fd, void *buf, size_t n, int ms)
{
	uint64_t end = th_now_ms() + (uint64_t)ms;
	size_t got = 0;

	while (got < n) {
		uint64_t now = th_now_ms();
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (now >= end)
			return -ETIMEDOUT;
		if (poll(&pf, 1, (int)(end - now)) <= 0)
			continue;
		ssize_t k = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (k > 0)
			got += (size_t)k;
		else if (k == 0)
			return (ssize_t)got;
		else if (errno != EAGAIN && errno != EINTR)
			return got ? (ssize_t)got : -errno;
	}
	return (ssize_t)got;
}

static void send_str(int fd, const char *s)
{
	ck_assert_int_eq(send(fd, s, strlen(s), MSG_NOSIGNAL),
			 (ssize_t)strlen(s));
}

/* Send s and expect it echoed within ms. */
static void echo_ok(int fd, const char *s, int ms)
{
	char buf[256];
	size_t n = strlen(s);

	send_str(fd, s);
	ck_assert_int_eq(recv_n(fd, buf, n, ms), (ssize_t)n);
	ck_assert_mem_eq(buf, s, n);
}

static uint64_t round_trip_ms(int fd, const char *s)
{
	uint64_t t0 = th_now_ms();

	echo_ok(fd, s, 5000);
	return th_now_ms() - t0;
}

/* Nothing at all (no byte, no EOF, no error) readable on fd for ms. */
static int silent_for(int fd, int ms)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};

	return poll(&pf, 1, ms) == 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- fixture --------------------------------------------------------- */

static struct echo *echo;
static struct th_proxy *px;

static void setup(void)
{
	echo = echo_start();
	ck_assert_int_eq(th_proxy_start(echo->port, &px), 0);
	ck_assert_ptr_nonnull(px);
	ck_assert_uint_ne(th_proxy_port(px), 0);
}

static void teardown(void)
{
	th_proxy_free(px);
	px = NULL;
	echo_stop(echo);
	echo = NULL;
}

/* ---- relay ----------------------------------------------------------- */

START_TEST(test_proxy_pass_relays_both_ways)
{
	int fd = dial(th_proxy_port(px));
	char c;

	ck_assert_int_ge(fd, 0);
	echo_ok(fd, "hello", 2000);
	echo_ok(fd, "again", 2000);
	ck_assert_uint_eq(th_proxy_attempts(px), 1);
	ck_assert_uint_eq(th_proxy_open(px), 1);
	ck_assert_int_eq(ECHO_ACCEPTED(echo), 1);

	/* Our FIN reaches the echo server, which closes: its FIN comes back. */
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	ck_assert_int_eq(recv_n(fd, &c, 1, 2000), 0);
	close(fd);
	WAIT_UNTIL(th_proxy_open(px) == 0 && ECHO_OPEN(echo) == 0, 2000);
	ck_assert_uint_eq(th_proxy_open(px), 0);
	ck_assert_int_eq(ECHO_OPEN(echo), 0);
}
END_TEST

START_TEST(test_proxy_upstream_refused_closes_client_with_fin)
{
	uint16_t nobody = th_free_port();
	int fd;
	char c;

	ck_assert_uint_ne(nobody, 0);
	th_proxy_set_target(px, nobody);
	fd = dial(th_proxy_port(px));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(recv_n(fd, &c, 1, 2000), 0);
	close(fd);
	ck_assert_uint_eq(th_proxy_attempts(px), 1);
	WAIT_UNTIL(th_proxy_open(px) == 0, 2000);
	ck_assert_uint_eq(th_proxy_open(px), 0);
}
END_TEST

START_TEST(test_proxy_set_target_moves_new_connections)
{
	struct echo *other = echo_start();
	int a = dial(th_proxy_port(px)), b;

	ck_assert_int_ge(a, 0);
	echo_ok(a, "first", 2000);
	th_proxy_set_target(px, other->port);
	b = dial(th_proxy_port(px));
	ck_assert_int_ge(b, 0);
	echo_ok(b, "second", 2000);
	echo_ok(a, "still", 2000);
	ck_assert_int_eq(ECHO_ACCEPTED(echo), 1);
	ck_assert_int_eq(ECHO_ACCEPTED(other), 1);
	close(a);
	close(b);
	echo_stop(other);
}
END_TEST

START_TEST(test_proxy_attempt_times_record_each_attempt)
{
	uint64_t t[3], t0 = th_now_ms(), t1;

	for (int i = 0; i < 3; i++) {
		int fd = dial(th_proxy_port(px));
		ck_assert_int_ge(fd, 0);
		echo_ok(fd, "x", 2000);
		close(fd);
		if (i < 2)
			poll(NULL, 0, 60);
	}
	t1 = th_now_ms();
	ck_assert_uint_eq(th_proxy_attempts(px), 3);
	ck_assert_uint_eq(th_proxy_attempt_times(px, t, 2), 3);
	ck_assert_uint_eq(th_proxy_attempt_times(px, t, 3), 3);
	ck_assert_uint_ge(t[0], t0);
	ck_assert_uint_le(t[2], t1);
	ck_assert_uint_ge(t[1] - t[0], 50);
	ck_assert_uint_ge(t[2] - t[1], 50);

	th_proxy_reset_counters(px);
	ck_assert_uint_eq(th_proxy_attempts(px), 0);
	ck_assert_uint_eq(th_proxy_attempt_times(px, NULL, 0), 0);
}
END_TEST

/* ---- delay ----------------------------------------------------------- */

START_TEST(test_proxy_delay_adds_latency_both_ways)
{
	int fd = dial(th_proxy_port(px));
	char buf[8];
	uint64_t rtt;

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(round_trip_ms(fd, "warm"), 150);

	th_proxy_set_mode(px, TH_PROXY_DELAY, 150);
	rtt = round_trip_ms(fd, "slow");
	ck_assert_uint_ge(rtt, 300);
	ck_assert_uint_lt(rtt, 300 + 1500);

	/* Chunks keep their order. */
	send_str(fd, "ab");
	poll(NULL, 0, 20);
	send_str(fd, "cd");
	ck_assert_int_eq(recv_n(fd, buf, 4, 3000), 4);
	ck_assert_mem_eq(buf, "abcd", 4);

	th_proxy_set_mode(px, TH_PROXY_PASS, 0);
	ck_assert_uint_lt(round_trip_ms(fd, "fast"), 150);
	close(fd);
}
END_TEST

/* ---- refuse ---------------------------------------------------------- */

START_TEST(test_proxy_refuse_gives_econnrefused_then_accepts_again)
{
	uint16_t port = th_proxy_port(px);
	int a = dial(port), b;

	ck_assert_int_ge(a, 0);
	echo_ok(a, "before", 2000);

	th_proxy_set_mode(px, TH_PROXY_REFUSE, 0);
	ck_assert_int_eq(dial(port), -ECONNREFUSED);
	ck_assert_int_eq(dial(port), -ECONNREFUSED);
	ck_assert_uint_eq(th_proxy_attempts(px), 1);
	echo_ok(a, "existing-untouched", 2000);

	th_proxy_set_mode(px, TH_PROXY_PASS, 0);
	ck_assert_uint_eq(th_proxy_port(px), port);
	b = dial(port);
	ck_assert_int_ge(b, 0);
	echo_ok(b, "after", 2000);
	ck_assert_uint_eq(th_proxy_attempts(px), 2);
	close(a);
	close(b);
}
END_TEST

/* ---- reset ----------------------------------------------------------- */

START_TEST(test_proxy_reset_gives_econnreset_and_counts)
{
	int a = dial(th_proxy_port(px)), b;
	char c;

	ck_assert_int_ge(a, 0);
	echo_ok(a, "hi", 2000);

	th_proxy_set_mode(px, TH_PROXY_RESET, 0);
	ck_assert_int_eq(recv_n(a, &c, 1, 2000), -ECONNRESET);
	ck_assert_uint_eq(th_proxy_open(px), 0);

	b = dial(th_proxy_port(px));
	ck_assert_int_ge(b, 0);
	ck_assert_int_eq(recv_n(b, &c, 1, 2000), -ECONNRESET);
	ck_assert_uint_eq(th_proxy_attempts(px), 2);
	ck_assert_uint_eq(th_proxy_open(px), 0);
	close(a);
	close(b);
}
END_TEST

/* ---- blackhole ------------------------------------------------------- */

START_TEST(test_proxy_blackhole_holds_silently_then_resumes)
{
	int a = dial(th_proxy_port(px)), b;
	char buf[8];

	ck_assert_int_ge(a, 0);
	echo_ok(a, "live", 2000);

	th_proxy_set_mode(px, TH_PROXY_BLACKHOLE, 0);
	b = dial(th_proxy_port(px));
	ck_assert_int_ge(b, 0);
	send_str(a, "aaa");
	send_str(b, "bbb");
	ck_assert(silent_for(a, 300));
	ck_assert(silent_for(b, 300));
	WAIT_UNTIL(th_proxy_attempts(px) == 2 && th_proxy_open(px) == 2, 2000);
	ck_assert_uint_eq(th_proxy_attempts(px), 2);
	ck_assert_uint_eq(th_proxy_open(px), 2);

	th_proxy_set_mode(px, TH_PROXY_PASS, 0);
	ck_assert_int_eq(recv_n(a, buf, 3, 2000), 3);
	ck_assert_mem_eq(buf, "aaa", 3);
	ck_assert_int_eq(recv_n(b, buf, 3, 2000), 3);
	ck_assert_mem_eq(buf, "bbb", 3);
	echo_ok(b, "more", 2000);
	close(a);
	close(b);
}
END_TEST

START_TEST(test_proxy_blackhole_hides_upstream_failure)
{
	int fd;
	char c;

	th_proxy_set_target(px, th_free_port());
	th_proxy_set_mode(px, TH_PROXY_BLACKHOLE, 0);
	fd = dial(th_proxy_port(px));
	ck_assert_int_ge(fd, 0);
	ck_assert(silent_for(fd, 300));
	th_proxy_set_mode(px, TH_PROXY_PASS, 0);
	ck_assert_int_eq(recv_n(fd, &c, 1, 2000), 0);
	close(fd);
}
END_TEST

/* ---- bandwidth ------------------------------------------------------- */

START_TEST(test_proxy_bandwidth_caps_each_direction)
{
	enum { SIZE = 64 * 1024 };
	static unsigned char out[SIZE], in[SIZE];
	size_t sent = 0, got = 0;
	uint64_t t0, end, took;
	int fd;

	for (size_t i = 0; i < SIZE; i++)
		out[i] = (unsigned char)(i * 7 + i / 251);
	th_proxy_set_mode(px, TH_PROXY_BANDWIDTH, 32 * 1024);
	fd = dial(th_proxy_port(px));
	ck_assert_int_ge(fd, 0);
	t0 = th_now_ms();
	end = t0 + 15000;
	while (got < SIZE && th_now_ms() < end) {
		struct pollfd pf = {
		    .fd = fd, .events = POLLIN | (sent < SIZE ? POLLOUT : 0)};
		ck_assert_int_ge(poll(&pf, 1, 100), 0);
		if (pf.revents & POLLOUT) {
			ssize_t w = send(fd, out + sent, SIZE - sent,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			ck_assert(w > 0 || errno == EAGAIN);
			if (w > 0)
				sent += (size_t)w;
		}
		if (pf.revents & POLLIN) {
			ssize_t r =
			    recv(fd, in + got, SIZE - got, MSG_DONTWAIT);
			ck_assert(r > 0 || (r < 0 && errno == EAGAIN));
			if (r > 0)
				got += (size_t)r;
		}
	}
	took = th_now_ms() - t0;
	ck_assert_uint_eq(got, SIZE);
	ck_assert_mem_eq(in, out, SIZE);
	ck_assert_uint_ge(took, 1800);
	ck_assert_uint_lt(took, 6000);
	close(fd);
}
END_TEST

/* ---- cut ------------------------------------------------------------- */

START_TEST(test_proxy_cut_rst_gives_econnreset)
{
	int a = dial(th_proxy_port(px)), b;
	char c;

	ck_assert_int_ge(a, 0);
	echo_ok(a, "hi", 2000);
	th_proxy_cut(px, 1);
	ck_assert_uint_eq(th_proxy_open(px), 0);
	ck_assert_int_eq(recv_n(a, &c, 1, 2000), -ECONNRESET);
	WAIT_UNTIL(ECHO_OPEN(echo) == 0, 2000);
	ck_assert_int_eq(ECHO_OPEN(echo), 0);

	b = dial(th_proxy_port(px));
	ck_assert_int_ge(b, 0);
	echo_ok(b, "new", 2000);
	close(a);
	close(b);
}
END_TEST

START_TEST(test_proxy_cut_fin_gives_eof)
{
	int a = dial(th_proxy_port(px));
	char c;

	ck_assert_int_ge(a, 0);
	echo_ok(a, "hi", 2000);
	th_proxy_cut(px, 0);
	ck_assert_uint_eq(th_proxy_open(px), 0);
	ck_assert_int_eq(recv_n(a, &c, 1, 2000), 0);
	WAIT_UNTIL(ECHO_OPEN(echo) == 0, 2000);
	ck_assert_int_eq(ECHO_OPEN(echo), 0);
	close(a);
}
END_TEST

/* ---- scale ----------------------------------------------------------- */

START_TEST(test_proxy_thousand_concurrent_connections)
{
	enum { N = 1000, LEN = 8 };
	static int fds[N];
	static char got[N][LEN];
	static size_t have[N];
	static struct pollfd pfs[N];
	static int idx[N];
	uint64_t end;
	size_t done = 0;

	for (int i = 0; i < N; i++) {
		char msg[16];
		fds[i] = dial(th_proxy_port(px));
		ck_assert_int_ge(fds[i], 0);
		snprintf(msg, sizeof(msg), "c%07d", i);
		send_str(fds[i], msg);
		have[i] = 0;
	}
	end = th_now_ms() + 30000;
	while (done < N && th_now_ms() < end) {
		int k = 0;
		for (int i = 0; i < N; i++)
			if (have[i] < LEN) {
				idx[k] = i;
				pfs[k++] = (struct pollfd){.fd = fds[i],
							   .events = POLLIN};
			}
		ck_assert_int_ge(poll(pfs, (nfds_t)k, 200), 0);
		for (int j = 0; j < k; j++) {
			if (!pfs[j].revents)
				continue;
			int i = idx[j];
			ssize_t r = recv(fds[i], got[i] + have[i],
					 LEN - have[i], MSG_DONTWAIT);
			ck_assert_int_gt(r, 0);
			have[i] += (size_t)r;
			if (have[i] == LEN)
				done++;
		}
	}
	ck_assert_uint_eq(done, N);
	for (int i = 0; i < N; i++) {
		char msg[16];
		snprintf(msg, sizeof(msg), "c%07d", i);
		ck_assert_mem_eq(got[i], msg, LEN);
	}
	ck_assert_uint_eq(th_proxy_attempts(px), N);
	ck_assert_uint_eq(th_proxy_open(px), N);
	ck_assert_int_eq(ECHO_OPEN(echo), N);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	WAIT_UNTIL(th_proxy_open(px) == 0 && ECHO_OPEN(echo) == 0, 10000);
	ck_assert_uint_eq(th_proxy_open(px), 0);
	ck_assert_int_eq(ECHO_OPEN(echo), 0);
}
END_TEST

/* ---- lifecycle ------------------------------------------------------- */

START_TEST(test_proxy_free_with_open_connections_leaks_nothing)
{
	enum { N = 10 };
	struct th_proxy *q = NULL;
	int fds[N], base = count_fds();
	char c;

	th_proxy_free(NULL);
	ck_assert_int_eq(th_proxy_start(echo->port, &q), 0);
	for (int i = 0; i < N; i++) {
		fds[i] = dial(th_proxy_port(q));
		ck_assert_int_ge(fds[i], 0);
		echo_ok(fds[i], "x", 2000);
	}
	th_proxy_set_mode(q, TH_PROXY_DELAY, 1000);
	send_str(fds[0], "held in the proxy");
	ck_assert_uint_eq(th_proxy_open(q), N);
	th_proxy_free(q);
	for (int i = 0; i < N; i++) {
		ssize_t r = recv_n(fds[i], &c, 1, 2000);
		ck_assert(r == 0 || r == -ECONNRESET);
		close(fds[i]);
	}
	WAIT_UNTIL(ECHO_OPEN(echo) == 0, 2000);
	ck_assert_int_eq(ECHO_OPEN(echo), 0);
	ck_assert_int_eq(count_fds(), base);
}
END_TEST

static TCase *tcase(const char *name, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout);
	return tc;
}

static Suite *proxy_suite(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc;

	tc = tcase("relay", 30);
	tcase_add_test(tc, test_proxy_pass_relays_both_ways);
	tcase_add_test(tc, test_proxy_upstream_refused_closes_client_with_fin);
	tcase_add_test(tc, test_proxy_set_target_moves_new_connections);
	tcase_add_test(tc, test_proxy_attempt_times_record_each_attempt);
	suite_add_tcase(s, tc);

	tc = tcase("delay", 30);
	tcase_add_test(tc, test_proxy_delay_adds_latency_both_ways);
	suite_add_tcase(s, tc);

	tc = tcase("refuse", 30);
	tcase_add_test(tc,
		       test_proxy_refuse_gives_econnrefused_then_accepts_again);
	suite_add_tcase(s, tc);

	tc = tcase("reset", 30);
	tcase_add_test(tc, test_proxy_reset_gives_econnreset_and_counts);
	suite_add_tcase(s, tc);

	tc = tcase("blackhole", 30);
	tcase_add_test(tc, test_proxy_blackhole_holds_silently_then_resumes);
	tcase_add_test(tc, test_proxy_blackhole_hides_upstream_failure);
	suite_add_tcase(s, tc);

	tc = tcase("bandwidth", 30);
	tcase_add_test(tc, test_proxy_bandwidth_caps_each_direction);
	suite_add_tcase(s, tc);

	tc = tcase("cut", 30);
	tcase_add_test(tc, test_proxy_cut_rst_gives_econnreset);
	tcase_add_test(tc, test_proxy_cut_fin_gives_eof);
	suite_add_tcase(s, tc);

	tc = tcase("scale", 90);
	tcase_add_test(tc, test_proxy_thousand_concurrent_connections);
	suite_add_tcase(s, tc);

	tc = tcase("lifecycle", 30);
	tcase_add_test(tc, test_proxy_free_with_open_connections_leaks_nothing);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(proxy_suite)
