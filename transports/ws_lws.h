/*
 * What the WebSocket transport's files share: ws_lws.c (the lws context,
 * its service thread and the ops), ws_options.c (reading a link's options)
 * and ws_reasons.c (mapping how an attempt ended to a tether_reason).
 */
#ifndef TETHER_WS_LWS_H
#define TETHER_WS_LWS_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include <tether/transport.h>

struct ws_ctx;
struct ws_link;
struct ws_sess;
struct ws_frame;

struct ws_header {
	char *name;
	char *value;
};

/* A link's settings, read from its tether_params by tth_ws_options_read. */
struct ws_options {
	char *subprotocol;
	char *origin;
	char *ca_file;
	int verify;
	size_t max_message;
	struct ws_header *headers;
	size_t nheaders;
};

/*
 * Fill *o (zeroed by the caller) from opts, which may be NULL for the
 * defaults. Returns 0, TETHER_ECONFIG (the reasons are recorded in opts) or
 * TETHER_ENOMEM; on failure *o may hold part of the settings:
 * tth_ws_options_cleanup() it either way.
 */
int tth_ws_options_read(struct ws_options *o, tether_params *opts);

/* Free what tth_ws_options_read allocated; *o itself is the caller's. */
void tth_ws_options_cleanup(struct ws_options *o);

/* A command node embedded in its session: queueing it twice is a no-op. */
enum ws_op { WS_OP_CONNECT, WS_OP_ABORT, WS_OP_CLOSE, WS_OP_WRITE };

struct ws_cmd {
	struct ws_cmd *next;
	struct ws_sess *sess;
	enum ws_op op;
	int queued;
};

struct ws_sess {
	struct ws_ctx *ctx;
	struct ws_link *link;
	tether_conn *conn;
	uint32_t attempt;
	int refs;                /* ctx->mu */
	struct ws_sess *prev, *next; /* ctx->all, ctx->mu */

	/* parsed endpoint */
	char *host;              /* address, no brackets */
	char *host_hdr;          /* Host: value */
	char *path;
	int port;
	int tls;

	struct ws_cmd cmd[4];    /* indexed by enum ws_op; ctx->mu */

	int dead;                /* ctx->rep_mu: report nothing more */
	int ended;               /* ctx->mu: the wsi is gone, sends fail */
	struct ws_frame *txq, *txq_tail; /* ctx->mu */

	/* service thread only */
	struct lws *wsi;
	int has_wsi;             /* holds the wsi's reference */
	int established;
	int closing;             /* tether asked for an orderly close */
	int reported_end;        /* fail/down/closed already reported */
	int local_close;         /* a close code we chose (1009), or 0 */
	int peer_code;           /* close code from the peer, 0 = none */
	char peer_text[124];
	int peer_closed;         /* a close frame arrived */
	unsigned char *rx;
	size_t rx_len, rx_cap;
	int rx_binary;
	int rx_open;             /* a message is being assembled */
	int cert_failed;         /* the peer's certificate did not verify */
};

/*
 * Report that the attempt ended (failed, or went down) with *r, unless an
 * end was reported already or the session is dead. Service thread only.
 */
void tth_ws_report_end(struct ws_sess *s, int failed,
		       const struct tether_reason *r);

/* Fill *r; text is borrowed. */
void tth_ws_reason_init(struct tether_reason *r, enum tether_reason_kind kind,
			int code, int by_peer, const char *text);

void tth_ws_report_connect_error(struct ws_sess *s, struct lws *wsi,
				 const char *in, size_t len);
void tth_ws_report_closed(struct ws_sess *s);
void tth_ws_report_sync_failure(struct ws_sess *s);

#endif
