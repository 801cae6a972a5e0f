/* The durable spool, opening: directory, lock, recovery of the segments
   (torn and damaged records), then ready to append. See spool-int.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <tether/tether.h>

#include "props-int.h"
#include "spool-int.h"
#include "util-int.h"

struct u64v {
	uint64_t *v;
	size_t n, cap;
};

static int u64v_add(struct u64v *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		uint64_t *v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			return TETHER_ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int has_u64(const struct u64v *a, uint64_t x)
{
	return a->n && bsearch(&x, a->v, a->n, sizeof(*a->v), cmp_u64);
}

/* The sequence number of a "<16 hex>.<ext>" name, or 0 when it is not. */
static uint64_t parse_name(const char *name, const char *ext)
{
	uint64_t seq = 0;
	int i;

	if (strlen(name) != 20 || name[16] != '.' || strcmp(name + 17, ext))
		return 0;
	for (i = 0; i < 16; i++) {
		char ch = name[i];
		int d = ch >= '0' && ch <= '9'   ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
						 : -1;

		if (d < 0)
			return 0;
		seq = seq << 4 | (uint64_t)d;
	}
	return seq;
}

/* ------------------------------------------------------------- recovery */

struct recover {
	struct tth_spool *sp;
	const struct tth_spool_recover_ops *ops;
	void *ud;
	const char *file; /* being read */
	uint64_t max_id;  /* highest message id in sequence so far */
	int ver;          /* of the file being read: 1 or 2 */
	uint64_t salt;    /* its salt (2) */
	/* message ids of a .seg (NULL while reading an .ack): the last one in
	   sequence, and where its record ended (0: none in this file yet) */
	uint64_t *last_id;
	size_t last_end;
	struct tth_spool_rec *msgs; /* the current segment's messages */
	size_t nmsgs, capmsgs;
	char *topic;      /* NUL-terminated copy for the callback */
	size_t captopic;
	uint64_t warnings;
	uint64_t skips;
};

static void warn(struct recover *rc, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warn(struct recover *rc, uint64_t off, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	rc->warnings++;
	/* a skipped record stays in its file; a cut tail is gone */
	if (strstr(what, "skipped"))
		rc->skips++;
	if (rc->ops && rc->ops->warning)
		rc->ops->warning(rc->ud, rc->file, off, what);
}

/* Reads the whole of name (opened read-write: its tail may be cut). */
static int read_file(struct tth_spool *sp, const char *name, int *fd,
		     uint8_t **buf, size_t *len)
{
	struct stat stt;
	size_t got = 0;

	*buf = NULL;
	*fd = openat(sp->dir_fd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0 || fstat(*fd, &stt) != 0)
		return tth_spool_fail_io(sp, "open", name);
	if (!S_ISREG(stt.st_mode))
		return tth_spool_fail(sp, TETHER_EIO,
				      "open %s: not a regular file: refused",
				      name);
	*len = (size_t)stt.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		return TETHER_ENOMEM;
	while (got < *len) {
		ssize_t r = pread(*fd, *buf + got, *len - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return tth_spool_fail_io(sp, "read", name);
		if (r == 0)
			break; /* shrank under us: read what is there */
		got += (size_t)r;
	}
	*len = got;
	return 0;
}

/*
 * Whether the sound header r at off is in sequence (spool-int.h, "Ids"):
 * in a .seg, above the last id and by no more than the records that could
 * fit in between; anywhere, at most TTH_SPOOL_ID_MAX.
 */
static int in_sequence(const struct recover *rc, const struct tth_spool_rec *r,
		       size_t off)
{
	uint64_t prev;

	if (r->id > TTH_SPOOL_ID_MAX)
		return 0;
	if (!rc->last_id)
		return 1;
	prev = *rc->last_id;
	if (r->id <= prev)
		return 0;
	if (!rc->last_end)
		return 1; /* the file's first: after any earlier file's */
	return r->id - prev <= (uint64_t)(off - rc->last_end) / TTH_SPOOL_HDR + 1;
}

/* Whether a whole record at off is proven: a sound header in sequence,
   a body inside the file that matches its checksum. */
static int provable(const struct recover *rc, const uint8_t *buf, size_t len,
		    size_t off)
{
	struct tth_spool_rec r;
	size_t body;

	if (len - off < TTH_SPOOL_HDR ||
	    !tth_spool_hdr_decode(buf + off, &r, rc->ver, rc->salt) ||
	    !in_sequence(rc, &r, off))
		return 0;
	body = (size_t)r.tlen + r.plen;
	return body <= len - off - TTH_SPOOL_HDR &&
	       tth_crc32c(0, buf + off + TTH_SPOOL_HDR, body) == r.body_crc;
}

/* The first offset >= from holding a provable record, or len. */
static size_t resync(const struct recover *rc, const uint8_t *buf, size_t len,
		     size_t from)
{
	while (from + TTH_SPOOL_HDR <= len) {
		const uint8_t *p = memchr(buf + from, 'T', len - from);

		if (!p || (size_t)(p - buf) + TTH_SPOOL_HDR > len)
			break;
		from = (size_t)(p - buf);
		if (provable(rc, buf, len, from))
			return from;
		from++;
	}
	return len;
}

typedef int (*rec_fn)(struct recover *rc, const struct tth_spool_rec *r,
		      uint64_t off, void *arg);

/*
 * Calls fn for each sound record of buf from start and warns about the
 * rest.
 * @return the length to keep (shorter than len: a tail to cut off), with
 *   *err 0 or fn's error.
 */
static size_t scan(struct recover *rc, const uint8_t *buf, size_t len,
		   size_t start, rec_fn fn, void *arg, int *err)
{
	size_t off = start;

	*err = 0;
	while (off < len) {
		struct tth_spool_rec r;
		size_t avail = len - off, body;

		if (avail < TTH_SPOOL_HDR) {
			warn(rc, off, "torn record at the end (%zu bytes): "
				      "cut off", avail);
			return off;
		}
		if (!tth_spool_hdr_decode(buf + off, &r, rc->ver, rc->salt) ||
		    !in_sequence(rc, &r, off)) {
			size_t next = resync(rc, buf, len, off + 1);
			int sound = tth_spool_hdr_decode(buf + off, &r, rc->ver,
							 rc->salt);

			if (next == len) {
				warn(rc, off, "damaged or torn record at the "
					      "end (%zu bytes): cut off",
				     avail);
				return off;
			}
			if (sound)
				warn(rc, off, "record id %" PRIu64 " out of "
					      "sequence: %zu bytes skipped",
				     r.id, next - off);
			else
				warn(rc, off, "damaged record header: %zu "
					      "bytes skipped", next - off);
			off = next;
			continue;
		}
		body = (size_t)r.tlen + r.plen;
		if (body > avail - TTH_SPOOL_HDR) {
			warn(rc, off, "torn record at the end (%zu of %zu "
				      "bytes): cut off",
			     avail, body + TTH_SPOOL_HDR);
			return off;
		}
		r.body = buf + off + TTH_SPOOL_HDR;
		if (rc->last_id) {
			/* its id is spent, whatever its body says */
			*rc->last_id = r.id;
			rc->last_end = off + TTH_SPOOL_HDR + body;
			if (r.id > rc->max_id)
				rc->max_id = r.id;
		}
		if (tth_crc32c(0, r.body, body) != r.body_crc)
			warn(rc, off, "bad body checksum: record %" PRIu64
				      " skipped (%zu bytes)",
			     r.id, body + TTH_SPOOL_HDR);
		else if ((*err = fn(rc, &r, off, arg)) != 0)
			return len;
		off += TTH_SPOOL_HDR + body;
	}
	return len;
}

/* The properties of a TTH_SPOOL_REC_MSG_PROPS record (*v malloc'ed, or
 * NULL), and where its payload starts. 0, TETHER_EINVAL, TETHER_ENOMEM. */
static int record_props(const struct tth_spool_rec *r,
			struct tether_property **v, size_t *n)
{
	const uint8_t *b = r->body + r->tlen;
	uint32_t plen;

	*v = NULL;
	*n = 0;
	if (r->plen < 4)
		return TETHER_EINVAL;
	plen = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
	if (plen > r->plen - 4 || plen == 0)
		return TETHER_EINVAL;
	return tth_props_decode(b + 4, plen, v, n);
}

static int on_message(struct recover *rc, const struct tth_spool_rec *r,
		      uint64_t off, void *arg)
{
	(void)arg;
	if ((r->type != TTH_SPOOL_REC_MSG &&
	     r->type != TTH_SPOOL_REC_MSG_PROPS) ||
	    (r->flags & TTH_SPOOL_F_QOS) > 2) {
		warn(rc, off, "not a message record (type %u, flags 0x%x): "
			      "skipped", r->type, r->flags);
		return 0;
	}
	if (r->type == TTH_SPOOL_REC_MSG_PROPS) {
		struct tether_property *v;
		size_t n;
		int err = record_props(r, &v, &n);

		if (err == TETHER_ENOMEM)
			return err;
		free(v);
		if (err) {
			warn(rc, off, "bad properties: record skipped");
			return 0;
		}
	}
	if (rc->nmsgs == rc->capmsgs) {
		size_t cap = rc->capmsgs ? rc->capmsgs * 2 : 64;
		struct tth_spool_rec *v =
			realloc(rc->msgs, cap * sizeof(*v));

		if (!v)
			return TETHER_ENOMEM;
		rc->msgs = v;
		rc->capmsgs = cap;
	}
	rc->msgs[rc->nmsgs++] = *r;
	return 0;
}

static int on_ack(struct recover *rc, const struct tth_spool_rec *r,
		  uint64_t off, void *arg)
{
	struct tth_spool_seg *s = arg;
	uint64_t i;

	if (r->type != TTH_SPOOL_REC_ACK) {
		warn(rc, off, "not an ack record (type %u): skipped", r->type);
		return 0;
	}
	if (r->id < s->first_id || r->id >= s->end_id)
		return 0; /* not one of this segment's: nothing to undo */
	i = r->id - s->first_id;
	if (s->bits[i / 8] & (1u << (i % 8))) {
		tth_spool_bit_put(s, r->id, 0);
		s->nlive--;
	}
	return 0;
}

static int emit(struct recover *rc, const struct tth_spool_rec *r)
{
	struct tether_message m;
	struct tether_property *props = NULL;
	const uint8_t *pl = r->body + r->tlen;
	int err;

	if (!rc->ops || !rc->ops->message)
		return 0;
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	if (r->flags & TTH_SPOOL_F_TOPIC) {
		if (rc->captopic < (size_t)r->tlen + 1) {
			char *t = realloc(rc->topic, (size_t)r->tlen + 1);

			if (!t)
				return TETHER_ENOMEM;
			rc->topic = t;
			rc->captopic = (size_t)r->tlen + 1;
		}
		memcpy(rc->topic, r->body, r->tlen);
		rc->topic[r->tlen] = '\0';
		m.topic = rc->topic;
	}
	m.payload = r->plen ? r->body + r->tlen : NULL;
	m.len = r->plen;
	if (r->type == TTH_SPOOL_REC_MSG_PROPS) {
		/* checked by on_message: only memory can fail */
		size_t skip;

		err = record_props(r, &props, &m.nprops);
		if (err)
			return err;
		m.props = props;
		skip = 4 + ((size_t)pl[0] | (size_t)pl[1] << 8 |
			    (size_t)pl[2] << 16 | (size_t)pl[3] << 24);
		m.payload = pl + skip;
		m.len -= skip;
		if (!m.len)
			m.payload = NULL;
	}
	m.qos = r->flags & TTH_SPOOL_F_QOS;
	m.retain = !!(r->flags & TTH_SPOOL_F_RETAIN);
	m.binary = !!(r->flags & TTH_SPOOL_F_BINARY);
	err = rc->ops->message(rc->ud, r->id, r->expires, &m);
	free(props);
	return err;
}

#define SET_ASIDE 1 /* recover_file: a damaged file header, file renamed */

/*
 * Reads one file of kind with fn; cuts a torn tail. *size: the length
 * kept; *ver, *salt: its format (0: empty). 0, SET_ASIDE, or an error.
 */
static int recover_file(struct recover *rc, const char *name, int kind,
			rec_fn fn, void *arg, uint8_t **buf, uint64_t *size,
			uint8_t *ver, uint64_t *salt)
{
	struct tth_spool *sp = rc->sp;
	size_t len = 0, keep = 0;
	int fd, err, v = 0;

	rc->file = name;
	*ver = 0;
	*salt = 0;
	err = read_file(sp, name, &fd, buf, &len);
	if (err == 0 && len > 0) {
		v = tth_spool_file_hdr_decode(*buf, len, kind, salt);
		if (v == 0)
			warn(rc, 0, "torn file header (%zu bytes): cut off", len);
	}
	if (err == 0 && v == -2)
		err = tth_spool_fail(sp, TETHER_EIO,
				     "%s: spool format version %" PRIu64
				     " (this tether reads 1 and 2): refused",
				     name, *salt);
	if (err == 0 && v == -1) {
		char aside[TTH_SPOOL_NAME_LEN + 8];

		snprintf(aside, sizeof(aside), "%s.damaged", name);
		if (renameat(sp->dir_fd, name, sp->dir_fd, aside) != 0)
			err = tth_spool_fail_io(sp, "rename", name);
		else {
			warn(rc, 0, "damaged file header: set aside as %s, "
				    "its records skipped", aside);
			rc->skips++;
			*size = 0;
			err = SET_ASIDE;
		}
	}
	if (err == 0 && v > 0) {
		rc->ver = v;
		rc->salt = *salt;
		*ver = (uint8_t)v;
		keep = scan(rc, *buf, len, v == 2 ? TTH_SPOOL_FILE_HDR : 0, fn,
			    arg, &err);
	}
	if (err == 0) {
		if (keep < len && ftruncate(fd, (off_t)keep) != 0)
			err = tth_spool_fail_io(sp, "truncate", name);
		*size = keep;
	}
	if (fd >= 0)
		close(fd);
	return err;
}

/* Recovers segment seq and appends it to the spool. */
static int recover_seg(struct recover *rc, uint64_t seq, uint64_t *last_id,
		       int with_ack)
{
	struct tth_spool *sp = rc->sp;
	struct tth_spool_seg *s = tth_spool_seg_new(seq, 0);
	char name[TTH_SPOOL_NAME_LEN], ack[TTH_SPOOL_NAME_LEN];
	uint8_t *buf = NULL, *abuf = NULL;
	int err;

	if (!s || tth_spool_segs_append(sp, s) != 0) {
		free(s);
		return TETHER_ENOMEM;
	}
	tth_spool_seg_name(name, seq, "seg");
	tth_spool_seg_name(ack, seq, "ack");
	rc->nmsgs = 0;
	rc->last_id = last_id;
	rc->last_end = 0;
	err = recover_file(rc, name, TTH_SPOOL_KIND_SEG, on_message, NULL, &buf,
			   &s->size, &s->ver, &s->salt);
	rc->last_id = NULL;
	if (err == SET_ASIDE)
		err = 0; /* no messages: the segment goes with its .ack */
	if (err == 0 && rc->nmsgs) {
		s->first_id = rc->msgs[0].id;
		s->end_id = rc->msgs[rc->nmsgs - 1].id + 1;
		err = tth_spool_bits_reserve(s, s->end_id - 1);
		for (size_t i = 0; err == 0 && i < rc->nmsgs; i++)
			tth_spool_bit_put(s, rc->msgs[i].id, 1);
		s->nlive = rc->nmsgs;
	}
	if (err == 0 && with_ack) {
		err = recover_file(rc, ack, TTH_SPOOL_KIND_ACK, on_ack, s, &abuf,
				   &s->ack_size, &s->ack_ver, &s->ack_salt);
		if (err == SET_ASIDE)
			err = 0; /* its messages are sent again */
	}
	for (size_t i = 0; err == 0 && i < rc->nmsgs; i++) {
		uint64_t id = rc->msgs[i].id, b = id - s->first_id;

		if (s->bits[b / 8] & (1u << (b % 8)))
			err = emit(rc, &rc->msgs[i]);
	}
	sp->st.bytes += s->size + s->ack_size;
	sp->st.live += s->nlive;
	sp->st.segments++;
	free(buf);
	free(abuf);
	return err;
}

static int list_dir(struct tth_spool *sp, struct u64v *segs,
		    struct u64v *acks)
{
	int fd = fcntl(sp->dir_fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int err = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return tth_spool_fail_io(sp, "list", "the spool directory");
	}
	while (err == 0 && (de = readdir(d))) {
		uint64_t seq;

		if ((seq = parse_name(de->d_name, "seg")))
			err = u64v_add(segs, seq);
		else if ((seq = parse_name(de->d_name, "ack")))
			err = u64v_add(acks, seq);
	}
	closedir(d);
	if (segs->n > 1)
		qsort(segs->v, segs->n, sizeof(*segs->v), cmp_u64);
	if (acks->n > 1)
		qsort(acks->v, acks->n, sizeof(*acks->v), cmp_u64);
	return err;
}

static int recover_all(struct tth_spool *sp,
		       const struct tth_spool_recover_ops *ops, void *ud)
{
	struct recover rc;
	struct u64v segs = {0}, acks = {0};
	uint64_t last_id = 0;
	char name[TTH_SPOOL_NAME_LEN];
	int err;

	memset(&rc, 0, sizeof(rc));
	rc.sp = sp;
	rc.ops = ops;
	rc.ud = ud;
	err = list_dir(sp, &segs, &acks);
	for (size_t i = 0; err == 0 && i < acks.n; i++) {
		if (has_u64(&segs, acks.v[i]))
			continue;
		/* a crash between the two unlinks of a deleted segment */
		tth_spool_seg_name(name, acks.v[i], "ack");
		unlinkat(sp->dir_fd, name, 0);
	}
	for (size_t i = 0; err == 0 && i < segs.n; i++)
		err = recover_seg(&rc, segs.v[i], &last_id,
				  has_u64(&acks, segs.v[i]));
	if (rc.max_id < last_id)
		rc.max_id = last_id;
	sp->next_id = rc.max_id + 1;
	sp->next_seq = 1;
	if (segs.n && segs.v[segs.n - 1] >= sp->next_seq)
		sp->next_seq = segs.v[segs.n - 1] + 1;
	if (acks.n && acks.v[acks.n - 1] >= sp->next_seq)
		sp->next_seq = acks.v[acks.n - 1] + 1;
	sp->damaged = rc.skips > 0;
	free(rc.msgs);
	free(rc.topic);
	free(segs.v);
	free(acks.v);
	return err;
}

/* Continues in the last segment while it has room; drops the spent ones. */
static int resume_appending(struct tth_spool *sp)
{
	struct tth_spool_seg *last = sp->nsegs ? sp->segs[sp->nsegs - 1] : NULL;
	char name[TTH_SPOOL_NAME_LEN];

	/* only a sound version 2 file takes more (never a version 1 one) */
	if (last && last->ver == 2 && last->size < sp->cfg.segment_bytes &&
	    !sp->damaged) {
		tth_spool_seg_name(name, last->seq, "seg");
		sp->active_fd = openat(sp->dir_fd, name,
				       O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (sp->active_fd < 0)
			return tth_spool_fail_io(sp, "open", name);
		if (last->end_id == last->first_id)
			last->first_id = last->end_id = sp->next_id;
	}
	for (size_t i = sp->nsegs; i-- > 0;) {
		struct tth_spool_seg *s = sp->segs[i];

		if (s->nlive == 0 && s != tth_spool_active(sp))
			tth_spool_seg_delete(sp, i);
	}
	return 0;
}

/* ----------------------------------------------------------- dir, lock */

/*
 * Whoever can create files in the spool directory can plant records (or
 * links) there: it must be ours (or root's) and writable by nobody else.
 * The sticky bit is no excuse: it stops others from removing our files,
 * not from adding theirs.
 */
static int check_dir(struct tth_spool *sp, const char *dir)
{
	struct stat st;

	if (fstat(sp->dir_fd, &st) != 0)
		return tth_spool_fail_io(sp, "stat", dir);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return tth_spool_fail(sp, TETHER_ECONFIG,
				      "spool directory %s is writable by %s "
				      "(mode %04o): refused (chmod go-w)",
				      dir,
				      (st.st_mode & S_IWOTH) ? "others" : "its group",
				      (unsigned)(st.st_mode & 07777));
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return tth_spool_fail(sp, TETHER_ECONFIG,
				      "spool directory %s belongs to uid %lu, not "
				      "to this process (uid %lu): refused",
				      dir, (unsigned long)st.st_uid,
				      (unsigned long)geteuid());
	return 0;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(struct tth_spool *sp, const char *dir)
{
	char *p, *path = strdup(dir);

	if (!path)
		return TETHER_ENOMEM;
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			int rc = tth_spool_fail_io(sp, "mkdir", path);

			free(path);
			return rc;
		}
		*p = '/';
	}
	free(path);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return tth_spool_fail_io(sp, "mkdir", dir);
	/* the directory's own path may hold symbolic links (the
	   administrator's choice); the files inside may not */
	sp->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dir_fd < 0)
		return tth_spool_fail_io(sp, "open", dir);
	return check_dir(sp, dir);
}

static int take_lock(struct tth_spool *sp, const char *dir)
{
	char pid[32] = "";
	int n;

	sp->lock_fd = openat(sp->dir_fd, "lock",
			     O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (sp->lock_fd < 0)
		return tth_spool_fail_io(sp, "open lock file in", dir);
	if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK)
			return tth_spool_fail_io(sp, "lock", dir);
		n = (int)pread(sp->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return tth_spool_fail(sp, TETHER_ESTATE,
				      "spool %s is in use by another process "
				      "(pid %s)",
				      dir, *pid ? pid : "unknown");
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(sp->lock_fd, 0) != 0 ||
	    pwrite(sp->lock_fd, pid, (size_t)n, 0) != n)
		return tth_spool_fail_io(sp, "write lock file in", dir);
	return 0;
}

int tth_spool_open(struct tth_spool **out, const char *dir,
		   const struct tth_spool_cfg *cfg,
		   const struct tth_spool_recover_ops *ops, void *ud,
		   char *err, size_t errlen)
{
	struct tth_spool *sp;
	int rc;

	if (err && errlen)
		*err = '\0';
	if (!out || !dir || !*dir || !cfg || cfg->max_bytes == 0 ||
	    (cfg->fsync != TETHER_FSYNC_ALWAYS &&
	     cfg->fsync != TETHER_FSYNC_INTERVAL &&
	     cfg->fsync != TETHER_FSYNC_NEVER)) {
		if (err && errlen)
			snprintf(err, errlen, "invalid spool configuration");
		return TETHER_EINVAL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return TETHER_ENOMEM;
	sp->dir_fd = sp->lock_fd = sp->active_fd = -1;
	sp->cfg = *cfg;
	if (!sp->cfg.segment_bytes) {
		sp->cfg.segment_bytes = cfg->max_bytes / 8;
		if (sp->cfg.segment_bytes > TTH_SPOOL_SEGMENT_MAX)
			sp->cfg.segment_bytes = TTH_SPOOL_SEGMENT_MAX;
		if (sp->cfg.segment_bytes < TTH_SPOOL_SEGMENT_MIN)
			sp->cfg.segment_bytes = TTH_SPOOL_SEGMENT_MIN;
	}
	rc = make_dirs(sp, dir);
	if (rc == 0 && !cfg->segment_bytes) {
		/* a disk smaller than the spool's bound: segments small
		   enough that delivered ones free space in pieces */
		struct statvfs vfs;
		uint64_t disk;

		if (fstatvfs(sp->dir_fd, &vfs) == 0 &&
		    (disk = (uint64_t)vfs.f_blocks * vfs.f_frsize / 8) <
			    sp->cfg.segment_bytes)
			sp->cfg.segment_bytes = disk > TTH_SPOOL_SEGMENT_MIN
							? disk
							: TTH_SPOOL_SEGMENT_MIN;
	}
	if (rc == 0)
		rc = take_lock(sp, dir);
	if (rc == 0)
		rc = recover_all(sp, ops, ud);
	if (rc == 0)
		rc = resume_appending(sp);
	if (rc != 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s",
				 *sp->err ? sp->err : tether_strerror(rc));
		tth_spool_close(sp);
		return rc;
	}
	*out = sp;
	return 0;
}
