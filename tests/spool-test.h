/* Shared by the spool suites: a spool in a temporary directory and what
   its recovery reported. */
#ifndef TETHER_SPOOL_TEST_H
#define TETHER_SPOOL_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <tether/tether.h>

#include "spool-int.h"

/* What recovery reported. */
struct got_msg {
	uint64_t id, expires;
	int qos, retain, binary, has_topic;
	char topic[64];
	unsigned char payload[512];
	size_t len;
	char props[256]; /* "name=value;" each ("user:" first for a User
			    Property, numbers in decimal) */
};

extern char tmpdir[64];
extern char dir[128]; /* the spool: a level below tmpdir (created) */
extern struct tth_spool *sp;
extern struct got_msg *got;
extern size_t ngot;
extern int nwarn;                         /* warnings at the last open */
extern char warn_file[64], warn_what[256]; /* the last warning */
extern uint64_t warn_off;

#define SEG1 "0000000000000001.seg"

void spool_setup(void);
void spool_teardown(void);
void cfg_init(struct tth_spool_cfg *c, uint64_t max, uint64_t seg,
	      enum tether_fsync fs);
/* Closes sp (if open) and opens it again, recording what comes back. */
int reopen_cfg(const struct tth_spool_cfg *c);
void reopen(void); /* 64 MiB, default segments, fsync never */
/* Message n: topic "t/<n>" (none when n % 5 == 0), a payload from n. */
void make_msg(struct tether_message *m, uint64_t n, char *topic,
	      unsigned char *payload, size_t len);
/* Appends message n (asserting success); returns its spool id. */
uint64_t append_n(uint64_t n, size_t len, uint64_t now);
/* got[i] is message n with a len-byte payload. */
void assert_got(size_t i, uint64_t n, size_t len);
const char *path_of(const char *name);
off_t file_size(const char *name); /* -1: no such file */
int count_files(const char *ext);  /* in the spool directory */
void remove_segments(void);        /* every .seg and .ack file */
void read_whole(const char *name, unsigned char **buf, size_t *len);
void write_whole(const char *name, const unsigned char *buf, size_t len);

#endif
