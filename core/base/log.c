/*
 * Log routing (docs/logging.md): one process-wide callback, or nothing,
 * for tether's own lines and those the transports pass on from their
 * engines. A read-write lock lets threads log at once while a change of
 * callback waits for calls in progress; a thread-local flag refuses a
 * change from inside a callback (it would wait on itself).
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <tether/tether.h>
#include <tether/transport.h>

#define LOG_LINE_MAX 1024

static pthread_rwlock_t log_lock = PTHREAD_RWLOCK_INITIALIZER;
static tether_log_cb log_cb;
static void *log_ud;
static atomic_int log_level = TETHER_LOG_ERROR;
static _Thread_local int log_in_cb;

int tether_set_log_cb(tether_log_cb cb, void *userdata,
		      enum tether_log_level level)
{
	if ((int)level < TETHER_LOG_OFF || level > TETHER_LOG_DEBUG)
		return TETHER_EINVAL;
	if (log_in_cb)
		return TETHER_ESTATE;
	pthread_rwlock_wrlock(&log_lock);
	log_cb = cb;
	log_ud = userdata;
	atomic_store(&log_level, (int)level);
	pthread_rwlock_unlock(&log_lock);
	return 0;
}

void tether_log_to_stderr(enum tether_log_level level, const char *origin,
			  const char *line, void *userdata)
{
	(void)level;
	(void)userdata;
	fprintf(stderr, "tether: %s: %s\n", origin ? origin : "tether",
		line ? line : "");
}

enum tether_log_level tether_log_level(void)
{
	return (enum tether_log_level)atomic_load(&log_level);
}

/* Copy src into dst (cap bytes), control characters as \xNN, trailing
 * newlines dropped, cut with "..." when it does not fit. */
static void log_clean(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(src), o = 0;

	while (n > 0 && (src[n - 1] == '\n' || src[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)src[i];
		size_t need = (ch < 0x20 || ch == 0x7f) ? 4 : 1;

		if (o + need > cap - 4) {
			memcpy(dst + o, "...", 4);
			return;
		}
		if (need == 4) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		} else {
			dst[o++] = (char)ch;
		}
	}
	dst[o] = '\0';
}

void tether_log(enum tether_log_level level, const char *origin,
		const char *fmt, ...)
{
	char raw[LOG_LINE_MAX * 2], line[LOG_LINE_MAX];
	va_list ap;

	if ((int)level <= TETHER_LOG_OFF || (int)level > atomic_load(&log_level))
		return;
	if (!fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_clean(line, sizeof(line), raw);
	if (!origin)
		origin = "tether";
	pthread_rwlock_rdlock(&log_lock);
	if (log_cb) {
		log_in_cb = 1;
		log_cb(level, origin, line, log_ud);
		log_in_cb = 0;
	}
	pthread_rwlock_unlock(&log_lock);
}

int tether_log_has_cb(void)
{
	int routed;

	pthread_rwlock_rdlock(&log_lock);
	routed = log_cb != NULL;
	pthread_rwlock_unlock(&log_lock);
	return routed;
}
