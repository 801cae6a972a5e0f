/*
 * The WebSocket transport's reason map: how an attempt ended, as lws 4.1
 * tells it, turned into a tether_reason. See docs/transport-ws.md.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ws_lws.h"

/* --------------------------------------------------------- reason map */

void tth_ws_reason_init(struct tether_reason *r, enum tether_reason_kind kind,
			int code, int by_peer, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->code = code;
	r->by_peer = by_peer;
	r->transport = "ws";
	r->text = text;
}

static int contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* A day: what any Retry-After is cut to before the machine's own bound
   (retry_after_max) applies; keeps the arithmetic far from overflow. */
#define WS_RETRY_AFTER_CAP_MS (24ull * 3600 * 1000)

/*
 * RFC 9110 10.2.3: Retry-After = HTTP-date / delay-seconds. delay-seconds
 * is 1*DIGIT: anything else (a sign, a fraction, trailing words) is
 * ignored, as is a date that cannot be read or lies in the past. Digits
 * past the cap saturate, so no value overflows. Returns ms, 0 for none.
 */
uint64_t tth_ws_retry_after_ms(const char *v, time_t now)
{
	uint64_t secs = 0;
	const char *p = v;
	struct tm tm;

	if (!v)
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (isdigit((unsigned char)*p)) {
		for (; isdigit((unsigned char)*p); p++)
			if (secs <= WS_RETRY_AFTER_CAP_MS / 1000)
				secs = secs * 10 + (uint64_t)(*p - '0');
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p)
			return 0;
		secs *= 1000;
		return secs < WS_RETRY_AFTER_CAP_MS ? secs
						   : WS_RETRY_AFTER_CAP_MS;
	}
	/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" */
	memset(&tm, 0, sizeof(tm));
	p = strptime(p, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (p && !*p) {
		time_t at = timegm(&tm);

		if (at != (time_t)-1 && at > now) {
			uint64_t d = (uint64_t)(at - now);

			return d < WS_RETRY_AFTER_CAP_MS / 1000
				       ? d * 1000
				       : WS_RETRY_AFTER_CAP_MS;
		}
	}
	return 0;
}

/*
 * LWS_CALLBACK_CLIENT_CONNECTION_ERROR: lws 4.1 passes only a text in `in`
 * (no errno, no EAI code), so the kind comes from the HTTP status when the
 * upgrade got a response, else from that text. See docs/transport-ws.md.
 */
void tth_ws_report_connect_error(struct ws_sess *s, struct lws *wsi,
				 const char *in, size_t len)
{
	char text[200], loc[512];
	struct tether_reason r;
	unsigned int status = 0;
	int soerr = 0;

	snprintf(text, sizeof(text), "%.*s", in ? (int)len : 0, in ? in : "");
	if (!text[0])
		snprintf(text, sizeof(text), "connection failed");
	if (wsi)
		status = lws_http_client_http_response(wsi);

	/*
	 * On the libuv event loop lws 4.1 says only "closed before
	 * established" when connect() failed; the socket still holds the
	 * errno (SO_ERROR), which tells a refusal from the rest.
	 */
	if (wsi && status < 100) {
		int fd = lws_get_socket_fd(wsi);
		socklen_t sl = sizeof(soerr);

		if (fd < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
			soerr = 0;
	}

	if (s->cert_failed) {
		tth_ws_reason_init(&r, TETHER_KIND_TLS, TETHER_TLS_VERIFY, 0,
				   "peer certificate failed verification");
	} else if (status >= 100 && status != 101) {
		tth_ws_reason_init(&r, TETHER_KIND_HTTP, (int)status, 1, text);
		if ((status == 429 || status == 503) &&
		    lws_hdr_copy(wsi, loc, sizeof(loc),
				 WSI_TOKEN_HTTP_RETRY_AFTER) > 0)
			r.retry_after_ms = tth_ws_retry_after_ms(loc, time(NULL));
		if (status >= 300 && status < 400 &&
		    lws_hdr_copy(wsi, loc, sizeof(loc),
				 WSI_TOKEN_HTTP_LOCATION) > 0)
			r.server_ref = loc;
	} else if (status == 101 || contains(text, "HS:")) {
		/* upgraded, but the handshake did not check out */
		tth_ws_reason_init(&r, TETHER_KIND_LOCAL, TETHER_LOCAL_PROTOCOL,
				   1, text);
	} else if (contains(text, "getaddrinfo") || contains(text, "resolv") ||
		   contains(text, "DNS")) {
		tth_ws_reason_init(&r, TETHER_KIND_DNS, EAI_NONAME, 0, text);
	} else if (contains(text, "certificate") || contains(text, "verify") ||
		   contains(text, "CA ") || contains(text, "issuer")) {
		tth_ws_reason_init(&r, TETHER_KIND_TLS, TETHER_TLS_VERIFY, 0,
				   text);
	} else if (contains(text, "SSL") || contains(text, "TLS") ||
		   contains(text, "tls")) {
		tth_ws_reason_init(&r, TETHER_KIND_TLS, TETHER_TLS_HANDSHAKE, 1,
				   text);
	} else if (soerr) {
		tth_ws_reason_init(&r, TETHER_KIND_SOCKET, soerr,
				   soerr == ECONNREFUSED, strerror(soerr));
	} else if (contains(text, "Unable to connect") ||
		   contains(text, "connect failed") ||
		   contains(text, "refused")) {
		/*
		 * lws 4.1 says "Unable to connect" when every address refused
		 * (errno is gone by then: unreachable hosts read the same)
		 */
		tth_ws_reason_init(&r, TETHER_KIND_SOCKET, ECONNREFUSED, 1,
				   text);
	} else if (contains(text, "timed out") || contains(text, "timeout")) {
		tth_ws_reason_init(&r, TETHER_KIND_SOCKET, ETIMEDOUT, 0, text);
	} else {
		tth_ws_reason_init(&r, TETHER_KIND_SOCKET, 0, 1, text);
	}
	tth_ws_report_end(s, 1, &r);
}

/* LWS_CALLBACK_CLIENT_CLOSED (or the wsi vanished after it was up). */
const char *tth_ws_local_close_text(int code)
{
	switch (code) {
	case LWS_CLOSE_STATUS_INVALID_PAYLOAD:
		return "invalid UTF-8";
	case LWS_CLOSE_STATUS_PROTOCOL_ERR:
		return "protocol error";
	default:
		return "message too big";
	}
}

const char *tth_ws_local_close_why(int code)
{
	switch (code) {
	case LWS_CLOSE_STATUS_INVALID_PAYLOAD:
		return "a text message that is not UTF-8";
	case LWS_CLOSE_STATUS_PROTOCOL_ERR:
		return "protocol error";
	default:
		return "message larger than max_message";
	}
}

void tth_ws_report_closed(struct ws_sess *s)
{
	struct tether_reason r;
	char text[sizeof(s->peer_text) + 48];

	if (s->local_close)
		tth_ws_reason_init(&r, TETHER_KIND_WS_CLOSE, s->local_close, 0,
				   tth_ws_local_close_why(s->local_close));
	else if (s->peer_closed && s->peer_code_unsure) {
		/* a 1002 that may be lws 4.1's rewrite of 1012-1014 */
		snprintf(text, sizeof(text), "%s%s(code maybe rewritten by "
			 "libwebsockets)", s->peer_text,
			 s->peer_text[0] ? " " : "");
		tth_ws_reason_init(&r, TETHER_KIND_WS_CLOSE, s->peer_code, 1,
				   text);
	} else if (s->peer_closed)
		tth_ws_reason_init(&r, TETHER_KIND_WS_CLOSE,
				   s->peer_code ? s->peer_code : 1005, 1,
				   s->peer_text[0] ? s->peer_text : NULL);
	else
		/* no close frame: the TCP link just ended (RFC 6455 1006) */
		tth_ws_reason_init(&r, TETHER_KIND_WS_CLOSE, 1006, 0,
				   "connection lost without a close frame");
	tth_ws_report_end(s, 0, &r);
}

/*
 * lws_client_connect_via_info() returned NULL without a CONNECTION_ERROR
 * for our wsi: lws 4.1 resolves names synchronously inside the call and
 * fails it that way, without the EAI code. Ask the resolver again (on this
 * failure path only) to tell DNS failures from the rest.
 */
void tth_ws_report_sync_failure(struct ws_sess *s)
{
	struct addrinfo hints, *ai = NULL;
	struct tether_reason r;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(s->host, NULL, &hints, &ai);
	if (ai)
		freeaddrinfo(ai);
	if (rc != 0)
		tth_ws_reason_init(&r, TETHER_KIND_DNS, rc, 0,
				   gai_strerror(rc));
	else
		tth_ws_reason_init(&r, TETHER_KIND_SOCKET, 0, 0,
				   "lws could not start the connection");
	tth_ws_report_end(s, 1, &r);
}
