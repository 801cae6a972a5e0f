/*
 * The peer's close frame, as the peer sent it (docs/transport-ws.md,
 * "Close codes").
 *
 * libwebsockets 4.1's client parser rewrites a server's close codes 1012,
 * 1013 and 1014 (and the codes that may not appear on the wire) to 1002
 * *before* LWS_CALLBACK_WS_PEER_INITIATED_CLOSE, in the buffer it hands the
 * callback, and then echoes that buffer as its own close frame (fixed in
 * lws 4.2.0). A restarting or overloaded server would look like one that
 * found a protocol error, which is fatal; and the server would be told
 * 1002. Only the code is rewritten: the reason text is intact.
 *
 * lws 4.1 has no other way to the frame, so on 4.1 only this file finds it
 * where lws read it: every lws read for a client wsi of our single service
 * thread goes to that thread's service buffer (pt->serv_buf, from offset
 * 0), and the close frame is still there when the callback runs. The
 * buffer's address is not public; lws 4.1 builds each client handshake at
 * its start and calls LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER with a
 * cursor into it and the room left (size - cursor offset - 12), which
 * gives the address back; it is taken only when the buffer found that way
 * starts with the request line lws wrote ("GET "). Then, at the close, the
 * buffer is searched for the frame that lws just parsed: an unmasked final
 * close frame (0x88) of the same length whose reason bytes are the same.
 * The code is restored only if every such frame agrees on it and it is one
 * lws rewrites though it is valid on the wire (1012, 1013, 1014); else the
 * 1002 stands, marked as "maybe rewritten" in the reason's text. The
 * restored code is written back into lws's buffer, so the close lws echoes
 * carries the peer's own code too.
 *
 * Everything here runs on the loop thread (lws callbacks). Reads stay
 * inside [buf, buf + size); the search is bounded by the buffer's size.
 */
#include "config.h"

#include <string.h>

#include "ws_lws.h"

#if LWS_LIBRARY_VERSION_MAJOR == 4 && LWS_LIBRARY_VERSION_MINOR == 1
#define WS_RECOVER_CLOSE 1
#else
#define WS_RECOVER_CLOSE 0
#endif

/* lws 4.1: the room it reports at APPEND_HANDSHAKE_HEADER is this much
   short of the buffer's end (client-http.c, lws_generate_client_handshake) */
#define WS_HS_ROOM_SLACK 12

#define WS_OP_CLOSE_FIN 0x88 /* FIN + opcode 8, no RSV bits */
#define WS_MAX_CONTROL_PAYLOAD 125

int tth_ws_close_recovers(void)
{
	return WS_RECOVER_CLOSE;
}

void tth_ws_close_note_handshake(struct ws_close_buf *cb, const char *cursor,
				 size_t room)
{
#if WS_RECOVER_CLOSE
	const unsigned char *base;

	if (cb->buf || cb->failed || room > WS_SERV_BUF_SIZE)
		return;
	base = (const unsigned char *)cursor + room + WS_HS_ROOM_SLACK -
	       WS_SERV_BUF_SIZE;
	if ((const unsigned char *)cursor < base + 4 ||
	    memcmp(base, "GET ", 4) != 0) {
		cb->failed = 1; /* not the layout this was written for */
		return;
	}
	cb->buf = base;
#else
	(void)cb;
	(void)cursor;
	(void)room;
#endif
}

/* Codes lws 4.1 turns into 1002 although a server may send them. */
static int rewritten_by_lws(int code)
{
	return code == 1012 || code == 1013 || code == 1014;
}

int tth_ws_close_peer_code(const struct ws_close_buf *cb, unsigned char *in,
			   size_t len, int *unsure)
{
	int code, found = 0;

	*unsure = 0;
	if (!in || len < 2)
		return 0;
	code = (in[0] << 8) | in[1];
	if (!WS_RECOVER_CLOSE || code != 1002)
		return code;
	if (!cb->buf || len > WS_MAX_CONTROL_PAYLOAD) {
		*unsure = 1;
		return code;
	}
	for (size_t i = 0; i + 2 + len <= WS_SERV_BUF_SIZE; i++) {
		const unsigned char *f = cb->buf + i;
		int c;

		if (f[0] != WS_OP_CLOSE_FIN || f[1] != len ||
		    memcmp(f + 4, in + 2, len - 2) != 0)
			continue;
		c = (f[2] << 8) | f[3];
		if (c != 1002 && !rewritten_by_lws(c))
			continue;
		if (found && c != found) {
			*unsure = 1;
			return code;
		}
		found = c;
	}
	if (!found) {
		*unsure = 1;
		return code;
	}
	if (found != code) {
		/* lws echoes this buffer: answer with the peer's own code */
		in[0] = (unsigned char)(found >> 8);
		in[1] = (unsigned char)(found & 0xff);
	}
	return found;
}

void tth_ws_close_keep_text(char *dst, size_t cap, const unsigned char *src,
			    size_t len)
{
	size_t n = 0;

	if (!cap)
		return;
	/* printable ASCII and UTF-8 bytes pass; control bytes (a reason
	   lands in logs) become '?'; at most cap - 1 bytes are kept */
	for (size_t i = 0; i < len && n + 1 < cap; i++)
		dst[n++] = (src[i] < 0x20 || src[i] == 0x7f) ? '?'
							      : (char)src[i];
	dst[n] = '\0';
}
