/* Loopback helpers shared by the test harness (tests only). */
#ifndef TETHER_HARNESS_NET_H
#define TETHER_HARNESS_NET_H

#include <stdint.h>
#include <sys/types.h>

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read it,
 * close). Returns 0 on failure. */
uint16_t th_free_port(void);

/* Wait until something accepts TCP connections on 127.0.0.1:port, trying
 * every 10 ms for at most timeout_ms. Returns 0 when it does, -1 if not. */
int th_wait_port(uint16_t port, int timeout_ms);

/* A listening TCP socket on 127.0.0.1 with an ephemeral port (non-blocking,
 * close-on-exec); *port receives the port. Returns the fd or -1. */
int th_listen_loopback(uint16_t *port);

/* An executable named name: $PATH first, then /usr/bin, /bin and the sbin
 * directories a non-root PATH often lacks. Returns a malloc'ed path or
 * NULL. Resolve before fork so the child only needs execv. */
char *th_find_exe(const char *name);

/* Monotonic milliseconds. */
uint64_t th_now_ms(void);

/* Make a private temporary directory under $TMPDIR (or /tmp) and return
 * its malloc'ed path, or NULL. th_rm_rf removes a tree it made. */
char *th_mkdtemp(const char *prefix);
int th_rm_rf(const char *path);

/* Wait for pid to exit for at most ms; returns 1 if reaped (its wait
 * status in *status when not NULL). */
int th_reap_within(pid_t pid, int ms, int *status);
/* Fork/exec argv with stdout/stderr appended to logpath and stdin from
 * /dev/null; the child dies with our thread. Returns the pid or -errno. */
pid_t th_spawn(char *const argv[], const char *logpath);

#endif
