/* Internals of the WebSocket test server shared by ws_server.c (the lws
 * side, frames, lifecycle) and ws_resume.c (the resume protocol). Not for
 * tests: they use ws_server.h. */
#ifndef TETHER_HARNESS_WS_SERVER_INT_H
#define TETHER_HARNESS_WS_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "ws_history.h"
#include "ws_server.h"

#define MAX_REASON 123 /* a control frame payload is <= 125 */

enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8,
       OP_PING = 0x9, OP_PONG = 0xa };

/* A frame waiting to go out, LWS_PRE bytes of headroom first. */
struct out {
	struct out *next;
	size_t len;
	int is_close;
	int binary; /* TLS echo: write as a binary message */
	unsigned char buf[];
};

/* One accepted WebSocket connection: lives in the ws wsi's user space; the
 * raw child wsi that carries its frames points back at it. Touched only on
 * the service thread (or in lws_context_destroy after it stopped). */
struct th_ws_conn {
	struct th_ws_server *srv;
	struct lws *ws;  /* parked: lws no longer reads it */
	struct lws *raw; /* our frames; NULL once closed */
	struct th_ws_conn *next, *prev;

	enum th_ws_behaviour behaviour;
	int close_code;
	char close_reason[MAX_REASON + 1];
	lws_sorted_usec_list_t sul_close;

	unsigned char *rx;
	size_t rx_len, rx_cap;
	struct out *out_head, *out_tail;
	int close_sent;     /* queued our close frame: no more data */
	int close_received; /* peer's close seen: reply, then hang up */
	int lws_frames;     /* TLS: lws's ws role carries the frames */

	/* resume: the session this socket is bound to ("" = none) and the
	 * newest sequence number queued to it */
	char session[TH_WS_SESSION_MAX + 1];
	uint64_t sent_seq;
};

struct opts_copy {
	enum th_ws_behaviour behaviour;
	int close_code;
	char *close_reason;
	int close_after_ms;
	int reject_status;
	char *require_header;
};

struct th_ws_server {
	struct lws_context *ctx;
	pthread_t thread;
	int thread_started;
	atomic_int stop;
	int destroying;
	uint16_t port;
	char *subprotocol;
	char *tls_cert, *tls_key; /* both set: serve TLS */
	SSL_CTX *client_ctx;      /* TLS: see create_context */
	struct lws_protocols protocols[3];
	lws_retry_bo_t retry;
	lws_sorted_usec_list_t sul_tick;

	pthread_mutex_t mu; /* opts and the close_all request */
	pthread_cond_t cv;
	struct opts_copy opts;
	unsigned close_req, close_done;
	int close_all_code;
	char close_all_reason[MAX_REASON + 1];

	struct th_ws_conn *conns; /* service thread only */

	struct th_ws_history *history;
	atomic_int pump; /* a publish is waiting for the service thread */

	atomic_uint upgrades, open, pings, resumes;
};

/* ws_server.c, service thread only. */

/* Queue one frame (b0: FIN and opcode) to c's raw socket: 0, or -1 when
 * the socket is gone or memory ran out. */
int th_ws_queue_frame(struct th_ws_conn *c, unsigned char b0,
		      const unsigned char *payload, size_t len);
/* Start the closing handshake from our side (code 0: no code). */
void th_ws_conn_close(struct th_ws_conn *c, int code, const char *reason);

/* ws_resume.c, service thread only. */

/* Send every bound socket what its session holds past what it got. */
void th_ws_pump_all(struct th_ws_server *s);
/* A "resume " text frame arrived on c; arg is what follows "resume ". */
void th_ws_on_resume(struct th_ws_conn *c, const unsigned char *arg,
		     size_t len);

#endif
