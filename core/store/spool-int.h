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
 * Record format (both files; integers little-endian)
 *
 *   off len field
 *     0   4 magic        "TSR1"
 *     4   1 type         1 = message, 2 = ack, 3 = message with
 *                        MQTT 5 properties
 *     5   1 flags        bits 0-1 qos, bit 2 retain, bit 3 binary,
 *                        bit 4 topic present (else topic is NULL)
 *     6   2 topic_len
 *     8   4 payload_len
 *    12   8 id           message: its spool id; ack: the id acknowledged
 *    20   8 expires      the caller's opaque deadline (0 = none)
 *    28   4 body_crc     CRC-32C of topic bytes + payload bytes
 *    32   4 header_crc   CRC-32C of bytes 0..31
 *    36     topic (topic_len bytes, no NUL), payload (payload_len bytes)
 *
 * An ack record has flags, lengths and expires 0 and no body.
 *
 * A message with properties (type 3) has the same header; its payload
 * part (payload_len bytes, covered by body_crc) starts with the length of
 * the properties (4 bytes, little-endian, > 0), then the properties as
 * MQTT 5 encodes them (core/store/props-int.h), then the payload. Type 3
 * was added after types 1 and 2, which are still written for messages
 * without properties, so every spool written before reads the same; an
 * older tether reading a type 3 record skips it with a warning ("not a
 * message record") rather than sending the properties as payload.
 *
 * Recovery (tth_spool_open) reads every segment in name order and checks
 * each record: a record whose header is sound but whose body checksum is
 * wrong is skipped (its length is trusted: the header checksum covers
 * it); a damaged header is skipped by scanning forward to the next offset
 * holding a sound header; when nothing sound follows, or a record runs
 * past the end of the file (a write cut short by a crash), the file is
 * truncated there. Each of these is reported as a warning (file, offset,
 * what); every record before the damage is kept.
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
 *   owner holds the lock: err names its pid), TETHER_EIO (err: what,
 *   which file, strerror), TETHER_ENOMEM, or the error a message callback
 *   returned.
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
 * @return 0, TETHER_EFULL (the spool would exceed max_bytes),
 *   TETHER_ETOOBIG (topic longer than 65535 bytes, or a record larger
 *   than max_bytes), TETHER_EINVAL, TETHER_EIO (tth_spool_error(): the
 *   write or the sync failed; the segment is cut back to its last whole
 *   record, nothing to undo), TETHER_ENOMEM.
 */
int tth_spool_append(struct tth_spool *sp, const struct tether_message *msg,
		     uint64_t expires, uint64_t now_ms, uint64_t *id);
/*
 * The message id was delivered (or dropped for good): it will not come
 * back on the next open. Deletes its segment when that was the last live
 * message of a segment that is not active.
 * @return 0, TETHER_ENOENT (not a live id: unknown or acknowledged
 *   already), TETHER_EIO (tth_spool_error(); the message stays live).
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
};


int tth_spool_fail(struct tth_spool *sp, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A failed system call on file `name`: TETHER_EIO with errno's text. */
int tth_spool_fail_io(struct tth_spool *sp, const char *what,
		      const char *name);
void tth_spool_seg_name(char *buf, uint64_t seq, const char *ext);
/* Whether the TTH_SPOOL_HDR bytes at h are a sound header; fills r. */
int tth_spool_hdr_decode(const uint8_t *h, struct tth_spool_rec *r);
struct tth_spool_seg *tth_spool_seg_new(uint64_t seq, uint64_t first_id);
void tth_spool_seg_free(struct tth_spool *sp, struct tth_spool_seg *s);
int tth_spool_segs_append(struct tth_spool *sp, struct tth_spool_seg *s);
int tth_spool_bits_reserve(struct tth_spool_seg *s, uint64_t id);
void tth_spool_bit_put(struct tth_spool_seg *s, uint64_t id, int on);
int tth_spool_seg_delete(struct tth_spool *sp, size_t i);
/* The active segment (the last one, open for appends), or NULL. */
struct tth_spool_seg *tth_spool_active(const struct tth_spool *sp);

#endif
