/* A WebSocket test server on libwebsockets, listening on 127.0.0.1 (tests
 * only; docs/architecture.md). It runs its own lws context on its own thread;
 * every function below may be called from any thread (@thread any).
 *
 * How it works, and what it found out about lws 4.1.6 (Debian):
 *
 * - Pings. lws 4.1.6 answers every ping itself, deep in its ws parser: the
 *   payload is stashed, the pong goes out on the next POLLOUT ahead of the
 *   user's WRITEABLE callback, and no callback ever reports the ping (there
 *   is LWS_CALLBACK_RECEIVE_PONG but no RECEIVE_PING, and no option to turn
 *   the auto-pong off; see lws_ws_rx_sm / rops_handle_POLLOUT_ws). So
 *   pings can neither be counted nor left unanswered through the ws role.
 *   This server therefore lets lws do only the HTTP side (parse the
 *   upgrade, pick the subprotocol, reject with a status, write the 101) and
 *   then takes the frames over: in LWS_CALLBACK_ESTABLISHED it dup()s the
 *   socket, stops lws reading the ws wsi (lws_rx_flow_control(wsi, 0)) and
 *   adopts the duplicate as a raw socket (a child of the ws wsi) whose
 *   frames it parses itself. That is how it counts pings and how
 *   TH_WS_IGNORE_PINGS stays silent while still echoing. The vhost's retry
 *   policy has no validity timers so the parked ws wsi never pings on its
 *   own. Limit: ws data a client coalesces with its upgrade request (before
 *   the 101) would be eaten by lws; real clients wait for the 101.
 * - Reject. The upgrade is refused in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
 *   lws_return_http_status(wsi, status, NULL) and return 1 ("headers sent,
 *   transaction done"). The client sees e.g. "HTTP/1.0 401 Unauthorized"
 *   (lws writes 1.0 this early; checked by the suite on a raw socket and
 *   through an lws client, where
 *   lws_http_client_http_response() gives the status in
 *   LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP and CLIENT_CONNECTION_ERROR says
 *   "HS: ws upgrade unauthorized" / "... response not 101"). Returning
 *   non-zero from FILTER_PROTOCOL_CONNECTION instead just drops the TCP
 *   connection with no status, and by then lws has already switched the
 *   wsi to the ws role.
 * - Close. With lws owning the frames, a chosen code goes out with
 *   lws_close_reason(wsi, code, reason, len) then returning -1 from a
 *   WRITEABLE callback. Here the server writes the close frame itself
 *   (code big-endian + reason), waits up to 3 s for the client's close
 *   frame, then closes TCP. A close from the client is answered with the
 *   same code. Beware: the lws 4.1.6 *client* rewrites a server's close
 *   code 1012, 1013, 1014 or 1015 (any code outside RFC 6455's list) to
 *   1002 before LWS_CALLBACK_WS_PEER_INITIATED_CLOSE; the reason text
 *   survives. lws 4.2.0 fixed it (upstream commit fb9abfdf0). The suite
 *   checks those codes on a raw socket.
 * - TLS (opts.tls_cert/tls_key). The takeover above needs the plain TCP
 *   byte stream: with TLS a dup()ed socket carries ciphertext, and the TLS
 *   session lives inside lws. So a TLS server leaves the frames to lws's
 *   ws role and only echoes: LWS_CALLBACK_RECEIVE gathers a message (all
 *   its fragments, same type), SERVER_WRITEABLE writes it back as one
 *   frame. With TLS, lws answers pings itself (th_ws_server_pings stays
 *   0, TH_WS_IGNORE_PINGS answers them anyway), TH_WS_CLOSE_AFTER never
 *   closes and th_ws_server_close_all does nothing; TH_WS_REJECT,
 *   require_header and subprotocol work as without TLS (they happen in the
 *   HTTP phase). Enough for the TLS suite, which checks the handshake.
 *
 * - Resume (docs/architecture.md; ws:// only: a TLS server only echoes). The
 *   server keeps, per session id, an in-memory ordered history of the
 *   messages the test published (th_ws_server_publish, th_ws_gen_start),
 *   numbered 1, 2, 3... per session, at most opts.history_max per session
 *   (0 = 1000; the oldest goes first). The protocol, all text frames:
 *
 *     client -> server  "resume <session> <last_seq>"
 *         One unfragmented text frame. <session>: 1..64 bytes, no space,
 *         tab, CR or LF; <last_seq>: decimal, the newest sequence number
 *         the client has received from this session, 0 for none. The
 *         server binds the socket to the session and sends every kept
 *         message with seq > last_seq in order, then each new one as it
 *         is published. Such a frame is not echoed; any other message
 *         still is. A later resume on the same socket rebinds it; a
 *         resume of a session bound to another socket takes the session
 *         over (the older socket gets nothing more).
 *     server -> client  "seq <N> <payload>"
 *         One message of the session, N = its sequence number.
 *     server -> client  "gap <from> <to>"
 *         Messages from..to were published after last_seq but have left
 *         the history (history_max): they cannot be replayed. Sent once,
 *         before the first "seq" frame of a replay.
 *     Errors close the socket with 1008: "bad resume" (malformed) or
 *         "resume beyond newest" (last_seq is newer than the session's
 *         newest message, e.g. the server was restarted; an unknown
 *         session's newest is 0).
 *
 *   A message is in the history before anyone receives it, so a client
 *   that resumes with the last sequence number it got sees no gap and no
 *   duplicate, whatever the timing of its disconnect.
 *
 * Counters are updated on the service thread and read without locks. */
#ifndef TETHER_HARNESS_WS_SERVER_H
#define TETHER_HARNESS_WS_SERVER_H

#include <stdint.h>

enum th_ws_behaviour {
	TH_WS_ECHO = 0,    /* echo every text/binary message back, same type */
	TH_WS_CLOSE_AFTER, /* accept (and echo), then close with close_code /
			    * close_reason after close_after_ms */
	TH_WS_REJECT,      /* refuse the upgrade with HTTP reject_status */
	TH_WS_IGNORE_PINGS /* accept and echo, never answer pings
			    * (half-open from the client's view) */
};

struct th_ws_server_opts {
	enum th_ws_behaviour behaviour;
	int close_code;           /* 0 = a close frame without a code */
	const char *close_reason; /* NULL = ""; at most 123 bytes are sent */
	int close_after_ms;
	int reject_status; /* 0 = 403 */
	/* Protocol name to accept; NULL = "tether-test". A client that asks
	 * for no protocol is bound to it too; one that asks only for other
	 * protocols is dropped (no status) by lws. Fixed at start: set()
	 * ignores it. */
	const char *subprotocol;
	/* "Name: value" the upgrade must carry, else 401; NULL = none. The
	 * name is matched without case, the value exactly. */
	const char *require_header;
	/* PEM certificate (chain) and key: serve wss:// (see above for what
	 * TLS leaves out). NULL = plain ws://. Fixed at start, copied. */
	const char *tls_cert;
	const char *tls_key;
	/* Resume: messages kept per session; 0 = 1000. Fixed at start. */
	unsigned history_max;
};

struct th_ws_server;

/* Start a server on a free 127.0.0.1 port (retrying a few ports if one
 * was taken meanwhile). o NULL = echo. Raises RLIMIT_NOFILE's soft limit
 * to the hard one and sets lws logging to errors only. Returns 0 and
 * *out, or -1. */
int th_ws_server_start(const struct th_ws_server_opts *o,
		       struct th_ws_server **out);

uint16_t th_ws_server_port(const struct th_ws_server *s);

/* Change the behaviour for connections that upgrade from now on (open
 * ones keep theirs). Strings are copied. */
void th_ws_server_set(struct th_ws_server *s, const struct th_ws_server_opts *o);

/* Send a close frame with code/reason to every open connection; returns
 * once the service thread has queued them (at most 5 s). */
void th_ws_server_close_all(struct th_ws_server *s, int code,
			    const char *reason);

/* Upgrade requests seen (accepted or rejected). */
unsigned th_ws_server_upgrades(const struct th_ws_server *s);
/* WebSocket connections open now (until their TCP socket is closed). */
unsigned th_ws_server_open(const struct th_ws_server *s);
/* Ping frames received, answered or not. */
unsigned th_ws_server_pings(const struct th_ws_server *s);

/* Resume requests accepted (sockets bound to a session). */
unsigned th_ws_server_resumes(const struct th_ws_server *s);

/* Append payload (a C string, copied) to the history of session (created
 * on first use) and deliver it to the socket bound to the session, if
 * any. Returns its sequence number (1, 2, 3... per session), or 0 when
 * session is not a valid id (see above) or memory ran out. */
uint64_t th_ws_server_publish(struct th_ws_server *s, const char *session,
			      const char *payload);

/* Newest sequence number published to session; 0 if none. */
uint64_t th_ws_server_newest(struct th_ws_server *s, const char *session);

/* A generator: a thread publishing "gen 1" ... "gen <count>" to session,
 * one every interval_ms. NULL on a bad session id, count 0 or no memory.
 * Free it before the server. */
struct th_ws_gen;
struct th_ws_gen *th_ws_gen_start(struct th_ws_server *s, const char *session,
				  unsigned count, unsigned interval_ms);
/* Messages published so far. */
unsigned th_ws_gen_published(const struct th_ws_gen *g);
/* Wait until all count messages are published: 0, or -1 at timeout_ms. */
int th_ws_gen_wait(struct th_ws_gen *g, int timeout_ms);
/* Stop (if still running), join and free. NULL is a no-op. */
void th_ws_gen_free(struct th_ws_gen *g);

/* Stop the service thread, close everything, free. NULL is a no-op. */
void th_ws_server_free(struct th_ws_server *s);

#endif
