/* A fleet in a child process (the storm and scale benchmarks): the parent
 * re-executes itself with --child, talks to it in lines over pipes, and
 * the child's CPU time and memory are its own, apart from the servers and
 * the proxy that stay in the parent.
 *
 * The child prints "UP <connected> <ms>" once all N are up (or the
 * connect time ran out), then obeys:
 *   CUT <t>            the proxy cut everything at t (bench_now_ms)
 *   BACK <t> <until>   the server is back since t: wait until every client
 *                      was up after the cut, or until; print
 *                      "DONE <back> <t50> <t90> <t100> <cpu s> <maxrss KiB>"
 *                      (times in ms after t; 18446744073709551615 = not
 *                      reached)
 *   IDLE <s>           sit idle s seconds; print "IDLE <rss KiB> <cpu s>"
 *                      (RSS at the end, CPU over the s seconds)
 *   QUIT               close every client and exit. */
#ifndef TETHER_BENCH_CHILD_H
#define TETHER_BENCH_CHILD_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The child: argv = prog --child kind n port connect_s tuning. */
int child_main(int argc, char **argv);

struct child {
	pid_t pid;
	FILE *in; /* to the child's stdin */
	int out;  /* from the child's stdout */
	char buf[4096];
	size_t len;
};

/* Start a child running fleet `kind` (n clients to 127.0.0.1:port,
 * tuning as fleet_tuning_parse takes it). 0 or -1. */
int child_spawn(struct child *c, const char *kind, int n, uint16_t port,
		int connect_s, const char *tuning);

/* One line from the child, waiting at most ms. 0 or -1. */
int child_line(struct child *c, char *line, size_t n, uint64_t ms);

/* Send QUIT, wait at most grace_ms for it to exit, then SIGKILL it. */
void child_reap(struct child *c, int grace_ms);

/* The harness WebSocket server (echo) in a process of its own: it needs
 * two fds per connection (it dup()s every socket), so thousands of
 * connections would not fit next to the proxy in one process. Returns the
 * server's pid and *port, or -1; *ctl is the pipe whose closing stops it
 * (as does our death). */
pid_t child_ws_server(uint16_t *port, int *ctl);

/* Stop it (close ctl, wait at most 10 s, then SIGKILL). pid <= 0: no-op. */
void child_ws_server_stop(pid_t pid, int ctl);

#endif
