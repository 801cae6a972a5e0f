/* A fleet in a child process (see child.h). */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "child.h"
#include "fleet.h"
#include "ws_server.h"

/* ---- the child's side: one fleet, driven by lines on stdin ------------ */

static int read_line(char *buf, size_t n)
{
	return fgets(buf, (int)n, stdin) ? 0 : -1;
}

static uint64_t pct(const uint64_t *d, int k, int n, double q)
{
	int need = (int)((double)n * q + 0.999999);

	if (need < 1)
		need = 1;
	return need <= k ? d[need - 1] : UINT64_MAX;
}

/* This process's CPU seconds and memory, plus the fleet's workers'. */
static double fleet_cpu(const struct fleet_kind *k, void *st)
{
	return bench_cpu_s() + (k->worker_cpu_s ? k->worker_cpu_s(st) : 0);
}

static long fleet_rss(const struct fleet_kind *k, void *st, int peak)
{
	return (peak ? bench_maxrss_kib() : bench_rss_kib()) +
	       (k->worker_rss_kib ? k->worker_rss_kib(st, peak) : 0);
}

int child_main(int argc, char **argv)
{
	const struct fleet_kind *k = argc == 7 ? fleet_find(argv[2]) : NULL;
	int n = k ? atoi(argv[3]) : 0, connect_s = k ? atoi(argv[5]) : 0;
	uint16_t port = k ? (uint16_t)atoi(argv[4]) : 0;
	void *st = NULL;
	char line[128];
	uint64_t t0, cut = 0, back = 0, deadline = 0, *d;
	double cpu0 = 0;
	int rc = 1, up = 0;

	unsigned idle_s;

	if (!k || n <= 0 || fleet_tuning_parse(argv[6]) != 0 ||
	    fleet_record_init(n) != 0)
		return 1;
	if (!(d = calloc((size_t)n, sizeof(*d)))) {
		fleet_record_free();
		return 1;
	}
	bench_raise_nofile();
	setvbuf(stdout, NULL, _IOLBF, 0);
	t0 = bench_now_ms();
	if (k->start(n, port, &st) != 0) {
		printf("FAIL start\n");
		goto out;
	}
	while ((up = fleet_up_after(0)) < n &&
	       bench_now_ms() - t0 < (uint64_t)connect_s * 1000)
		bench_sleep_ms(20);
	printf("UP %d %" PRIu64 "\n", up, bench_now_ms() - t0);
	if (up < n)
		goto out;
	while (read_line(line, sizeof(line)) == 0) {
		if (sscanf(line, "CUT %" SCNu64, &cut) == 1) {
			cpu0 = fleet_cpu(k, st);
		} else if (sscanf(line, "BACK %" SCNu64 " %" SCNu64, &back,
				  &deadline) == 2) {
			int kk = 0;
			while ((up = fleet_up_after(cut)) < n &&
			       bench_now_ms() < deadline)
				bench_sleep_ms(5);
			for (int i = 0; i < n; i++) {
				uint64_t t = fleet_last_up(i);
				if (t > cut)
					d[kk++] = t > back ? t - back : 0;
			}
			bench_sort_u64(d, (size_t)kk);
			printf("DONE %d %" PRIu64 " %" PRIu64 " %" PRIu64
			       " %.2f %ld\n",
			       kk, pct(d, kk, n, 0.5), pct(d, kk, n, 0.9),
			       pct(d, kk, n, 1.0), fleet_cpu(k, st) - cpu0,
			       fleet_rss(k, st, 1));
		} else if (sscanf(line, "IDLE %u", &idle_s) == 1) {
			double c0 = fleet_cpu(k, st);
			bench_sleep_ms((uint64_t)idle_s * 1000);
			printf("IDLE %ld %.3f\n", fleet_rss(k, st, 0),
			       fleet_cpu(k, st) - c0);
		} else if (strncmp(line, "QUIT", 4) == 0) {
			rc = 0;
			break;
		}
	}
out:
	fflush(stdout);
	k->stop(st);
	free(d);
	fleet_record_free();
	return rc;
}

/* ---- the parent's side ------------------------------------------------ */

int child_spawn(struct child *c, const char *kind, int n, uint16_t port,
		int connect_s, const char *tuning)
{
	int to[2], from[2];
	char ns[16], ps[16], cs[16];
	pid_t parent;

	if (pipe2(to, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(from, O_CLOEXEC) != 0) {
		close(to[0]);
		close(to[1]);
		return -1;
	}
	snprintf(ns, sizeof(ns), "%d", n);
	snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	snprintf(cs, sizeof(cs), "%d", connect_s);
	parent = getpid();
	c->pid = fork();
	if (c->pid == 0) {
		char *argv[] = {"bench-child", "--child", (char *)kind, ns, ps,
				cs, (char *)tuning, NULL};
		/* Dies with the benchmark, even when that is killed. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
		    getppid() != parent)
			_exit(126);
		dup2(to[0], 0);
		dup2(from[1], 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	if (c->pid < 0) {
		close(to[1]);
		close(from[0]);
		return -1;
	}
	c->in = fdopen(to[1], "w");
	c->out = from[0];
	c->len = 0;
	setvbuf(c->in, NULL, _IOLBF, 0);
	return 0;
}

int child_line(struct child *c, char *line, size_t n, uint64_t ms)
{
	uint64_t end = bench_now_ms() + ms;

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t l = (size_t)(nl - c->buf);
			if (l >= n)
				l = n - 1;
			memcpy(line, c->buf, l);
			line[l] = 0;
			c->len -= (size_t)(nl - c->buf) + 1;
			memmove(c->buf, nl + 1, c->len);
			return 0;
		}
		uint64_t now = bench_now_ms();
		if (now >= end || c->len == sizeof(c->buf))
			return -1;
		struct pollfd p = {.fd = c->out, .events = POLLIN};
		if (poll(&p, 1, (int)(end - now)) <= 0)
			continue;
		ssize_t r = read(c->out, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

void child_reap(struct child *c, int grace_ms)
{
	uint64_t end = bench_now_ms() + (uint64_t)grace_ms;

	if (c->in) {
		fputs("QUIT\n", c->in);
		fclose(c->in);
		c->in = NULL;
	}
	while (waitpid(c->pid, NULL, WNOHANG) == 0) {
		if (bench_now_ms() >= end) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
			break;
		}
		bench_sleep_ms(20);
	}
	close(c->out);
}


/* ---- a WebSocket server in a process of its own ---------------------- */

/* A WebSocket server of its own process: the harness server dup()s every
 * socket, so 10,000 connections would need 20,000 fds in one process, the
 * hard limit here. Each of two servers takes half. Returns the pid and
 * *port, or -1; the server stops when *ctl is closed (or we die). */
pid_t child_ws_server(uint16_t *port, int *ctl)
{
	int up[2], down[2];
	pid_t pid;

	if (pipe2(up, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(down, O_CLOEXEC) != 0) {
		close(up[0]);
		close(up[1]);
		return -1;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct th_ws_server *ws = NULL;
		uint16_t p = 0;
		char c;

		close(up[0]);
		close(down[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		bench_raise_nofile();
		if (th_ws_server_start(NULL, &ws) == 0)
			p = th_ws_server_port(ws);
		if (write(up[1], &p, sizeof(p)) != (ssize_t)sizeof(p) || !p)
			_exit(1);
		while (read(down[0], &c, 1) > 0)
			;
		th_ws_server_free(ws);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (pid < 0 || read(up[0], port, sizeof(*port)) !=
			   (ssize_t)sizeof(*port) || !*port) {
		close(up[0]);
		close(down[1]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return -1;
	}
	close(up[0]);
	*ctl = down[1];
	return pid;
}

void child_ws_server_stop(pid_t pid, int ctl)
{
	uint64_t end = bench_now_ms() + 10000;

	if (pid <= 0)
		return;
	close(ctl);
	while (waitpid(pid, NULL, WNOHANG) == 0) {
		if (bench_now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		bench_sleep_ms(20);
	}
}
