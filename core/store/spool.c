/* The durable spool: segment files of checksummed records, acks beside
   them, recovery on open. Format and contract in spool-int.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <tether/tether.h>

#include "props-int.h"
#include "spool-int.h"
#include "util-int.h"

#define ACK_FDS_MAX 16 /* ack files kept open at once */

static const uint8_t magic_v1[4] = {'T', 'S', 'R', '1'};
static const uint8_t magic_v2[4] = {'T', 'S', 'R', '2'};
static const uint8_t file_magic[4] = {'T', 'S', 'P', 'F'};

/* --------------------------------------------------------------- crc32c */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t tth_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* --------------------------------------------------------------- format */


static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The header checksum: salted in a version 2 file (spool-int.h). */
static uint32_t hdr_crc(const uint8_t *h, int ver, uint64_t salt)
{
	uint8_t s8[8];

	if (ver < 2)
		return tth_crc32c(0, h, 32);
	put64(s8, salt);
	return tth_crc32c(tth_crc32c(0, s8, 8), h, 32);
}

static void hdr_encode(uint8_t *h, const struct tth_spool_rec *r, int ver,
		       uint64_t salt)
{
	memcpy(h, ver < 2 ? magic_v1 : magic_v2, 4);
	h[4] = r->type;
	h[5] = r->flags;
	put16(h + 6, r->tlen);
	put32(h + 8, r->plen);
	put64(h + 12, r->id);
	put64(h + 20, r->expires);
	put32(h + 28, r->body_crc);
	put32(h + 32, hdr_crc(h, ver, salt));
}

int tth_spool_hdr_decode(const uint8_t *h, struct tth_spool_rec *r, int ver,
			 uint64_t salt)
{
	if (memcmp(h, ver < 2 ? magic_v1 : magic_v2, 4) != 0 ||
	    get32(h + 32) != hdr_crc(h, ver, salt))
		return 0;
	r->type = h[4];
	r->flags = h[5];
	r->tlen = (uint16_t)(h[6] | h[7] << 8);
	r->plen = get32(h + 8);
	r->id = get64(h + 12);
	r->expires = get64(h + 20);
	r->body_crc = get32(h + 28);
	return 1;
}

void tth_spool_file_hdr_encode(uint8_t *h, int kind, uint64_t salt)
{
	memcpy(h, file_magic, 4);
	h[4] = 2;
	h[5] = (uint8_t)kind;
	h[6] = h[7] = 0;
	put64(h + 8, salt);
	put32(h + 16, tth_crc32c(0, h, 16));
}

int tth_spool_file_hdr_decode(const uint8_t *h, size_t len, int kind,
			      uint64_t *salt)
{
	size_t n = len < 4 ? len : 4;

	*salt = 0;
	if (len >= 4 && memcmp(h, magic_v1, 4) == 0)
		return 1;
	/* anything else is no format we know: set aside, never cut (a
	   damaged magic must not cost a whole segment) */
	if (memcmp(h, file_magic, n) != 0)
		return len < 4 ? 0 : -1;
	if (len < TTH_SPOOL_FILE_HDR)
		return 0;
	if (get32(h + 16) != tth_crc32c(0, h, 16) || h[5] != kind)
		return -1;
	if (h[4] != 2) {
		*salt = h[4];
		return -2;
	}
	*salt = get64(h + 8);
	return 2;
}

uint64_t tth_spool_salt(void)
{
	static _Atomic uint64_t counter;
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	/* no entropy yet (early boot): still unknown to a payload's author,
	   if less so */
	v = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&v ^
	    (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ ++counter;
	return v;
}

int tth_spool_fail(struct tth_spool *sp, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sp->err, sizeof(sp->err), fmt, ap);
	va_end(ap);
	return rc;
}

/* A failed system call on file `name`: TETHER_EIO with errno's text. */
int tth_spool_fail_io(struct tth_spool *sp, const char *what, const char *name)
{
	int full = errno == ENOSPC || errno == EDQUOT;

	if (full) {
		sp->nospace = 1;
		sp->st.nospace++;
	}
	if (errno == ELOOP)
		return tth_spool_fail(sp, TETHER_EIO,
				      "%s %s: a symbolic link: refused", what,
				      name);
	return tth_spool_fail(sp, full ? TETHER_EFULL : TETHER_EIO, "%s %s: %s",
			      what, name, strerror(errno));
}

void tth_spool_seg_name(char *buf, uint64_t seq, const char *ext)
{
	snprintf(buf, TTH_SPOOL_NAME_LEN, "%016" PRIx64 ".%s", seq, ext);
}

struct tth_spool_seg *tth_spool_active(const struct tth_spool *sp)
{
	return sp->active_fd >= 0 ? sp->segs[sp->nsegs - 1] : NULL;
}

static int bit_get(const struct tth_spool_seg *s, uint64_t id)
{
	uint64_t i;

	if (id < s->first_id || id >= s->end_id)
		return 0;
	i = id - s->first_id;
	return (s->bits[i / 8] >> (i % 8)) & 1;
}

void tth_spool_bit_put(struct tth_spool_seg *s, uint64_t id, int on)
{
	uint64_t i = id - s->first_id;

	if (on)
		s->bits[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		s->bits[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

/* Room in the bitmap for id (>= first_id). 0, or TETHER_ENOMEM. */
int tth_spool_bits_reserve(struct tth_spool_seg *s, uint64_t id)
{
	uint64_t need = id - s->first_id + 1, n = s->nbits ? s->nbits : 64;
	uint8_t *b;

	if (need <= s->nbits)
		return 0;
	while (n < need)
		n *= 2;
	b = realloc(s->bits, (size_t)(n / 8));
	if (!b)
		return TETHER_ENOMEM;
	memset(b + s->nbits / 8, 0, (size_t)((n - s->nbits) / 8));
	s->bits = b;
	s->nbits = n;
	return 0;
}

struct tth_spool_seg *tth_spool_seg_new(uint64_t seq, uint64_t first_id)
{
	struct tth_spool_seg *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->seq = seq;
	s->first_id = s->end_id = first_id;
	s->ack_fd = -1;
	return s;
}

static void ack_fd_close(struct tth_spool *sp, struct tth_spool_seg *s)
{
	if (s->ack_fd < 0)
		return;
	if (s->ack_dirty && sp->cfg.fsync != TETHER_FSYNC_NEVER)
		fdatasync(s->ack_fd);
	close(s->ack_fd);
	s->ack_fd = -1;
	s->ack_dirty = 0;
	sp->ack_fds--;
}

void tth_spool_seg_free(struct tth_spool *sp, struct tth_spool_seg *s)
{
	ack_fd_close(sp, s);
	free(s->pend);
	free(s->bits);
	free(s);
}

int tth_spool_segs_append(struct tth_spool *sp, struct tth_spool_seg *s)
{
	if (sp->nsegs == sp->capsegs) {
		size_t cap = sp->capsegs ? sp->capsegs * 2 : 8;
		struct tth_spool_seg **v = realloc(sp->segs, cap * sizeof(*v));

		if (!v)
			return TETHER_ENOMEM;
		sp->segs = v;
		sp->capsegs = cap;
	}
	sp->segs[sp->nsegs++] = s;
	return 0;
}

/* The segment that holds id, or NULL. Segments hold increasing ranges. */
static struct tth_spool_seg *seg_find(const struct tth_spool *sp, uint64_t id,
			    size_t *at)
{
	size_t lo = 0, hi = sp->nsegs;

	while (lo < hi) { /* first segment with end_id > id */
		size_t mid = lo + (hi - lo) / 2;

		if (sp->segs[mid]->end_id > id)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == sp->nsegs || id < sp->segs[lo]->first_id)
		return NULL;
	*at = lo;
	return sp->segs[lo];
}

/*
 * Deletes segment i (.seg first: a lone .ack is cleaned up on open, a
 * lone .seg would bring its messages back). 0, or TETHER_EIO with the
 * segment kept.
 */
int tth_spool_seg_delete(struct tth_spool *sp, size_t i)
{
	struct tth_spool_seg *s = sp->segs[i];
	char name[TTH_SPOOL_NAME_LEN];

	tth_spool_seg_name(name, s->seq, "seg");
	if (unlinkat(sp->dir_fd, name, 0) != 0 && errno != ENOENT)
		return tth_spool_fail_io(sp, "unlink", name);
	tth_spool_seg_name(name, s->seq, "ack");
	ack_fd_close(sp, s);
	if (unlinkat(sp->dir_fd, name, 0) != 0 && errno != ENOENT) {
		/* harmless: removed as an orphan on the next open */
	}
	if (i == sp->nsegs - 1 && sp->active_fd >= 0) {
		close(sp->active_fd);
		sp->active_fd = -1;
	}
	sp->st.bytes -= s->size + s->ack_size;
	sp->st.live -= s->nlive;
	sp->st.pending_acks -= s->npend; /* moot: no record left to ack */
	sp->st.segments--;
	sp->st.segments_deleted++;
	memmove(&sp->segs[i], &sp->segs[i + 1],
		(sp->nsegs - i - 1) * sizeof(*sp->segs));
	sp->nsegs--;
	tth_spool_seg_free(sp, s);
	return 0;
}

static int sync_fd(struct tth_spool *sp, int fd, uint64_t seq, const char *ext)
{
	char name[TTH_SPOOL_NAME_LEN];

	if (fdatasync(fd) == 0)
		return 0;
	tth_spool_seg_name(name, seq, ext);
	return tth_spool_fail_io(sp, "fdatasync", name);
}

static void acks_retry(struct tth_spool *sp);

int tth_spool_flush(struct tth_spool *sp, uint64_t now_ms)
{
	struct tth_spool_seg *a = tth_spool_active(sp);
	int rc = 0;

	acks_retry(sp);
	if (sp->cfg.fsync == TETHER_FSYNC_NEVER || !sp->dirty)
		return 0;
	if (a && (rc = sync_fd(sp, sp->active_fd, a->seq, "seg")) != 0)
		return rc;
	for (size_t i = 0; i < sp->nsegs; i++) {
		struct tth_spool_seg *s = sp->segs[i];

		if (s->ack_fd >= 0 && s->ack_dirty) {
			rc = sync_fd(sp, s->ack_fd, s->seq, "ack");
			if (rc != 0)
				return rc;
			s->ack_dirty = 0;
		}
	}
	sp->dirty = 0;
	sp->last_sync_ms = now_ms;
	sp->st.syncs++;
	return 0;
}

uint64_t tth_spool_next_flush(const struct tth_spool *sp)
{
	if (sp->cfg.fsync != TETHER_FSYNC_INTERVAL || !sp->dirty)
		return TTH_NEVER;
	if (sp->last_sync_ms > TTH_NEVER - 1 - sp->cfg.fsync_interval_ms)
		return TTH_NEVER - 1;
	return sp->last_sync_ms + sp->cfg.fsync_interval_ms;
}

/* Writes all of iov at off; on failure cuts the file back to off (a
   partial record would be a torn one for the next open). */
static int write_at(struct tth_spool *sp, int fd, const char *name,
		    struct iovec *iov, int n, uint64_t off)
{
	uint64_t start = off;

	while (n > 0) {
		ssize_t w = pwritev(fd, iov, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int rc = tth_spool_fail_io(sp, "write", name);
			int saved = errno;

			if (ftruncate(fd, (off_t)start) != 0) {
				/* the next open cuts the torn record */
			}
			errno = saved;
			return rc;
		}
		off += (uint64_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* ---------------------------------------------------------- append, ack */

/* A new active segment after the last one. */
static int rotate(struct tth_spool *sp)
{
	uint64_t seq = sp->next_seq;
	struct tth_spool_seg *old = tth_spool_active(sp), *s;
	char name[TTH_SPOOL_NAME_LEN];
	int fd, rc;

	if (old) {
		rc = tth_spool_flush(sp, sp->last_sync_ms);
		if (rc != 0)
			return rc;
		close(sp->active_fd);
		sp->active_fd = -1;
		if (old->nlive == 0)
			tth_spool_seg_delete(sp, sp->nsegs - 1);
	}
	s = tth_spool_seg_new(seq, sp->next_id);
	if (!s || tth_spool_segs_append(sp, s) != 0) {
		free(s);
		return TETHER_ENOMEM;
	}
	/* acks of an older segment of that number must not apply to this
	   one (only possible after a failed unlink) */
	tth_spool_seg_name(name, seq, "ack");
	unlinkat(sp->dir_fd, name, 0);
	tth_spool_seg_name(name, seq, "seg");
	fd = openat(sp->dir_fd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	rc = fd < 0 ? tth_spool_fail_io(sp, "create", name) : 0;
	if (rc == 0) {
		uint8_t fh[TTH_SPOOL_FILE_HDR];
		struct iovec iov = {fh, sizeof(fh)};

		s->salt = tth_spool_salt();
		s->ver = 2;
		tth_spool_file_hdr_encode(fh, TTH_SPOOL_KIND_SEG, s->salt);
		rc = write_at(sp, fd, name, &iov, 1, 0);
	}
	if (rc == 0 && sp->cfg.fsync == TETHER_FSYNC_ALWAYS &&
	    fsync(sp->dir_fd) != 0)
		rc = tth_spool_fail_io(sp, "fsync directory for", name);
	if (rc != 0) {
		if (fd >= 0) {
			close(fd);
			unlinkat(sp->dir_fd, name, 0);
		}
		sp->nsegs--;
		tth_spool_seg_free(sp, s);
		return rc;
	}
	s->size = TTH_SPOOL_FILE_HDR;
	sp->st.bytes += TTH_SPOOL_FILE_HDR;
	sp->dirty = 1;
	sp->active_fd = fd;
	sp->next_seq = seq + 1;
	sp->st.segments++;
	return 0;
}

int tth_spool_append(struct tth_spool *sp, const struct tether_message *msg,
		     uint64_t expires, uint64_t now_ms, uint64_t *id)
{
	size_t tlen, plen = 0;
	uint64_t size;
	uint8_t hdr[TTH_SPOOL_HDR], plen4[4];
	uint8_t *props = NULL;
	struct iovec iov[5];
	int niov = 0;
	struct tth_spool_rec r;
	struct tth_spool_seg *a;
	char name[TTH_SPOOL_NAME_LEN];
	int rc;

	if (!sp || !msg || (msg->len && !msg->payload) || msg->qos < 0 ||
	    msg->qos > 2)
		return TETHER_EINVAL;
	tlen = msg->topic ? strlen(msg->topic) : 0;
	if (tlen > UINT16_MAX || msg->len > UINT32_MAX - 4 - TETHER_PROPS_MAX_BYTES)
		return TETHER_ETOOBIG;
	if (msg->props && msg->nprops) {
		/* a message record with properties (spool-int.h) */
		rc = tth_props_check(msg->props, msg->nprops, msg->payload,
				     msg->len, &plen);
		if (rc != 0)
			return rc;
	}
	size = TTH_SPOOL_HDR + tlen + msg->len + (plen ? 4 + plen : 0);
	if (size + TTH_SPOOL_FILE_HDR > sp->cfg.max_bytes)
		return TETHER_ETOOBIG;
	acks_retry(sp);
	a = tth_spool_active(sp);
	if ((sp->nospace || sp->st.bytes + size > sp->cfg.max_bytes) && a &&
	    a->nlive == 0 && a->size > TTH_SPOOL_FILE_HDR) {
		/* its bytes are all acknowledged: start afresh */
		close(sp->active_fd);
		sp->active_fd = -1;
		tth_spool_seg_delete(sp, sp->nsegs - 1);
		a = NULL;
	}
	if (sp->st.bytes + size + (a ? 0 : TTH_SPOOL_FILE_HDR) >
	    sp->cfg.max_bytes)
		return tth_spool_fail(sp, TETHER_EFULL, "spool full (%" PRIu64 " of %"
			    PRIu64 " bytes)", sp->st.bytes, sp->cfg.max_bytes);
	if (!a || (a->size > TTH_SPOOL_FILE_HDR &&
		   a->size + size > sp->cfg.segment_bytes)) {
		if (a && sp->st.bytes + size + TTH_SPOOL_FILE_HDR >
				 sp->cfg.max_bytes)
			return tth_spool_fail(sp, TETHER_EFULL,
					      "spool full (%" PRIu64 " of %" PRIu64
					      " bytes)",
					      sp->st.bytes, sp->cfg.max_bytes);
		rc = rotate(sp);
		if (rc != 0)
			return rc;
		a = tth_spool_active(sp);
	}
	if (tth_spool_bits_reserve(a, sp->next_id) != 0)
		return TETHER_ENOMEM;
	if (plen) {
		props = malloc(plen);
		if (!props)
			return TETHER_ENOMEM;
		tth_props_encode(msg->props, msg->nprops, props);
		put32(plen4, (uint32_t)plen);
	}
	memset(&r, 0, sizeof(r));
	r.type = plen ? TTH_SPOOL_REC_MSG_PROPS : TTH_SPOOL_REC_MSG;
	r.flags = (uint8_t)((msg->qos & TTH_SPOOL_F_QOS) | (msg->retain ? TTH_SPOOL_F_RETAIN : 0) |
			    (msg->binary ? TTH_SPOOL_F_BINARY : 0) |
			    (msg->topic ? TTH_SPOOL_F_TOPIC : 0));
	r.tlen = (uint16_t)tlen;
	r.plen = (uint32_t)(msg->len + (plen ? 4 + plen : 0));
	r.id = sp->next_id;
	r.expires = expires;
	r.body_crc = tth_crc32c(0, msg->topic, tlen);
	if (plen)
		r.body_crc = tth_crc32c(tth_crc32c(r.body_crc, plen4, 4),
					props, plen);
	r.body_crc = tth_crc32c(r.body_crc, msg->payload, msg->len);
	hdr_encode(hdr, &r, a->ver, a->salt);
	iov[niov].iov_base = hdr;
	iov[niov++].iov_len = sizeof(hdr);
	iov[niov].iov_base = (void *)msg->topic;
	iov[niov++].iov_len = tlen;
	if (plen) {
		iov[niov].iov_base = plen4;
		iov[niov++].iov_len = 4;
		iov[niov].iov_base = props;
		iov[niov++].iov_len = plen;
	}
	iov[niov].iov_base = (void *)msg->payload;
	iov[niov++].iov_len = msg->len;
	tth_spool_seg_name(name, a->seq, "seg");
	rc = write_at(sp, sp->active_fd, name, iov, niov, a->size);
	free(props);
	if (rc != 0)
		return rc;
	sp->dirty = 1;
	if (sp->cfg.fsync == TETHER_FSYNC_ALWAYS ||
	    (sp->cfg.fsync == TETHER_FSYNC_INTERVAL &&
	     now_ms - sp->last_sync_ms >= sp->cfg.fsync_interval_ms)) {
		rc = tth_spool_flush(sp, now_ms);
		if (rc != 0) {
			/* not known to be on disk: the send fails, so the
			   record must not come back on the next open */
			if (ftruncate(sp->active_fd, (off_t)a->size) != 0) {
				/* then the next open may resend it */
			}
			return rc;
		}
	}
	a->size += size;
	a->end_id = r.id + 1;
	tth_spool_bit_put(a, r.id, 1);
	a->nlive++;
	sp->next_id++;
	sp->st.bytes += size;
	sp->st.live++;
	sp->st.appends++;
	sp->nospace = 0;
	if (id)
		*id = r.id;
	return 0;
}

static int ack_fd_open(struct tth_spool *sp, struct tth_spool_seg *s)
{
	char name[TTH_SPOOL_NAME_LEN];

	if (s->ack_fd >= 0)
		return 0;
	if (sp->ack_fds >= ACK_FDS_MAX) {
		/* acks mostly come in order: the oldest open one is done */
		for (size_t i = 0; i < sp->nsegs; i++)
			if (sp->segs[i]->ack_fd >= 0) {
				ack_fd_close(sp, sp->segs[i]);
				break;
			}
	}
	tth_spool_seg_name(name, s->seq, "ack");
	s->ack_fd = openat(sp->dir_fd, name,
			   O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->ack_fd < 0)
		return tth_spool_fail_io(sp, "open", name);
	sp->ack_fds++;
	return 0;
}

/* Writes the ack records of ids (n > 0) at the end of s's .ack file,
   giving it a file header first when it has none. 0, or the failure. */
static int acks_write(struct tth_spool *sp, struct tth_spool_seg *s,
		      const uint64_t *ids, size_t n)
{
	uint8_t fh[TTH_SPOOL_FILE_HDR], *buf;
	struct iovec iov[2];
	struct tth_spool_rec r;
	char name[TTH_SPOOL_NAME_LEN];
	size_t len = n * TTH_SPOOL_HDR, head = 0;
	int niov = 0, rc;

	rc = ack_fd_open(sp, s);
	if (rc != 0)
		return rc;
	buf = malloc(len);
	if (!buf)
		return TETHER_ENOMEM;
	if (s->ack_size == 0) { /* a new file: version 2 */
		s->ack_ver = 2;
		s->ack_salt = tth_spool_salt();
		tth_spool_file_hdr_encode(fh, TTH_SPOOL_KIND_ACK, s->ack_salt);
		head = sizeof(fh);
		iov[niov].iov_base = fh;
		iov[niov++].iov_len = head;
	}
	memset(&r, 0, sizeof(r));
	r.type = TTH_SPOOL_REC_ACK;
	for (size_t k = 0; k < n; k++) {
		r.id = ids[k];
		hdr_encode(buf + k * TTH_SPOOL_HDR, &r, s->ack_ver, s->ack_salt);
	}
	iov[niov].iov_base = buf;
	iov[niov++].iov_len = len;
	tth_spool_seg_name(name, s->seq, "ack");
	rc = write_at(sp, s->ack_fd, name, iov, niov, s->ack_size);
	free(buf);
	if (rc != 0)
		return rc;
	s->ack_size += head + len;
	s->ack_dirty = 1;
	sp->dirty = 1;
	sp->st.bytes += head + len;
	return 0;
}

/* Writes the ack records that found no space before, oldest first. */
static void acks_retry(struct tth_spool *sp)
{
	for (size_t i = 0; sp->st.pending_acks && i < sp->nsegs; i++) {
		struct tth_spool_seg *s = sp->segs[i];

		if (!s->npend || acks_write(sp, s, s->pend, s->npend) != 0)
			continue;
		sp->st.pending_acks -= s->npend;
		s->npend = 0;
	}
}

/* Keeps the ack of id in memory until its record can be written. */
static void ack_pend(struct tth_spool *sp, struct tth_spool_seg *s,
		     uint64_t id)
{
	if (s->npend == s->cappend) {
		size_t cap = s->cappend ? s->cappend * 2 : 16;
		uint64_t *v = realloc(s->pend, cap * sizeof(*v));

		if (!v)
			return; /* then a restart sends it once more */
		s->pend = v;
		s->cappend = cap;
	}
	s->pend[s->npend++] = id;
	sp->st.pending_acks++;
}

int tth_spool_ack(struct tth_spool *sp, uint64_t id)
{
	size_t i;
	struct tth_spool_seg *s = sp ? seg_find(sp, id, &i) : NULL;

	if (!s || !bit_get(s, id))
		return TETHER_ENOENT;
	/* applied in memory first: an ack never fails for want of space */
	sp->st.acks++;
	tth_spool_bit_put(s, id, 0);
	s->nlive--;
	sp->st.live--;
	/* its last message: the segment goes (unlinking frees space), no ack
	   record needed; the active one only once it is worth a new file
	   (compaction: the next append starts anew), or when the disk is
	   full */
	if (s->nlive == 0 &&
	    (s != tth_spool_active(sp) || s->size >= sp->cfg.segment_bytes / 4 ||
	     sp->nospace) &&
	    tth_spool_seg_delete(sp, i) == 0)
		return 0;
	if (sp->st.pending_acks)
		acks_retry(sp);
	if (s->npend || acks_write(sp, s, &id, 1) != 0)
		ack_pend(sp, s, id); /* in order behind the earlier ones */
	return 0;
}

int tth_spool_nospace(const struct tth_spool *sp)
{
	return sp && sp->nospace;
}

const char *tth_spool_error(const struct tth_spool *sp)
{
	return sp ? sp->err : "";
}

void tth_spool_get_stats(const struct tth_spool *sp,
			 struct tth_spool_stats *st)
{
	*st = sp->st;
}

int tth_spool_cfg_from_queue(struct tth_spool_cfg *cfg,
			     const struct tether_queue_cfg *q)
{
	if (!q || q->spool_max_bytes == 0)
		return TETHER_EINVAL;
	switch (q->fsync) {
	case TETHER_FSYNC_ALWAYS:
	case TETHER_FSYNC_INTERVAL:
	case TETHER_FSYNC_NEVER:
		break;
	default:
		return TETHER_EINVAL;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_bytes = q->spool_max_bytes;
	cfg->fsync = q->fsync;
	cfg->fsync_interval_ms = q->fsync_interval_ms;
	return 0;
}

void tth_spool_close(struct tth_spool *sp)
{
	if (!sp)
		return;
	acks_retry(sp);
	if (sp->cfg.fsync != TETHER_FSYNC_NEVER)
		tth_spool_flush(sp, sp->last_sync_ms);
	for (size_t i = 0; i < sp->nsegs; i++)
		tth_spool_seg_free(sp, sp->segs[i]);
	free(sp->segs);
	if (sp->active_fd >= 0)
		close(sp->active_fd);
	if (sp->dir_fd >= 0)
		close(sp->dir_fd);
	if (sp->lock_fd >= 0)
		close(sp->lock_fd); /* releases the flock */
	free(sp);
}
