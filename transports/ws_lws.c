/*
 * The WebSocket transport ("ws": ws://, wss://) on libwebsockets 4.1.
 *
 * lws 4.1.6 as packaged by Debian has no external-poll support and is not
 * thread-safe (LWS_MAX_SMP 1) except for lws_cancel_service(). So each
 * manager gets one lws context driven by a service thread of its own, and
 * the loop thread never calls lws: it queues commands (connect, abort,
 * close, write) under a mutex and wakes the service thread, which drains
 * the queue in LWS_CALLBACK_EVENT_WAIT_CANCELLED (and on a periodic timer,
 * which also keeps lws_service() from sleeping forever).
 *
 * Objects and who owns them:
 *   ws_ctx   one per manager: the lws context, the thread, the queue.
 *   ws_link  one per connection: its options. Refcounted: tether's
 *            reference (dropped in link_free) plus one per session.
 *   ws_sess  one per attempt (one lws client wsi). Refcounted: the link's
 *            current-attempt pointer, each queued command, and the wsi
 *            (from connect until the wsi's last callback).
 * Counts and queues are protected by ctx->mu, which is never held while
 * calling into tether. Reports to tether go through a gate, ctx->rep_mu,
 * which abort and link_free take to mark a session dead: once they return,
 * nothing more is reported about that attempt and the tether_conn pointer
 * is not touched again.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <libwebsockets.h>

#include "builtin.h"
#include "ws_lws.h"

#define WS_PROTOCOL_NAME "tether-ws"
#define WS_TICK_US (200 * LWS_US_PER_MS)
#define WS_MAX_FDS_CAP (1u << 18)

/* One outbound frame, with LWS_PRE bytes of headroom before the payload. */
struct ws_frame {
	struct ws_frame *next;
	uint64_t msg_id;
	size_t len;
	enum lws_write_protocol proto;
	unsigned char buf[];
};

struct ws_vhost {
	struct ws_vhost *next;
	char *ca_file;
	struct lws_vhost *vh;
};

struct ws_ctx {
	tether_mgr *mgr;
	struct lws_context *lws;
	pthread_t thread;
	int thread_started;
	lws_sorted_usec_list_t tick;

	pthread_mutex_t mu;      /* queue, refcounts, tx queues, ended */
	pthread_mutex_t rep_mu;  /* the report gate: sess->dead */
	struct ws_cmd *head, *tail;
	int stop;
	struct ws_sess *all;     /* every live session, for ctx_free */

	struct ws_vhost *vhosts; /* service thread only */
};

struct ws_link {
	struct ws_ctx *ctx;
	tether_conn *conn;
	struct ws_options opt;
	int refs;                /* ctx->mu */
	struct ws_sess *cur;     /* loop thread only */
};

/* ------------------------------------------------------------ helpers */

static void link_unref_locked(struct ws_link *l)
{
	if (--l->refs > 0)
		return;
	tth_ws_options_cleanup(&l->opt);
	free(l);
}

static void frames_free(struct ws_frame *f)
{
	while (f) {
		struct ws_frame *n = f->next;

		free(f);
		f = n;
	}
}

/* Drop one reference; ctx->mu held. */
static void sess_unref_locked(struct ws_sess *s)
{
	struct ws_ctx *ctx = s->ctx;

	if (--s->refs > 0)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		ctx->all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	frames_free(s->txq);
	free(s->rx);
	free(s->host);
	free(s->host_hdr);
	free(s->path);
	link_unref_locked(s->link);
	free(s);
}

static void sess_unref(struct ws_sess *s)
{
	struct ws_ctx *ctx = s->ctx;

	pthread_mutex_lock(&ctx->mu);
	sess_unref_locked(s);
	pthread_mutex_unlock(&ctx->mu);
}

/* Queue a command and wake the service thread. */
static void sess_queue(struct ws_sess *s, enum ws_op op)
{
	struct ws_ctx *ctx = s->ctx;
	struct ws_cmd *c = &s->cmd[op];

	pthread_mutex_lock(&ctx->mu);
	if (!c->queued) {
		c->queued = 1;
		c->next = NULL;
		s->refs++;
		if (ctx->tail)
			ctx->tail->next = c;
		else
			ctx->head = c;
		ctx->tail = c;
	}
	pthread_mutex_unlock(&ctx->mu);
	lws_cancel_service(ctx->lws);
}

/* Mark a session dead: after this, nothing is reported about it. */
static void sess_kill_reports(struct ws_sess *s)
{
	pthread_mutex_lock(&s->ctx->rep_mu);
	s->dead = 1;
	pthread_mutex_unlock(&s->ctx->rep_mu);
}

/*
 * The report gate: returns 1 with rep_mu held when the session may still
 * report (then call gate_leave), 0 otherwise.
 */
static int gate_enter(struct ws_sess *s)
{
	pthread_mutex_lock(&s->ctx->rep_mu);
	if (!s->dead)
		return 1;
	pthread_mutex_unlock(&s->ctx->rep_mu);
	return 0;
}

static void gate_leave(struct ws_sess *s)
{
	pthread_mutex_unlock(&s->ctx->rep_mu);
}

void tth_ws_report_end(struct ws_sess *s, int failed,
		       const struct tether_reason *r)
{
	if (s->reported_end)
		return;
	s->reported_end = 1;
	if (!gate_enter(s))
		return;
	if (s->closing)
		tether_transport_closed(s->conn, s->attempt);
	else if (failed)
		tether_transport_fail(s->conn, s->attempt, r);
	else
		tether_transport_down(s->conn, s->attempt, r);
	gate_leave(s);
}

/*
 * The wsi is finished with this session: detach it so later callbacks of
 * the wsi see no session, fail the sends still queued, drop the wsi's
 * reference. Service thread only.
 */
static void sess_detach(struct ws_sess *s, struct lws *wsi)
{
	struct ws_ctx *ctx = s->ctx;
	struct ws_frame *q;

	if (!s->has_wsi)
		return;
	s->has_wsi = 0;
	if (wsi)
		lws_set_opaque_user_data(wsi, NULL);
	s->wsi = NULL;
	pthread_mutex_lock(&ctx->mu);
	s->ended = 1;
	q = s->txq;
	s->txq = s->txq_tail = NULL;
	pthread_mutex_unlock(&ctx->mu);
	if (q && gate_enter(s)) {
		for (struct ws_frame *f = q; f; f = f->next)
			if (f->proto != LWS_WRITE_PING)
				tether_transport_sent(s->conn, s->attempt,
						      f->msg_id, TETHER_ECLOSED);
		gate_leave(s);
	}
	frames_free(q);
	sess_unref(s);
}

/* ----------------------------------------------------- service thread */

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
		       void *user, void *in, size_t len);

static const struct lws_protocols ws_protocols[] = {
	{WS_PROTOCOL_NAME, ws_callback, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}};

/*
 * A ca_file needs a vhost of its own: lws 4.1 loads client CAs per vhost
 * (client_ssl_ca_filepath). One vhost per distinct file, made on first use.
 */
static struct lws_vhost *vhost_for(struct ws_ctx *ctx, const char *ca_file)
{
	struct lws_context_creation_info info;
	struct ws_vhost *v;
	static const char prefix[] = "tether-ca-";
	char name[sizeof(prefix) + 20];
	unsigned n = 0;

	for (v = ctx->vhosts; v; v = v->next, n++)
		if (strcmp(v->ca_file, ca_file) == 0)
			return v->vh;
	v = calloc(1, sizeof(*v) + sizeof(name));
	if (!v)
		return NULL;
	v->ca_file = strdup(ca_file);
	if (!v->ca_file) {
		free(v);
		return NULL;
	}
	snprintf(name, sizeof(name), "%s%u", prefix, n);
	memcpy(v + 1, name, sizeof(name)); /* lws keeps the name pointer */
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ws_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.vhost_name = (const char *)(v + 1);
	info.client_ssl_ca_filepath = v->ca_file;
	info.user = ctx;
	v->vh = lws_create_vhost(ctx->lws, &info);
	if (!v->vh) {
		free(v->ca_file);
		free(v);
		return NULL;
	}
	v->next = ctx->vhosts;
	ctx->vhosts = v;
	return v->vh;
}

static void on_connect(struct ws_sess *s)
{
	struct ws_ctx *ctx = s->ctx;
	struct ws_link *l = s->link;
	struct lws_client_connect_info ci;
	struct tether_reason r;
	struct lws *wsi;
	int dead;

	pthread_mutex_lock(&ctx->rep_mu);
	dead = s->dead;
	pthread_mutex_unlock(&ctx->rep_mu);
	if (dead || s->has_wsi || s->reported_end)
		return;

	memset(&ci, 0, sizeof(ci));
	ci.context = ctx->lws;
	ci.address = s->host;
	ci.port = s->port;
	ci.path = s->path;
	ci.host = s->host_hdr;
	ci.origin = l->opt.origin;
	ci.protocol = l->opt.subprotocol;
	ci.local_protocol_name = WS_PROTOCOL_NAME;
	/* tether handles redirects itself: a 3xx becomes a reason */
	ci.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	if (s->tls) {
		ci.ssl_connection |= LCCSCF_USE_SSL;
		if (!l->opt.verify)
			ci.ssl_connection |=
			    LCCSCF_ALLOW_SELFSIGNED |
			    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
			    LCCSCF_ALLOW_INSECURE | LCCSCF_ALLOW_EXPIRED;
		if (l->opt.ca_file) {
			ci.vhost = vhost_for(ctx, l->opt.ca_file);
			if (!ci.vhost) {
				tth_ws_reason_init(&r, TETHER_KIND_TLS,
						   TETHER_TLS_HANDSHAKE, 0,
						   "cannot load ca_file");
				tth_ws_report_end(s, 1, &r);
				return;
			}
		}
	}
	ci.opaque_user_data = s;

	/* the wsi's reference; CONNECTION_ERROR may run inside the call */
	pthread_mutex_lock(&ctx->mu);
	s->refs++;
	pthread_mutex_unlock(&ctx->mu);
	s->has_wsi = 1;
	wsi = lws_client_connect_via_info(&ci);
	if (!wsi) {
		if (!s->reported_end)
			tth_ws_report_sync_failure(s);
		sess_detach(s, NULL);
		return;
	}
	if (s->has_wsi)
		s->wsi = wsi;
}

static void on_abort(struct ws_sess *s)
{
	struct lws *wsi = s->wsi;
	int fd;

	if (!s->has_wsi || !wsi)
		return;
	/*
	 * Drop at once, no close handshake: shut the socket so lws cannot
	 * linger in a close exchange, then have lws free the wsi.
	 */
	if (s->established) {
		fd = lws_get_socket_fd(wsi);
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
	}
	sess_detach(s, wsi);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void on_close(struct ws_sess *s)
{
	if (!s->has_wsi || !s->wsi)
		return;
	s->closing = 1;
	if (s->established)
		lws_callback_on_writable(s->wsi);
	else /* not up yet: nothing to close orderly; WSI_DESTROY reports */
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK,
				LWS_TO_KILL_ASYNC);
}

static void drain(struct ws_ctx *ctx)
{
	struct ws_cmd *c;

	for (;;) {
		pthread_mutex_lock(&ctx->mu);
		/* while ctx_free destroys the context, leave the queue be */
		c = ctx->stop ? NULL : ctx->head;
		if (c) {
			ctx->head = c->next;
			if (!ctx->head)
				ctx->tail = NULL;
			c->queued = 0;
		}
		pthread_mutex_unlock(&ctx->mu);
		if (!c)
			return;
		switch (c->op) {
		case WS_OP_CONNECT:
			on_connect(c->sess);
			break;
		case WS_OP_ABORT:
			on_abort(c->sess);
			break;
		case WS_OP_CLOSE:
			on_close(c->sess);
			break;
		case WS_OP_WRITE:
			if (c->sess->wsi && c->sess->established)
				lws_callback_on_writable(c->sess->wsi);
			break;
		}
		sess_unref(c->sess); /* the command's reference */
	}
}

/* One frame per writable callback; returns -1 to close the wsi. */
static int on_writable(struct ws_sess *s, struct lws *wsi)
{
	struct ws_ctx *ctx = s->ctx;
	struct ws_frame *f;
	int n, more;

	if (s->closing) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if (s->local_close) {
		static const char why[] = "message too big";

		lws_close_reason(wsi, (enum lws_close_status)s->local_close,
				 (unsigned char *)why, sizeof(why) - 1);
		return -1;
	}
	pthread_mutex_lock(&ctx->mu);
	f = s->txq;
	if (f) {
		s->txq = f->next;
		if (!s->txq)
			s->txq_tail = NULL;
	}
	more = s->txq != NULL;
	pthread_mutex_unlock(&ctx->mu);
	if (!f)
		return 0;
	n = lws_write(wsi, f->buf + LWS_PRE, f->len, f->proto);
	if (f->proto != LWS_WRITE_PING && gate_enter(s)) {
		tether_transport_sent(s->conn, s->attempt, f->msg_id,
				      n < (int)f->len ? TETHER_EIO : 0);
		gate_leave(s);
	}
	free(f);
	if (n < 0)
		return -1;
	if (more)
		lws_callback_on_writable(wsi);
	return 0;
}

static int on_receive(struct ws_sess *s, struct lws *wsi, const void *in,
		      size_t len)
{
	size_t need, cap;
	unsigned char *p;

	if (gate_enter(s)) {
		tether_transport_activity(s->conn, s->attempt);
		gate_leave(s);
	}
	if (!s->rx_open) {
		s->rx_open = 1;
		s->rx_len = 0;
		s->rx_binary = lws_frame_is_binary(wsi);
	}
	if (s->local_close)
		return 0; /* closing: drop the rest */
	need = s->rx_len + len;
	if (need > s->link->opt.max_message || need < s->rx_len) {
		/*
		 * Close from the writable callback: returning -1 from a
		 * receive callback crashes lws 4.1.6 when more of the frame
		 * is still buffered.
		 */
		s->local_close = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (need > s->rx_cap) {
		cap = s->rx_cap ? s->rx_cap : 4096;
		while (cap < need)
			cap *= 2;
		if (cap > s->link->opt.max_message)
			cap = s->link->opt.max_message;
		p = realloc(s->rx, cap);
		if (!p)
			return -1;
		s->rx = p;
		s->rx_cap = cap;
	}
	if (len)
		memcpy(s->rx + s->rx_len, in, len);
	s->rx_len = need;
	if (lws_is_final_fragment(wsi) &&
	    lws_remaining_packet_payload(wsi) == 0) {
		struct tether_message m;

		memset(&m, 0, sizeof(m));
		m.size = sizeof(m);
		m.payload = s->rx;
		m.len = s->rx_len;
		m.binary = s->rx_binary;
		if (gate_enter(s)) {
			tether_transport_message(s->conn, s->attempt, &m);
			gate_leave(s);
		}
		s->rx_len = 0;
		s->rx_open = 0;
	}
	return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
		       void *user, void *in, size_t len)
{
	struct ws_sess *s = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	struct ws_ctx *ctx;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		ctx = lws_context_user(lws_get_context(wsi));
		if (ctx)
			drain(ctx);
		return 0;
	default:
		break;
	}
	if (!s)
		return 0;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		char **p = in, *end = *p + len;

		for (size_t i = 0; i < s->link->opt.nheaders; i++) {
			const struct ws_header *h = &s->link->opt.headers[i];
			int n = snprintf(*p, (size_t)(end - *p), "%s: %s\r\n",
					 h->name, h->value);

			if (n < 0 || n >= end - *p)
				return -1; /* no room: fail the attempt */
			*p += n;
		}
		return 0;
	}
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		/* len is OpenSSL's preverify_ok; lws decides, we take note */
		if (!len && s->link->opt.verify)
			s->cert_failed = 1;
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED: {
		int pending;

		s->established = 1;
		if (gate_enter(s)) {
			tether_transport_up(s->conn, s->attempt, 0);
			gate_leave(s);
		}
		pthread_mutex_lock(&s->ctx->mu);
		pending = s->txq != NULL;
		pthread_mutex_unlock(&s->ctx->mu);
		if (s->closing || pending)
			lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!s->reported_end)
			tth_ws_report_connect_error(s, wsi, in, in ? len : 0);
		sess_detach(s, wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(s, wsi, in, len);
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		if (gate_enter(s)) {
			tether_transport_pong(s->conn, s->attempt);
			gate_leave(s);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writable(s, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
		const unsigned char *b = in;

		s->peer_closed = 1;
		if (b && len >= 2) {
			s->peer_code = (b[0] << 8) | b[1];
			snprintf(s->peer_text, sizeof(s->peer_text), "%.*s",
				 (int)(len - 2), (const char *)b + 2);
		}
		return 0; /* lws echoes the close */
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!s->reported_end)
			tth_ws_report_closed(s);
		sess_detach(s, wsi);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* the wsi ends without the callbacks above (killed early) */
		if (!s->reported_end) {
			if (s->established)
				tth_ws_report_closed(s);
			else
				tth_ws_report_connect_error(s, NULL, NULL, 0);
		}
		sess_detach(s, wsi);
		return 0;
	default:
		return 0;
	}
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
	struct ws_ctx *ctx = lws_container_of(sul, struct ws_ctx, tick);

	/* also covers a wake-up lost to a race with the poll */
	drain(ctx);
	lws_sul_schedule(ctx->lws, 0, &ctx->tick, on_tick, WS_TICK_US);
}

static int ctx_stopping(struct ws_ctx *ctx)
{
	int stop;

	pthread_mutex_lock(&ctx->mu);
	stop = ctx->stop;
	pthread_mutex_unlock(&ctx->mu);
	return stop;
}

static void *service_main(void *arg)
{
	struct ws_ctx *ctx = arg;

	lws_sul_schedule(ctx->lws, 0, &ctx->tick, on_tick, WS_TICK_US);
	while (!ctx_stopping(ctx))
		if (lws_service(ctx->lws, 0) < 0)
			break;
	lws_sul_cancel(&ctx->tick);
	return NULL;
}

/* ------------------------------------------------------------ context */

/*
 * Thousands of links need thousands of descriptors: raise the soft limit
 * towards the hard one (capped, since lws sizes tables by it).
 */
static unsigned raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	want = rl.rlim_max;
	if (want == RLIM_INFINITY || want > WS_MAX_FDS_CAP)
		want = WS_MAX_FDS_CAP;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > WS_MAX_FDS_CAP)
		return WS_MAX_FDS_CAP;
	return (unsigned)rl.rlim_cur;
}

static void ws_ctx_free(void *vctx);

static int ws_ctx_new(tether_mgr *mgr, void **out)
{
	struct lws_context_creation_info info;
	struct ws_ctx *ctx;
	const char *lv = getenv("TETHER_WS_LOG_LEVEL");

	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return TETHER_ENOMEM;
	ctx->mgr = mgr;
	pthread_mutex_init(&ctx->mu, NULL);
	pthread_mutex_init(&ctx->rep_mu, NULL);

	/* lws logs to stderr by default: errors only, unless asked */
	lws_set_log_level(lv && *lv ? (int)strtol(lv, NULL, 0) : LLL_ERR,
			  NULL);

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ws_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.fd_limit_per_thread = raise_nofile();
	info.user = ctx;
	ctx->lws = lws_create_context(&info);
	if (!ctx->lws) {
		ws_ctx_free(ctx);
		return TETHER_EIO;
	}
	if (pthread_create(&ctx->thread, NULL, service_main, ctx) != 0) {
		ws_ctx_free(ctx);
		return TETHER_EIO;
	}
	ctx->thread_started = 1;
	*out = ctx;
	return 0;
}

static void ws_ctx_free(void *vctx)
{
	struct ws_ctx *ctx = vctx;
	struct ws_cmd *c;

	if (!ctx)
		return;
	if (ctx->thread_started) {
		pthread_mutex_lock(&ctx->mu);
		ctx->stop = 1;
		pthread_mutex_unlock(&ctx->mu);
		lws_cancel_service(ctx->lws);
		pthread_join(ctx->thread, NULL);
	}
	/* every link is freed, so every session is dead: no reports */
	if (ctx->lws)
		lws_context_destroy(ctx->lws);
	pthread_mutex_lock(&ctx->mu);
	while ((c = ctx->head)) {
		ctx->head = c->next;
		c->queued = 0;
		sess_unref_locked(c->sess);
	}
	while (ctx->all) {
		ctx->all->refs = 1;
		sess_unref_locked(ctx->all);
	}
	pthread_mutex_unlock(&ctx->mu);
	while (ctx->vhosts) {
		struct ws_vhost *v = ctx->vhosts;

		ctx->vhosts = v->next;
		free(v->ca_file);
		free(v);
	}
	pthread_mutex_destroy(&ctx->mu);
	pthread_mutex_destroy(&ctx->rep_mu);
	free(ctx);
}

/* --------------------------------------------------------------- link */

static int ws_check(tether_conn *conn, tether_params *opts)
{
	struct ws_options o;
	int rc;

	(void)conn;
	memset(&o, 0, sizeof(o));
	rc = tth_ws_options_read(&o, opts);
	tth_ws_options_cleanup(&o);
	return rc;
}

static int ws_link_new(void *vctx, tether_conn *conn, tether_params *opts,
		       void **out)
{
	struct ws_ctx *ctx = vctx;
	struct ws_link *l;
	int rc;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return TETHER_ENOMEM;
	l->ctx = ctx;
	l->conn = conn;
	l->refs = 1;
	rc = tth_ws_options_read(&l->opt, opts);
	if (rc) {
		link_unref_locked(l); /* not shared yet */
		return rc;
	}
	*out = l;
	return 0;
}

static void ws_abort(void *vlink, uint32_t attempt);

static void ws_link_free(void *vlink)
{
	struct ws_link *l = vlink;
	struct ws_ctx *ctx;

	if (!l)
		return;
	ctx = l->ctx;
	if (l->cur)
		ws_abort(l, l->cur->attempt);
	pthread_mutex_lock(&ctx->mu);
	link_unref_locked(l);
	pthread_mutex_unlock(&ctx->mu);
}

/* ---------------------------------------------------------------- ops */

static int ws_connect(void *vlink, uint32_t attempt, const char *uri)
{
	struct ws_link *l = vlink;
	struct ws_ctx *ctx = l->ctx;
	const char *prot, *ads, *path;
	struct ws_sess *s;
	char *copy, hostbuf[300];
	int port = 0, tls, v6;
	size_t plen;

	if (l->cur) /* single flight: a new attempt replaces the old one */
		ws_abort(l, l->cur->attempt);
	if (!uri)
		return TETHER_EINVAL;
	copy = strdup(uri);
	if (!copy)
		return TETHER_ENOMEM;
	if (lws_parse_uri(copy, &prot, &ads, &port, &path) != 0 ||
	    (strcmp(prot, "ws") != 0 && strcmp(prot, "wss") != 0) || !*ads ||
	    port <= 0 || port > 65535) {
		free(copy);
		return TETHER_EINVAL;
	}
	tls = strcmp(prot, "wss") == 0;
	v6 = strchr(ads, ':') != NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		free(copy);
		return TETHER_ENOMEM;
	}
	s->ctx = ctx;
	s->link = l;
	s->conn = l->conn;
	s->attempt = attempt;
	s->port = port;
	s->tls = tls;
	s->refs = 1; /* l->cur */
	for (int i = 0; i < 4; i++) {
		s->cmd[i].sess = s;
		s->cmd[i].op = (enum ws_op)i;
	}
	if (port == (tls ? 443 : 80))
		snprintf(hostbuf, sizeof(hostbuf), v6 ? "[%s]" : "%s", ads);
	else
		snprintf(hostbuf, sizeof(hostbuf), v6 ? "[%s]:%d" : "%s:%d",
			 ads, port);
	plen = strlen(path);
	s->host = strdup(ads);
	s->host_hdr = strdup(hostbuf);
	s->path = malloc(plen + 2);
	if (s->path) {
		s->path[0] = '/';
		memcpy(s->path + 1, path, plen + 1);
	}
	free(copy);
	if (!s->host || !s->host_hdr || !s->path) {
		free(s->host);
		free(s->host_hdr);
		free(s->path);
		free(s);
		return TETHER_ENOMEM;
	}
	pthread_mutex_lock(&ctx->mu);
	l->refs++;
	s->next = ctx->all;
	if (ctx->all)
		ctx->all->prev = s;
	ctx->all = s;
	pthread_mutex_unlock(&ctx->mu);
	l->cur = s;
	sess_queue(s, WS_OP_CONNECT);
	return 0;
}

static void ws_abort(void *vlink, uint32_t attempt)
{
	struct ws_link *l = vlink;
	struct ws_sess *s = l->cur;

	if (!s || s->attempt != attempt)
		return;
	l->cur = NULL;
	sess_kill_reports(s);
	sess_queue(s, WS_OP_ABORT);
	sess_unref(s); /* l->cur's reference */
}

static void ws_close(void *vlink, uint32_t attempt)
{
	struct ws_link *l = vlink;

	if (l->cur && l->cur->attempt == attempt)
		sess_queue(l->cur, WS_OP_CLOSE);
}

static int queue_frame(struct ws_link *l, uint32_t attempt, uint64_t msg_id,
		       enum lws_write_protocol proto, const void *data,
		       size_t len)
{
	struct ws_sess *s = l->cur;
	struct ws_frame *f;
	int ended;

	if (!s || s->attempt != attempt)
		return TETHER_ECLOSED;
	if (len > SIZE_MAX - sizeof(*f) - LWS_PRE)
		return TETHER_EINVAL;
	f = malloc(sizeof(*f) + LWS_PRE + len);
	if (!f)
		return TETHER_ENOMEM;
	f->next = NULL;
	f->msg_id = msg_id;
	f->len = len;
	f->proto = proto;
	if (len)
		memcpy(f->buf + LWS_PRE, data, len);
	pthread_mutex_lock(&l->ctx->mu);
	ended = s->ended;
	if (!ended) {
		if (s->txq_tail)
			s->txq_tail->next = f;
		else
			s->txq = f;
		s->txq_tail = f;
	}
	pthread_mutex_unlock(&l->ctx->mu);
	if (ended) {
		free(f);
		return TETHER_ECLOSED;
	}
	sess_queue(s, WS_OP_WRITE);
	return 0;
}

static int ws_send(void *vlink, uint32_t attempt, uint64_t msg_id,
		   const struct tether_message *msg)
{
	if (!msg || (!msg->payload && msg->len))
		return TETHER_EINVAL;
	return queue_frame(vlink, attempt, msg_id,
			   msg->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT,
			   msg->payload, msg->len);
}

static int ws_ping(void *vlink, uint32_t attempt)
{
	return queue_frame(vlink, attempt, 0, LWS_WRITE_PING, NULL, 0);
}

static const char *const ws_schemes[] = {"ws", "wss", NULL};

/*
 * libwebsockets before 4.2.0 (Debian 12 has 4.1.6) rewrites a server's
 * close codes 1012-1015 to 1002 before the client sees them (fixed
 * upstream in v4.2.0). A server saying "restarting" or "try again later"
 * would then look like a protocol error, which is fatal: that would stop a
 * gateway for good on a routine restart. So, on those versions, a peer's
 * 1002 is taken for the most cautious of the codes it may stand for:
 * overload (retry, never sooner than the overload floor).
 */
#if (LWS_LIBRARY_VERSION_MAJOR * 1000 + LWS_LIBRARY_VERSION_MINOR) < 4002
static const char *const ws_default_classes[] = {"peer:ws:1002", "overload",
						 NULL};
#else
static const char *const ws_default_classes[] = {NULL};
#endif

const struct tether_transport_ops tth_transport_ws = {
    .abi = TETHER_TRANSPORT_ABI,
    .name = "ws",
    .schemes = ws_schemes,
    .ctx_new = ws_ctx_new,
    .ctx_free = ws_ctx_free,
    .link_new = ws_link_new,
    .link_free = ws_link_free,
    .connect = ws_connect,
    .abort = ws_abort,
    .close = ws_close,
    .send = ws_send,
    .subscribe = NULL,
    .ping = ws_ping,
    .default_classes = ws_default_classes,
    .check = ws_check,
};
