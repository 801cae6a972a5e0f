/* A TCP fault proxy for the tests (docs/architecture.md): it sits between
 * clients and one upstream on 127.0.0.1, relays in its own thread, and can
 * be switched live between pass, delay, refuse, reset, blackhole and a
 * bandwidth cap.
 *
 * Every function here is safe to call from any thread while the proxy
 * thread relays (@thread any), except th_proxy_free, which must not race
 * with other calls on the same proxy. Mode changes, target changes and cuts
 * are synchronous: when the call returns, the proxy thread has applied them
 * (for instance the listening socket is closed when th_proxy_set_mode(...,
 * TH_PROXY_REFUSE, ...) returns).
 */
#ifndef TETHER_HARNESS_PROXY_H
#define TETHER_HARNESS_PROXY_H

#include <stddef.h>
#include <stdint.h>

struct th_proxy;

/**
 * Start a proxy listening on 127.0.0.1:<ephemeral> that forwards every
 * accepted connection to 127.0.0.1:target_port, in PASS mode. Raises the
 * soft RLIMIT_NOFILE to the hard limit if it is below 8192.
 * @param target_port upstream port on 127.0.0.1
 * @param out receives the proxy; set to NULL on failure
 * @return 0, or -errno (socket, epoll, eventfd, thread or memory failure)
 * @thread any
 */
int th_proxy_start(uint16_t target_port, struct th_proxy **out);

/**
 * The port the proxy listens on. It stays the same across REFUSE.
 * @thread any
 */
uint16_t th_proxy_port(const struct th_proxy *p);

/** What the proxy does to connections. */
enum th_proxy_mode {
	/** Relay both ways. */
	TH_PROXY_PASS,
	/** Hold each chunk param ms before forwarding it, in both
	 *  directions; order is preserved. */
	TH_PROXY_DELAY,
	/** Close the listening socket, so new connections get a real
	 *  ECONNREFUSED from the kernel; the same port is listened on again
	 *  when the mode changes. Those refused attempts never reach user
	 *  space, so they are NOT counted by th_proxy_attempts. Existing
	 *  connections are left alone (th_proxy_cut drops them). */
	TH_PROXY_REFUSE,
	/** Accept each new connection (counted) and close it at once with
	 *  RST; entering RESET also resets every current connection. */
	TH_PROXY_RESET,
	/** Accept new connections (counted) and hold them open; relay nothing
	 *  in either direction on any connection. Arriving bytes are left
	 *  unread in the kernel (and bytes already buffered by the proxy are
	 *  held), so a peer sees no data, no FIN and no RST; when the mode
	 *  changes they are relayed. An upstream that fails meanwhile is
	 *  reported to the client only after BLACKHOLE ends. */
	TH_PROXY_BLACKHOLE,
	/** Relay at most param bytes per second per direction per
	 *  connection (token bucket, bursts of at most 1/20 s). */
	TH_PROXY_BANDWIDTH,
};

/**
 * Switch mode live. Leaving BLACKHOLE, DELAY or BANDWIDTH resumes normal
 * relaying on the connections that still exist.
 * @param m the new mode
 * @param param delay in ms (DELAY), bytes per second (BANDWIDTH, 0 is
 *        taken as 1), ignored otherwise
 * @thread any
 */
void th_proxy_set_mode(struct th_proxy *p, enum th_proxy_mode m,
		       uint64_t param);

/**
 * Forward connections accepted from now on to 127.0.0.1:target_port;
 * current connections keep their upstream.
 * @thread any
 */
void th_proxy_set_target(struct th_proxy *p, uint16_t target_port);

/**
 * Drop every current connection, both client and upstream side, now.
 * @param rst nonzero: close with RST (SO_LINGER 0); zero: close with FIN
 * @thread any
 */
void th_proxy_cut(struct th_proxy *p, int rst);

/**
 * Connection attempts seen since start or the last th_proxy_reset_counters:
 * every connection the proxy accepted, whatever the mode (attempts refused
 * in REFUSE mode are not seen).
 * @thread any
 */
uint64_t th_proxy_attempts(const struct th_proxy *p);

/**
 * Client connections currently open through the proxy.
 * @thread any
 */
size_t th_proxy_open(const struct th_proxy *p);

/**
 * The th_now_ms() timestamps of the attempts counted by th_proxy_attempts,
 * oldest first.
 * @param out receives up to max timestamps (may be NULL if max is 0)
 * @return the total number of timestamps recorded (may exceed max)
 * @thread any
 */
size_t th_proxy_attempt_times(const struct th_proxy *p, uint64_t *out,
			      size_t max);

/**
 * Zero the attempt count and forget the attempt timestamps (the open count
 * is a state, not a counter, and is kept).
 * @thread any
 */
void th_proxy_reset_counters(struct th_proxy *p);

/**
 * Stop the proxy thread and close the listening socket and every connection
 * (plain close on both sides). th_proxy_free(NULL) is a no-op.
 * @thread any, but not concurrently with other calls on p
 */
void th_proxy_free(struct th_proxy *p);

#endif
