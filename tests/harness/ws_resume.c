/* The resume protocol of the WebSocket test server (ws_server.h): binding
 * a socket to a session, replay from the history, live delivery of what
 * the test publishes. The socket side runs on the service thread; publish
 * may be called from any thread. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ws_history.h"
#include "ws_server-int.h"

static int emit_cb(void *arg, uint64_t upto, const char *text, size_t len)
{
	struct th_ws_conn *c = arg;

	if (th_ws_queue_frame(c, 0x80 | OP_TEXT, (const unsigned char *)text,
			      len))
		return -1;
	c->sent_seq = upto;
	return 0;
}

/* Queue whatever the bound session holds past what this socket got. */
static void pump_conn(struct th_ws_conn *c)
{
	if (!c->session[0] || !c->raw || c->close_sent || c->close_received)
		return;
	c->sent_seq = th_ws_history_replay(c->srv->history, c->session,
					   c->sent_seq, emit_cb, c);
}

void th_ws_pump_all(struct th_ws_server *s)
{
	for (struct th_ws_conn *c = s->conns; c; c = c->next)
		pump_conn(c);
}

/* "resume <session> <last_seq>" (the part after "resume "). */
void th_ws_on_resume(struct th_ws_conn *c, const unsigned char *arg,
		     size_t len)
{
	const unsigned char *sp = memchr(arg, ' ', len);
	size_t idlen = sp ? (size_t)(sp - arg) : 0, nlen;
	char id[TH_WS_SESSION_MAX + 1];
	uint64_t last = 0;

	if (!sp || !th_ws_session_valid((const char *)arg, idlen))
		goto bad;
	nlen = len - idlen - 1;
	if (nlen == 0 || nlen > 19) /* fits a uint64_t */
		goto bad;
	for (size_t i = 0; i < nlen; i++) {
		if (sp[1 + i] < '0' || sp[1 + i] > '9')
			goto bad;
		last = last * 10 + (uint64_t)(sp[1 + i] - '0');
	}
	memcpy(id, arg, idlen);
	id[idlen] = '\0';
	if (last > th_ws_history_newest(c->srv->history, id)) {
		th_ws_conn_close(c, 1008, "resume beyond newest");
		return;
	}
	/* the newest binding wins: an older socket of the session (often a
	 * half-open one the server has not noticed yet) gets nothing more */
	for (struct th_ws_conn *o = c->srv->conns; o; o = o->next)
		if (o != c && !strcmp(o->session, id))
			o->session[0] = '\0';
	memcpy(c->session, id, idlen + 1);
	c->sent_seq = last;
	atomic_fetch_add(&c->srv->resumes, 1);
	pump_conn(c);
	return;
bad:
	th_ws_conn_close(c, 1008, "bad resume");
}

/* ---- API (any thread) --------------------------------------------------- */

unsigned th_ws_server_resumes(const struct th_ws_server *s)
{
	return atomic_load(&((struct th_ws_server *)s)->resumes);
}

uint64_t th_ws_server_publish(struct th_ws_server *s, const char *session,
			      const char *payload)
{
	uint64_t seq = th_ws_history_add(s->history, session, payload,
					 strlen(payload));

	if (seq) {
		atomic_store(&s->pump, 1);
		lws_cancel_service(s->ctx);
	}
	return seq;
}

uint64_t th_ws_server_newest(struct th_ws_server *s, const char *session)
{
	return th_ws_history_newest(s->history, session);
}
