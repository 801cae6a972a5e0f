/*
 * Link awareness for real (docs/architecture.md): every test runs in a network
 * namespace of its own (a veth pair, addresses that exist only there), first
 * against the netlink monitor, then through the manager's public API.
 * Needs root (CAP_SYS_ADMIN) and iproute2; without them the suite exits 77.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <tether/tether.h>

#include "check-int.h"
#include "itest.h"
#include "linkmon-int.h"

#define SKIP 77 /* automake: skipped */

/* ------------------------------------------------ namespace and ip(8) */

/* Wait at most 5 s for child pid: its exit status, -1 when it had to be
 * killed or did not exit. */
static int reap(pid_t pid)
{
	int st = 0;

	for (int i = 0; i < 500; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (r < 0 && errno != EINTR)
			return -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0); /* SIGKILL: it ends now */
	return -1;
}

/* Run argv (argv[0] looked up in PATH): its exit status, 127 when it could
 * not run, -1 when it had to be killed. */
static int run(const char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return reap(pid);
}

#define IP(...) run((const char *const[]){"ip", __VA_ARGS__, NULL})
#define IP_OK(...) ck_assert_int_eq(IP(__VA_ARGS__), 0)

/* Move this test process into a fresh network namespace with lo up and,
 * when veth, a veth pair v0 (10.200.0.1/24) - v1 with a default route
 * through v0. */
static void enter_ns(int veth)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare: %s",
		      strerror(errno));
	IP_OK("link", "set", "lo", "up");
	if (!veth)
		return;
	IP_OK("link", "add", "v0", "type", "veth", "peer", "name", "v1");
	IP_OK("addr", "add", "10.200.0.1/24", "dev", "v0");
	IP_OK("link", "set", "v0", "up");
	IP_OK("link", "set", "v1", "up");
	IP_OK("route", "add", "default", "via", "10.200.0.2", "dev", "v0");
}

/* ------------------------------------------------------- the monitor */

static struct tth_linkmon *lm;

static void open_lm(void)
{
	ck_assert_int_eq(tth_linkmon_open(&lm), 0);
	ck_assert_ptr_nonnull(lm);
}

static void close_lm(void)
{
	tth_linkmon_close(lm);
	lm = NULL;
}

/* Poll the monitor as a loop would until a result has a bit of want or
 * ms pass; returns every bit seen. */
static int poll_until(int want, int ms)
{
	uint64_t end = it_now_ms() + it_slack((uint64_t)ms);
	int seen = 0;

	while (!(seen & want) && it_now_ms() < end) {
		struct pollfd p = {.fd = tth_linkmon_fd(lm), .events = POLLIN};
		if (poll(&p, 1, 20) > 0)
			seen |= tth_linkmon_poll(lm);
	}
	return seen;
}

START_TEST(test_link_initially_usable_with_default_route)
{
	enter_ns(1);
	open_lm();
	ck_assert_int_eq(tth_linkmon_usable(lm), 1);
	int fd = tth_linkmon_fd(lm);
	ck_assert_int_ge(fd, 0);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* nothing happened: nothing to report */
	ck_assert_int_eq(tth_linkmon_poll(lm), 0);
	close_lm();
}
END_TEST

START_TEST(test_link_only_loopback_not_usable)
{
	enter_ns(0);
	open_lm();
	ck_assert_int_eq(tth_linkmon_usable(lm), 0);
	close_lm();
}
END_TEST

START_TEST(test_link_down_then_up_again)
{
	int r;

	enter_ns(1);
	open_lm();
	IP_OK("link", "set", "v0", "down");
	r = poll_until(TTH_LINK_CHANGED, 2000);
	ck_assert_int_eq(r, TTH_LINK_CHANGED);
	ck_assert_int_eq(tth_linkmon_usable(lm), 0);

	/* Up again, but the kernel dropped the default route with the link:
	   still not usable until it is back. */
	IP_OK("link", "set", "v0", "up");
	ck_assert_int_eq(poll_until(TTH_LINK_CHANGED, 300), 0);
	ck_assert_int_eq(tth_linkmon_usable(lm), 0);
	IP_OK("route", "add", "default", "via", "10.200.0.2", "dev", "v0");
	r = poll_until(TTH_LINK_CHANGED, 2000);
	ck_assert_int_eq(r, TTH_LINK_CHANGED | TTH_LINK_NEW_ROUTE);
	ck_assert_int_eq(tth_linkmon_usable(lm), 1);
	close_lm();
}
END_TEST

START_TEST(test_link_carrier_loss_not_usable)
{
	enter_ns(1);
	open_lm();
	/* The peer end down: v0 stays administratively up, the route stays,
	   but there is no carrier. */
	IP_OK("link", "set", "v1", "down");
	ck_assert_int_eq(poll_until(TTH_LINK_CHANGED, 2000), TTH_LINK_CHANGED);
	ck_assert_int_eq(tth_linkmon_usable(lm), 0);
	IP_OK("link", "set", "v1", "up");
	ck_assert(poll_until(TTH_LINK_CHANGED, 2000) & TTH_LINK_CHANGED);
	ck_assert_int_eq(tth_linkmon_usable(lm), 1);
	close_lm();
}
END_TEST

START_TEST(test_link_new_default_route_reported)
{
	enter_ns(1);
	open_lm();
	IP_OK("route", "add", "default", "via", "10.200.0.3", "dev", "v0",
	      "metric", "50");
	ck_assert_int_eq(poll_until(TTH_LINK_NEW_ROUTE, 2000),
			 TTH_LINK_NEW_ROUTE);
	IP_OK("route", "replace", "default", "via", "10.200.0.4", "dev", "v0");
	ck_assert_int_eq(poll_until(TTH_LINK_NEW_ROUTE, 2000),
			 TTH_LINK_NEW_ROUTE);
	ck_assert_int_eq(tth_linkmon_usable(lm), 1);
	close_lm();
}
END_TEST

START_TEST(test_link_other_route_not_reported)
{
	enter_ns(1);
	open_lm();
	IP_OK("route", "add", "10.201.0.0/24", "via", "10.200.0.2");
	ck_assert_int_eq(poll_until(TTH_LINK_CHANGED | TTH_LINK_NEW_ROUTE, 500),
			 0);
	/* Removing the second of two default routes changes nothing. */
	IP_OK("route", "add", "default", "via", "10.200.0.3", "metric", "50");
	ck_assert_int_eq(poll_until(TTH_LINK_NEW_ROUTE, 2000),
			 TTH_LINK_NEW_ROUTE);
	IP_OK("route", "del", "default", "via", "10.200.0.3", "metric", "50");
	ck_assert_int_eq(poll_until(TTH_LINK_CHANGED | TTH_LINK_NEW_ROUTE, 500),
			 0);
	ck_assert_int_eq(tth_linkmon_usable(lm), 1);
	close_lm();
}
END_TEST

START_TEST(test_link_ipv6_default_route_usable)
{
	if (access("/proc/sys/net/ipv6", F_OK) != 0)
		return; /* a kernel without IPv6: nothing to check */
	enter_ns(1);
	IP_OK("route", "del", "default");
	IP_OK("-6", "addr", "add", "fd00:200::1/64", "dev", "v0", "nodad");
	open_lm();
	ck_assert_int_eq(tth_linkmon_usable(lm), 0);
	IP_OK("-6", "route", "add", "default", "via", "fd00:200::2", "dev",
	      "v0");
	ck_assert_int_eq(poll_until(TTH_LINK_CHANGED, 2000),
			 TTH_LINK_CHANGED | TTH_LINK_NEW_ROUTE);
	ck_assert_int_eq(tth_linkmon_usable(lm), 1);
	IP_OK("-6", "route", "del", "default");
	ck_assert_int_eq(poll_until(TTH_LINK_CHANGED, 2000), TTH_LINK_CHANGED);
	ck_assert_int_eq(tth_linkmon_usable(lm), 0);
	close_lm();
}
END_TEST

/* A netlink socket in the same groups with the same tiny buffer: proves
 * that the burst below really overran. */
static int witness(int rcvbuf)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
				 .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_ROUTE};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)),
	    0);
	return fd;
}

START_TEST(test_link_overrun_recomputes)
{
	char path[] = "/tmp/check_link_XXXXXX";
	int small = 4096, fd, wfd;
	char buf[8192];
	FILE *f;

	enter_ns(1);
	open_lm();
	ck_assert_int_eq(setsockopt(tth_linkmon_fd(lm), SOL_SOCKET,
				    SO_RCVBUFFORCE, &small, sizeof(small)),
			 0);
	wfd = witness(small);
	/* Many changes, the one that matters last, nobody reading. */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 200; i++)
		fprintf(f, "route add 10.201.%d.0/24 via 10.200.0.2\n", i);
	fprintf(f, "link set v0 down\n");
	fclose(f);
	int rc = IP("-batch", path);
	unlink(path);
	ck_assert_int_eq(rc, 0);
	ssize_t n;
	do
		n = recv(wfd, buf, sizeof(buf), 0);
	while (n > 0);
	ck_assert_msg(n < 0 && errno == ENOBUFS, "no overrun: %zd %s", n,
		      strerror(errno));
	close(wfd);

	ck_assert(poll_until(TTH_LINK_CHANGED, 2000) & TTH_LINK_CHANGED);
	ck_assert_int_eq(tth_linkmon_usable(lm), 0);
	ck_assert_int_eq(poll_until(TTH_LINK_CHANGED, 200), 0);
	close_lm();
}
END_TEST

START_TEST(test_link_many_changes_stay_consistent)
{
	enter_ns(1);
	open_lm();
	for (int i = 0; i < 20; i++) {
		IP_OK("link", "set", "v1", i % 2 ? "up" : "down");
		ck_assert(poll_until(TTH_LINK_CHANGED, 2000) &
			  TTH_LINK_CHANGED);
		ck_assert_int_eq(tth_linkmon_usable(lm), i % 2);
	}
	close_lm();
}
END_TEST

/* ------------------------------------------------------- the manager */

static pthread_mutex_t hmu = PTHREAD_MUTEX_INITIALIZER;
/* What the recorder does not keep, for the connection named "remote"
 * (by name: its first events may come before tether_conn_start returns). */
static uint32_t attempts[64]; /* ev->attempt of its ATTEMPT events */
static int n_attempts;
static char detail[64]; /* of its last SUSPEND */

static void hook(tether_conn *c, const struct tether_event *ev)
{
	int watched = strcmp(tether_conn_name(c), "remote") == 0;

	pthread_mutex_lock(&hmu);
	if (watched && ev->type == TETHER_EV_ATTEMPT && n_attempts < 64)
		attempts[n_attempts++] = ev->attempt;
	if (watched && ev->type == TETHER_EV_SUSPEND)
		snprintf(detail, sizeof(detail), "%s",
			 ev->detail ? ev->detail : "");
	pthread_mutex_unlock(&hmu);
}

/* Until the hook has seen n ATTEMPT events of "remote", at most ms. */
static int hooked_attempts(int n, int ms)
{
	uint64_t end = it_now_ms() + (uint64_t)ms;
	int seen;

	for (;;) {
		pthread_mutex_lock(&hmu);
		seen = n_attempts;
		pthread_mutex_unlock(&hmu);
		if (seen >= n || it_now_ms() >= end)
			return seen >= n;
		it_run(5);
	}
}

static void mgr_setup(int host_driven)
{
	it_setup(host_driven);
	pthread_mutex_lock(&hmu);
	n_attempts = 0;
	detail[0] = 0;
	pthread_mutex_unlock(&hmu);
	it_set_hook(hook);
}

/* A TCP port on addr where nothing listens (connects are refused). */
static unsigned free_port(const char *addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* A ws connection to addr, policy {fixed, 10s}, started. */
static tether_conn *start_conn(const char *name, const char *addr)
{
	tether_params *p = it_fixed("10s");
	tether_conn *c;
	char uri[64];

	snprintf(uri, sizeof(uri), "ws://%s:%u/", addr, free_port(addr));
	ck_assert_int_eq(tether_conn_new(it_mgr, name, "ws", &c), 0);
	ck_assert_int_eq(tether_conn_add_endpoint(c, uri), 0);
	ck_assert_msg(tether_conn_set_policy(c, p) == 0, "%s",
		      tether_conn_error(c));
	tether_params_free(p);
	ck_assert_msg(tether_conn_start(c) == 0, "start: %s",
		      tether_conn_error(c));
	return c;
}

/* Started, refused once, waiting out the 10 s policy. */
static void wait_backoff(tether_conn *c)
{
	ck_assert(it_wait(c, TETHER_EV_RETRY, 1, (int)it_slack(3000)));
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_BACKOFF);
	ck_assert_int_eq(it_count(c, TETHER_EV_ATTEMPT), 1);
}

static void wait_link_down(tether_conn *c)
{
	IP_OK("link", "set", "v0", "down");
	ck_assert(it_wait(c, TETHER_EV_SUSPEND, 1, (int)it_slack(2000)));
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_SUSPENDED);
	pthread_mutex_lock(&hmu);
	ck_assert_str_eq(detail, "link down");
	pthread_mutex_unlock(&hmu);
}

/* Link down suspends a remote connection without an attempt; link and
 * route back bring one attempt at once, with the failure count as it
 * was before the outage. Loop 0: the manager's thread; 1: host driven. */
START_TEST(test_link_mgr_down_suspends_up_retries_at_once)
{
	tether_conn *c;
	uint64_t t0;
	int i;

	enter_ns(1);
	mgr_setup(_i);
	c = start_conn("remote", "10.200.0.1");
	wait_backoff(c);
	wait_link_down(c);
	ck_assert_int_eq(it_count(c, TETHER_EV_SUSPEND), 1);
	it_run(1000);
	ck_assert_int_eq(it_count(c, TETHER_EV_ATTEMPT), 1);
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_SUSPENDED);

	IP_OK("link", "set", "v0", "up");
	t0 = it_now_ms(); /* usable again from the route on */
	IP_OK("route", "add", "default", "via", "10.200.0.2", "dev", "v0");
	ck_assert(it_wait(c, TETHER_EV_ATTEMPT, 2, (int)it_slack(2000)));
	i = it_find(c, TETHER_EV_ATTEMPT, 1);
	ck_assert_uint_le(it_get(i).at - t0, it_slack(500));
	/* the recorder counts an event before the hook sees it */
	ck_assert(hooked_attempts(2, 1000));
	pthread_mutex_lock(&hmu);
	ck_assert_int_eq(n_attempts, 2);
	/* one failed round before the outage, none counted during it */
	ck_assert_uint_eq(attempts[0], 0);
	ck_assert_uint_eq(attempts[1], 1);
	pthread_mutex_unlock(&hmu);
	/* refused again: back to the policy's 10 s */
	ck_assert(it_wait(c, TETHER_EV_RETRY, 2, (int)it_slack(3000)));
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_BACKOFF);
	ck_assert_int_eq(it_count(c, TETHER_EV_SUSPEND), 1);
	ck_assert_int_eq(it_wrong_thread(), 0);
	it_teardown();
}
END_TEST

START_TEST(test_link_mgr_loopback_not_suspended)
{
	tether_conn *remote, *local;

	enter_ns(1);
	mgr_setup(0);
	local = start_conn("local", "127.0.0.1");
	remote = start_conn("remote", "10.200.0.1");
	wait_backoff(local);
	wait_backoff(remote);
	wait_link_down(remote);
	it_run(500);
	ck_assert_int_eq(it_count(local, TETHER_EV_SUSPEND), 0);
	ck_assert_int_eq(tether_conn_state(local), TETHER_STATE_BACKOFF);
	ck_assert_int_eq(it_count(local, TETHER_EV_ATTEMPT), 1);
	/* and the route coming back is no reason for it to try early */
	IP_OK("link", "set", "v0", "up");
	IP_OK("route", "add", "default", "via", "10.200.0.2", "dev", "v0");
	ck_assert(it_wait(remote, TETHER_EV_ATTEMPT, 2, (int)it_slack(2000)));
	it_run(300);
	ck_assert_int_eq(it_count(local, TETHER_EV_ATTEMPT), 1);
	it_teardown();
}
END_TEST

START_TEST(test_link_mgr_start_while_down_waits)
{
	tether_conn *c;

	enter_ns(1);
	mgr_setup(0);
	IP_OK("link", "set", "v0", "down");
	it_run(300); /* let the manager see it */
	c = start_conn("remote", "10.200.0.1");
	ck_assert(it_wait(c, TETHER_EV_SUSPEND, 1, (int)it_slack(2000)));
	it_run(500);
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_SUSPENDED);
	ck_assert_int_eq(it_count(c, TETHER_EV_ATTEMPT), 0);
	IP_OK("link", "set", "v0", "up");
	IP_OK("route", "add", "default", "via", "10.200.0.2", "dev", "v0");
	ck_assert(it_wait(c, TETHER_EV_ATTEMPT, 1, (int)it_slack(1000)));
	it_teardown();
}
END_TEST

static Suite *link_suite(void)
{
	Suite *s = suite_create("link");
	TCase *tc;

	tc = tcase_create("monitor");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_link_initially_usable_with_default_route);
	tcase_add_test(tc, test_link_only_loopback_not_usable);
	tcase_add_test(tc, test_link_down_then_up_again);
	tcase_add_test(tc, test_link_carrier_loss_not_usable);
	tcase_add_test(tc, test_link_new_default_route_reported);
	tcase_add_test(tc, test_link_other_route_not_reported);
	tcase_add_test(tc, test_link_ipv6_default_route_usable);
	tcase_add_test(tc, test_link_overrun_recomputes);
	tcase_add_test(tc, test_link_many_changes_stay_consistent);
	suite_add_tcase(s, tc);

	tc = tcase_create("manager");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_link_mgr_down_suspends_up_retries_at_once,
			    0, 2);
	tcase_add_test(tc, test_link_mgr_loopback_not_suspended);
	tcase_add_test(tc, test_link_mgr_start_while_down_waits);
	suite_add_tcase(s, tc);
	return s;
}

/* 77 unless this process may create network namespaces and run ip(8). */
static int can_run(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return 0;
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? 0 : SKIP);
	if (reap(pid) != 0) {
		fprintf(stderr, "check_link: skipped: cannot create a network "
				"namespace (needs root)\n");
		return 0;
	}
	if (run((const char *const[]){"ip", "-V", NULL}) != 0) {
		fprintf(stderr,
			"check_link: skipped: ip (iproute2) not found\n");
		return 0;
	}
	return 1;
}

int main(void)
{
	SRunner *sr;
	int nf;

	if (!can_run())
		return SKIP;
	sr = srunner_create(link_suite());
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
