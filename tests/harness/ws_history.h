/* Per-session message history for the WebSocket test server's resume
 * protocol (ws_server.h describes the protocol; docs/architecture.md).
 *
 * A history holds, for every session id, the newest `cap` messages with
 * their sequence numbers (1, 2, 3... per session). Every function takes
 * the history's own lock, so any thread may call any of them. */
#ifndef TETHER_HARNESS_WS_HISTORY_H
#define TETHER_HARNESS_WS_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define TH_WS_SESSION_MAX 64 /* bytes in a session id */

struct th_ws_history;

/* cap: messages kept per session (> 0). NULL when out of memory. */
struct th_ws_history *th_ws_history_new(unsigned cap);
void th_ws_history_free(struct th_ws_history *h);

/* Is id a valid session id: 1..TH_WS_SESSION_MAX bytes, no space, tab,
 * CR, LF or NUL? */
int th_ws_session_valid(const char *id, size_t len);

/* Append a message (copied) to session id, creating the session. Returns
 * its sequence number, or 0 (bad id, out of memory). The oldest message
 * goes once the session holds cap. */
uint64_t th_ws_history_add(struct th_ws_history *h, const char *id,
			   const void *payload, size_t len);

/* Newest sequence number of session id; 0 for an unknown session (and
 * creates nothing). */
uint64_t th_ws_history_newest(struct th_ws_history *h, const char *id);

/* Called once per frame to send, in order: text is "seq <N> <payload>"
 * (upto = N) or "gap <from> <to>" (upto = to); text is valid during the
 * call only. A non-zero return stops the replay. */
typedef int (*th_ws_history_emit_fn)(void *arg, uint64_t upto,
				     const char *text, size_t len);

/* Emit everything session id holds after sequence `after`: first one
 * "gap" frame if messages after `after` were already dropped (cap), then
 * every kept message with seq > after. Returns the last sequence number
 * emitted (`after` when nothing was). */
uint64_t th_ws_history_replay(struct th_ws_history *h, const char *id,
			      uint64_t after, th_ws_history_emit_fn fn,
			      void *arg);

#endif
