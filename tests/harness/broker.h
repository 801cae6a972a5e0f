/* A mosquitto broker for the integration tests, on loopback (tests only).
 *
 * Each broker gets its own temporary directory (config, password file,
 * persistence, log) and free ports on 127.0.0.1. It dies with the process
 * that started it (PR_SET_PDEATHSIG), so a failing test leaves no broker
 * behind. Not thread-safe: one thread drives a broker. */
#ifndef TETHER_HARNESS_BROKER_H
#define TETHER_HARNESS_BROKER_H

#include <stdint.h>
#include <sys/types.h>

struct th_broker;

struct th_broker_opts {
	int websockets;	      /* also a WebSocket listener */
	const char *username; /* non-NULL: no anonymous clients */
	const char *password;
	int persistence;     /* persistence true, kept across restarts */
	int max_connections; /* > 0: listener max_connections */
	/* Per-client QoS 1/2 limits: 0 keeps mosquitto's default (queued
	 * 1000, in flight 20), > 0 sets the value, < 0 means no maximum.
	 * Beyond max_queued_messages mosquitto drops messages silently. */
	int max_queued_messages;
	int max_inflight_messages;
	/* PEM files: with certfile and keyfile the TCP listener (and the
	 * WebSocket one, with websockets) serves TLS only; cafile is given to
	 * mosquitto too when set. NULL: plain listeners. Copied. */
	const char *tls_cafile;
	const char *tls_certfile;
	const char *tls_keyfile;
	/* The text of a mosquitto acl_file (e.g. "topic readwrite ok/#\n":
	 * every other topic refused), or NULL for none. Copied. */
	const char *acl;
};

/* Start mosquitto (NULL opts = anonymous TCP only) and wait until it
 * listens. Returns 0, -ENOENT when mosquitto is not installed, or another
 * -errno; on failure the tail of the broker's log goes to stderr. */
int th_broker_start(const struct th_broker_opts *o, struct th_broker **out);

/* The TCP listener on 127.0.0.1. */
uint16_t th_broker_port(const struct th_broker *b);

/* The WebSocket listener on 127.0.0.1, or 0 without opts.websockets. */
uint16_t th_broker_ws_port(const struct th_broker *b);

/* The running broker's pid, or -1 after th_broker_kill. */
pid_t th_broker_pid(const struct th_broker *b);

/* The broker's directory (config, mosquitto.log). */
const char *th_broker_dir(const struct th_broker *b);

/* Send sig to the broker. For SIGKILL, SIGTERM, SIGINT and SIGQUIT also
 * wait for it to exit (at most 5 s, then SIGKILL) and reap it; other
 * signals (SIGSTOP, SIGCONT, SIGHUP...) are only sent. Returns 0 or -errno
 * (-ESRCH when no broker runs). */
int th_broker_kill(struct th_broker *b, int sig);

/* Write the password file anew with the user's new password: the running
 * broker reads it at its next start (or SIGHUP). 0 or -errno (-EINVAL
 * for a broker without a user name). */
int th_broker_set_password(struct th_broker *b, const char *password);

/* Start the broker again with the same config, ports and directory (so a
 * persistence file is read back) and wait until it listens; a broker still
 * running is stopped first with SIGTERM. Returns 0 or -errno. */
int th_broker_restart(struct th_broker *b);

/* SIGTERM, wait at most 2 s, then SIGKILL; reap; remove its directory.
 * NULL is a no-op. */
void th_broker_free(struct th_broker *b);

#endif
