/*
 * What the WebSocket transport's files share: ws_lws.c (the lws context
 * on the manager's loop, and the ops), ws_options.c (reading a link's options),
 * ws_reasons.c (mapping how an attempt ended to a tether_reason) and
 * ws_close.c (the peer's close frame as it was sent).
 */
#ifndef TETHER_WS_LWS_H
#define TETHER_WS_LWS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

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

/* Every option tth_ws_options_read reads (the ops' `options`), and the
   schemes' default ports (`default_ports`). */
extern const struct tether_option tth_ws_options[];
extern const struct tether_default_port tth_ws_default_ports[];

/* A link's settings, read from its tether_params by tth_ws_options_read. */
struct ws_options {
	char *subprotocol;
	char *origin;
	char *ca_file;
	char *cert_file, *key_file, *key_password; /* client certificate */
	char *alpn;  /* ALPN protocols, comma-separated; NULL: lws's */
	int min_tls; /* 0 (OpenSSL's floor), 12 or 13 */
	char *proxy; /* HTTP CONNECT proxy: "http://HOST:PORT", "env", NULL */
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

/*
 * The lws context's service buffer, where lws 4.1 reads every frame; the
 * size tether gives the context (pt_serv_buf_size). See ws_close.c.
 */
#define WS_SERV_BUF_SIZE 4096u

struct ws_close_buf {
	const unsigned char *buf; /* NULL: not known (yet, or not on this lws) */
	int failed;               /* it could not be found: stop looking */
};

/* Whether this lws needs (and gets) the close code recovered. */
int tth_ws_close_recovers(void);

/* At LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: *in and len. */
void tth_ws_close_note_handshake(struct ws_close_buf *cb, const char *cursor,
				 size_t room);

/*
 * At LWS_CALLBACK_WS_PEER_INITIATED_CLOSE (in, len: the close payload,
 * which lws echoes after the callback): the peer's close code, 0 for none.
 * A code lws rewrote is restored, in `in` too; *unsure is set when it may
 * have been rewritten and could not be restored.
 */
int tth_ws_close_peer_code(const struct ws_close_buf *cb, unsigned char *in,
			   size_t len, int *unsure);

/* Keep at most cap - 1 bytes of a peer's reason text, control bytes as '?'. */
void tth_ws_close_keep_text(char *dst, size_t cap, const unsigned char *src,
			    size_t len);

/*
 * One attempt: one lws client wsi. Everything here is touched on the loop
 * thread only (lws runs on the manager's libuv loop).
 */
struct ws_sess {
	struct ws_link *link;
	tether_conn *conn;
	uint32_t attempt;

	/* parsed endpoint: host, Host: header value and path, one block */
	char *host;              /* address, no brackets */
	char *host_hdr;
	char *path;
	int port;
	int tls;

	struct lws *wsi;         /* set once connect returns; NULL again when
				    the wsi is done with us (detached) */
	int detached;
	struct ws_frame *txq, *txq_tail;
	int established;
	int closing;             /* tether asked for an orderly close */
	int reported_end;        /* fail/down/closed already reported */
	int local_close;         /* a close code we chose (1009), or 0 */
	int peer_code;           /* close code from the peer, 0 = none */
	int peer_closed;         /* a close frame arrived */
	int peer_code_unsure;    /* 1002 that lws may have rewritten */
	int rx_binary;
	int rx_open;             /* a message is being assembled */
	int cert_failed;         /* the peer's certificate did not verify */
	unsigned char *rx;
	size_t rx_len, rx_cap;
	char peer_text[124];     /* a close reason is at most 123 bytes */
	uint64_t retry_after_ms; /* a refusal's Retry-After, 0 = none */
};

/*
 * Report that the attempt ended (failed, or went down) with *r, unless an
 * end was reported already.
 */
void tth_ws_report_end(struct ws_sess *s, int failed,
		       const struct tether_reason *r);

/* Fill *r; text is borrowed. */
void tth_ws_reason_init(struct tether_reason *r, enum tether_reason_kind kind,
			int code, int by_peer, const char *text);

/* An HTTP Retry-After value in ms (0: none, not understood, or past),
   at most a day; now: the wall clock, for the HTTP-date form. */
uint64_t tth_ws_retry_after_ms(const char *value, time_t now);

void tth_ws_report_connect_error(struct ws_sess *s, struct lws *wsi,
				 const char *in, size_t len);
void tth_ws_report_closed(struct ws_sess *s);
void tth_ws_report_sync_failure(struct ws_sess *s);

#endif
