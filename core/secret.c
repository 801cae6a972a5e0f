/* Reading secrets from files (see secret-int.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "secret-int.h"

int tth_secret_read_file(const char *path, char **out, mode_t *mode)
{
	char buf[TTH_SECRET_MAX];
	struct stat st;
	size_t len;
	FILE *f = fopen(path, "r");

	*out = NULL;
	if (!f)
		return errno;
	if (mode && fstat(fileno(f), &st) == 0)
		*mode = st.st_mode;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*out = strdup(buf);
	/* volatile: the compiler may not skip wiping a dead buffer */
	for (volatile char *q = buf; *q; q++)
		*q = 0;
	return *out ? 0 : ENOMEM;
}
