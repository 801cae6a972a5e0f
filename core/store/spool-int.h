/*
 * The spool (docs/architecture.md): accepted QoS >= 1 messages are appended
 * to checksummed segment files before tether_conn_send() returns, removed
 * once delivered, and handed back on the next start. One spool per
 * directory, one owner at a time (an exclusive flock), single-threaded:
 * the runtime calls it from the loop thread or under the connection's
 * queue lock. Time comes in as now_ms (the same clock as the fsync
 * interval); nothing here sleeps or starts a thread.
 *
 * Directory layout
 *
 *   lock                   flock(LOCK_EX) while open; holds the owner's pid
 *   0000000000000001.seg   message records, appended; names sort in order
 *   0000000000000001.ack   ack records for the messages of that segment
 *
 * Segments are 16 lowercase hex digits (the segment sequence number) with
 * .seg; a segment's acks go to the .ack file of the same number. Keeping
 * every ack next to its own message means a segment is deleted (both
 * files, .seg first) as soon as all its messages are acknowledged, with
 * no reference left from any other file; a .ack without its .seg (a crash
 * between the two unlinks) is removed on open. New messages go to the
 * active (last) segment until it reaches segment_bytes; a larger message
 * gets a segment of its own. A fully acknowledged active segment that
 * has reached a quarter of segment_bytes is deleted too (compaction: the
 * next append starts a new one), so a steady send/ack flow does not grow
 * the directory.
 *
 * File format, version 2 (integers little-endian).
 * Every file starts with a file header; records follow it:
 *
 *   off len field
 *     0   4 magic        "TSPF"
 *     4   1 version      2
 *     5   1 kind         1 = .seg, 2 = .ack
 *     6   2 reserved     0
 *     8   8 salt         random (getrandom(2)), new for each file
 *    16   4 crc          CRC-32C of bytes 0..15
 *
 * Record (both files):
 *
 *   off len field
 *     0   4 magic        "TSR2" ("TSR1" in a version 1 file)
 *     4   1 type         1 = message, 2 = ack, 3 = message with
 *                        MQTT 5 properties
 *     5   1 flags        bits 0-1 qos, bit 2 retain, bit 3 binary,
 *                        bit 4 topic present (else topic is NULL)
 *     6   2 topic_len
 *     8   4 payload_len
 *    12   8 id           message: its spool id; ack: the id acknowledged
 *    20   8 expires      the caller's opaque deadline (0 = none)
 *    28   4 body_crc     CRC-32C of topic bytes + payload bytes
 *    32   4 header_crc   CRC-32C of the file's salt (8 bytes) then of
 *                        bytes 0..31 (version 1: of bytes 0..31 alone)
 *    36     topic (topic_len bytes, no NUL), payload (payload_len bytes)
 *
 * An ack record has flags, lengths and expires 0 and no body.
 *
 * Why the salt: a message payload may hold bytes that look like a record
 * (an application can put anything there). Without a secret in the
 * header checksum, recovery that lost its place after a damaged header
 * could take such bytes for a record and deliver a message nobody sent.
 * A record's header checksum now depends on 8 random bytes the payload's
 * author never sees, so only records this file's writer wrote check.
 *
 * Version 1 (the first format, before the salt): no file header; records start at byte 0 with
 * "TSR1" and an unsalted header checksum. Version 1 files are still
 * read (with the same sequence rules as below, but a forged record inside
 * a damaged one cannot be told from a real one there); nothing is ever
 * appended to them: a version 1 spool drains into version 2 files.
 * A file header with another version is refused (the open fails and
 * names the file): it was written by a newer tether.
 *
 * A message with properties (type 3) has the same header; its payload
 * part (payload_len bytes, covered by body_crc) starts with the length of
 * the properties (4 bytes, little-endian, > 0), then the properties as
 * MQTT 5 encodes them (core/store/props-int.h), then the payload.
 *
 * Ids. Message ids within a .seg are consecutive (an append that fails
 * is cut off again and its id reused), so recovery proves a record's
 * place by sequence as well as by checksum: a message record must have
 * an id above the previous one's, by at most one more than the number of
 * records that could fit in the bytes skipped in between (each takes at
 * least TTH_SPOOL_HDR bytes), and at most TTH_SPOOL_ID_MAX. So the
 * bookkeeping of a segment is bounded by its size, whatever its ids say.
 *
 * Recovery (tth_spool_open) reads every segment in name order and checks
 * each record: a record whose header is sound and in sequence but whose
 * body checksum is wrong is skipped (its length is trusted: the salted
 * header checksum covers it); a damaged header (or one out of sequence)
 * is skipped by scanning forward, one byte at a time, to the next offset
 * holding a frame recovery can prove: a sound header, in sequence, whose
 * body fits in the file and matches its checksum. When nothing provable
 * follows, or a record runs past the end of the file (a write cut short
 * by a crash), the file is cut there. A file header that is torn (a crash
 * right after the file was created) is cut to nothing; a damaged one (or
 * a file that starts with neither format's magic) sets the file aside as
 * "<name>.damaged", untouched. Each of these is
 * reported as a warning (file, offset, what); every record before the
 * damage is kept.
 *
 * A full disk. Appends need space and fail with TETHER_EFULL
 * (tth_spool_nospace() says the disk is full, not the spool). Acks never
 * fail for want of space: an ack is applied in memory at once (the
 * message is no longer live, a segment whose messages are all
 * acknowledged is unlinked, which frees space), and an ack record that
 * cannot be written is kept in memory (pending_acks) and written at the
 * next append, ack or flush. A crash before then sends those messages
 * once more, never loses one.
 *
 * Files are opened with O_NOFOLLOW and O_CLOEXEC and must be regular
 * files: a symbolic link in place of a spool file fails the open. The
 * directory must belong to the process's effective user (or root) and
 * must not be writable by group or others (sticky bit or not: whoever
 * can create a file there could plant one): otherwise the open fails
 * with TETHER_ECONFIG.
 *
 * Durability. ALWAYS: fdatasync(2) of the segment before append()
 * returns, and of the directory when a segment file is created.
 * INTERVAL: fdatasync when fsync_interval_ms passed since the last one,
 * at an append or at tth_spool_flush() (call it at tth_spool_next_flush()
 * from a timer). NEVER: left to the kernel. Acks are never synced on
 * their own (flush() and close() sync them, except under NEVER): an ack
 * lost in a crash means the message is sent again, never that one is lost.
 */
#ifndef TETHER_SPOOL_INT_H
#define TETHER_SPOOL_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tether/tether.h>

#define TTH_SPOOL_HDR 36u                     /* record header bytes */
#define TTH_SPOOL_FILE_HDR 20u                /* file header bytes (v2) */
#define TTH_SPOOL_ID_MAX (UINT64_C(1) << 62)  /* highest id recovery takes */
#define TTH_SPOOL_SEGMENT_MAX (4u << 20)      /* default segment_bytes cap */
#define TTH_SPOOL_SEGMENT_MIN (4u << 10)

struct tth_spool;

struct tth_spool_cfg {
	uint64_t max_bytes;     /* all files together; > 0 */
	/* 0: max_bytes / 8, between TTH_SPOOL_SEGMENT_MIN and _MAX */
	uint64_t segment_bytes;
	enum tether_fsync fsync;
	uint64_t fsync_interval_ms; /* INTERVAL; 0 acts as ALWAYS */
};

/*
 * What recovery found, reported during tth_spool_open().
 * message: a message not yet acknowledged, in append order; msg and its
 *   pointers are valid only during the call. Return 0 to go on, or a
 *   negative TETHER_E* code to fail the open with it.
 * warning: a damaged record that was skipped or cut off. file is the name
 *   inside the directory, what a sentence ("bad body checksum: record
 *   skipped (57 bytes)").
 * Either may be NULL. When the open fails after messages were reported,
 * the caller discards them (a failed open changes no file, apart from
 * cutting torn tails and removing orphan .ack files).
 */
struct tth_spool_recover_ops {
	int (*message)(void *ud, uint64_t id, uint64_t expires,
		       const struct tether_message *msg);
	void (*warning)(void *ud, const char *file, uint64_t offset,
			const char *what);
};

struct tth_spool_stats {
	uint64_t bytes;      /* on disk, all files: what max_bytes bounds */
	uint64_t live;       /* messages appended, not yet acknowledged */
	uint32_t segments;   /* .seg files */
	uint64_t appends, acks, syncs, segments_deleted;
	uint64_t pending_acks; /* applied, record not written yet (no space) */
	uint64_t nospace;      /* writes that failed for want of disk space */
};

/*
 * Fills cfg from the public queue config (spool_max_bytes, fsync,
 * fsync_interval_ms). 0, or TETHER_EINVAL (bound of 0, unknown fsync).
 */
int tth_spool_cfg_from_queue(struct tth_spool_cfg *cfg,
			     const struct tether_queue_cfg *q);

/*
 * Opens (creating it, and missing parents, mode 0700) the spool in dir,
 * takes its lock, recovers (ops) and gets ready to append.
 * @param err receives a message on failure (may be NULL).
 * @return 0 with *out set, TETHER_EINVAL (cfg), TETHER_ESTATE (another
 *   owner holds the lock: err names its pid), TETHER_ECONFIG (the
 *   directory is writable by group or others, or belongs to another
 *   user), TETHER_EIO (err: what, which file, strerror; a symbolic link
 *   or other non-regular file in place of a spool file; a file of an
 *   unknown format version), TETHER_ENOMEM, or the error a message
 *   callback returned.
 */
int tth_spool_open(struct tth_spool **out, const char *dir,
		   const struct tth_spool_cfg *cfg,
		   const struct tth_spool_recover_ops *ops, void *ud,
		   char *err, size_t errlen);
/* Syncs what is dirty (unless NEVER), releases the lock, frees. NULL ok. */
void tth_spool_close(struct tth_spool *sp);

/*
 * Appends msg (qos, retain, binary, topic, payload) with the caller's
 * opaque expires (0 = none), syncing per policy before returning.
 * @param id receives the spool id (> 0). Ids increase while the spool
 *   is open; after a restart they continue after the highest id still on
 *   disk, so an id none of whose records is left may be given again.
 * @return 0, TETHER_EFULL (the spool would exceed max_bytes, or the
 *   disk is full: tth_spool_nospace() tells which, tth_spool_error()
 *   says what failed), TETHER_ETOOBIG (topic longer than 65535 bytes,
 *   or a record larger than max_bytes), TETHER_EINVAL, TETHER_EIO
 *   (tth_spool_error(): the write or the sync failed; the segment is cut
 *   back to its last whole record, nothing to undo), TETHER_ENOMEM.
 */
int tth_spool_append(struct tth_spool *sp, const struct tether_message *msg,
		     uint64_t expires, uint64_t now_ms, uint64_t *id);
/*
 * The message id was delivered (or dropped for good): it will not come
 * back on the next open (unless its ack record could not be written yet
 * and the process dies first: then it comes back once more). Deletes its
 * segment when that was the last live message of a segment that is not
 * active. Needs no disk space: see "A full disk".
 * @return 0 (applied), TETHER_ENOENT (not a live id: unknown or
 *   acknowledged already).
 */
int tth_spool_ack(struct tth_spool *sp, uint64_t id);
/*
 * Syncs what was written since the last sync (segment and ack files).
 * Under NEVER it does nothing. @return 0, or TETHER_EIO.
 */
int tth_spool_flush(struct tth_spool *sp, uint64_t now_ms);
/*
 * When the runtime should call tth_spool_flush() (INTERVAL with unsynced
 * appends), or TTH_NEVER.
 */
uint64_t tth_spool_next_flush(const struct tth_spool *sp);
/* Text of the last failure ("write 00...1.seg: No space left on device"). */
const char *tth_spool_error(const struct tth_spool *sp);
/* Whether the last write failed for want of disk space (ENOSPC, EDQUOT)
   and no append has succeeded since. */
int tth_spool_nospace(const struct tth_spool *sp);
void tth_spool_get_stats(const struct tth_spool *sp,
			 struct tth_spool_stats *st);

/* CRC-32C (Castagnoli), reflected, init and final xor 0xffffffff. Feed
   pieces by passing the previous result as crc (start with 0). */
uint32_t tth_crc32c(uint32_t crc, const void *data, size_t len);

/* ------------------------------------------------------------------------
 * Private to spool.c (append, ack, sync) and spool_open.c (recovery): not
 * for the runtime.
 */
#define TTH_SPOOL_REC_MSG 1
#define TTH_SPOOL_REC_ACK 2
#define TTH_SPOOL_REC_MSG_PROPS 3
#define TTH_SPOOL_F_QOS 0x03
#define TTH_SPOOL_F_RETAIN 0x04
#define TTH_SPOOL_F_BINARY 0x08
#define TTH_SPOOL_F_TOPIC 0x10
#define TTH_SPOOL_NAME_LEN 21 /* 16 hex digits + ".seg" + NUL */

#define TTH_SPOOL_KIND_SEG 1
#define TTH_SPOOL_KIND_ACK 2

/* A decoded record header (body points into the caller's buffer). */
struct tth_spool_rec {
	uint8_t type, flags;
	uint16_t tlen;
	uint32_t plen;
	uint64_t id, expires;
	uint32_t body_crc;
	const uint8_t *body; /* tlen + plen bytes */
};


struct tth_spool_seg {
	uint64_t seq;
	uint64_t first_id, end_id; /* its message ids are in [first, end) */
	uint8_t *bits;             /* live: bit (id - first_id) */
	uint64_t nbits;            /* capacity of bits */
	uint64_t nlive;
	uint64_t size, ack_size;   /* bytes of .seg and .ack */
	int ack_fd;                /* -1: closed */
	int ack_dirty;
	uint8_t ver, ack_ver;      /* format of .seg and .ack (0: no file) */
	uint64_t salt, ack_salt;   /* their file headers' salts (v2) */
	uint64_t *pend;            /* acked ids whose record is not written */
	size_t npend, cappend;
};

struct tth_spool {
	struct tth_spool_cfg cfg;
	int dir_fd, lock_fd;
	struct tth_spool_seg **segs; /* by seq; the last is active when active_fd >= 0 */
	size_t nsegs, capsegs;
	int active_fd;
	int dirty; /* written since the last sync */
	int ack_fds;
	uint64_t last_sync_ms;
	uint64_t next_id;
	uint64_t next_seq; /* of the next segment: never reused while open */
	struct tth_spool_stats st;
	char err[256];
	/* recovery skipped or cut damaged records: appends go to a new
	   segment, so the damaged one goes once its messages are acked */
	int damaged;
	int nospace; /* see tth_spool_nospace() */
};


int tth_spool_fail(struct tth_spool *sp, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A failed system call on file `name`: TETHER_EIO with errno's text
   (TETHER_EFULL, and sp->nospace set, when errno says the disk is full). */
int tth_spool_fail_io(struct tth_spool *sp, const char *what,
		      const char *name);
void tth_spool_seg_name(char *buf, uint64_t seq, const char *ext);
/* Whether the TTH_SPOOL_HDR bytes at h are a sound header of a file of
   format ver (1 or 2) with that salt; fills r. */
int tth_spool_hdr_decode(const uint8_t *h, struct tth_spool_rec *r,
			 int ver, uint64_t salt);
/* A v2 file header of kind with salt, into h (TTH_SPOOL_FILE_HDR bytes). */
void tth_spool_file_hdr_encode(uint8_t *h, int kind, uint64_t salt);
/*
 * The file header at h (len bytes of the file): 2 with *salt, 1 (a
 * version 1 file: no header, a "TSR1" record first), 0 (torn: shorter
 * than a header, a crash right after creating the file), -1 (damaged:
 * a bad checksum, or neither format's magic) or -2 (another version;
 * *salt gets the version).
 */
int tth_spool_file_hdr_decode(const uint8_t *h, size_t len, int kind,
			      uint64_t *salt);
/* A new random salt. */
uint64_t tth_spool_salt(void);
struct tth_spool_seg *tth_spool_seg_new(uint64_t seq, uint64_t first_id);
void tth_spool_seg_free(struct tth_spool *sp, struct tth_spool_seg *s);
int tth_spool_segs_append(struct tth_spool *sp, struct tth_spool_seg *s);
int tth_spool_bits_reserve(struct tth_spool_seg *s, uint64_t id);
void tth_spool_bit_put(struct tth_spool_seg *s, uint64_t id, int on);
int tth_spool_seg_delete(struct tth_spool *sp, size_t i);
/* The active segment (the last one, open for appends), or NULL. */
struct tth_spool_seg *tth_spool_active(const struct tth_spool *sp);

#endif
