/* Reading secrets (passwords, key passphrases) from files. */
#ifndef TETHER_SECRET_INT_H
#define TETHER_SECRET_INT_H

#include <sys/types.h>

/* The longest secret read from a file, in bytes. */
#define TTH_SECRET_MAX 4096

/*
 * Read the first line of path (without its line ending) into a malloc'ed
 * *out; the stack copy is wiped. *mode gets the file's mode when mode is
 * not NULL. Returns 0 or an errno value (ENOMEM when the copy fails).
 */
int tth_secret_read_file(const char *path, char **out, mode_t *mode);

#endif
