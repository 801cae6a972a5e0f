/*
 * Secrets (passwords, key passphrases): read from a file's first line
 * (see secret-int.h), resolved from a parameter set for a plug-in
 * (tether_params_secret), and wiped before they are freed.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tether/policy.h>

#include "secret-int.h"

/* The longest base key of tether_params_secret(). */
#define SECRET_KEY_MAX 200

/* volatile: the compiler may not skip wiping memory about to die */
static void wipe(volatile char *s, size_t n)
{
	while (n--)
		*s++ = 0;
}

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
	/* all that was read: the lines after the first are secret too */
	wipe(buf, len);
	return *out ? 0 : ENOMEM;
}

TETHER_EXPORT void tether_secret_free(char *secret)
{
	if (!secret)
		return;
	wipe(secret, strlen(secret));
	free(secret);
}

TETHER_EXPORT int tether_params_secret(tether_params *p, const char *key,
				       const char *what, char **out)
{
	char ek[SECRET_KEY_MAX + sizeof("_env")];
	char fk[SECRET_KEY_MAX + sizeof("_file")];
	const char *v = NULL, *env = NULL, *file = NULL;
	int bad = 0, err;

	if (out)
		*out = NULL;
	if (!p || !key || !*key || !out || strlen(key) > SECRET_KEY_MAX)
		return TETHER_EINVAL;
	snprintf(ek, sizeof(ek), "%s_env", key);
	snprintf(fk, sizeof(fk), "%s_file", key);
	/* all three read first: each is known, each mapping reported */
	if (tether_params_string(p, key, what ? what : "a secret", NULL, &v))
		bad = 1;
	if (tether_params_string(p, ek, "an environment variable", NULL,
				 &env))
		bad = 1;
	if (tether_params_string(p, fk, "a file name", NULL, &file))
		bad = 1;
	if (bad)
		return TETHER_ECONFIG;
	if (!!v + !!env + !!file > 1)
		return tether_params_fail(p, key, "give only one of %s, %s, %s",
					  key, ek, fk);
	if (env) {
		v = getenv(env);
		if (!v)
			return tether_params_fail(
			    p, ek, "environment variable '%s' is not set", env);
	}
	if (file) {
		err = tth_secret_read_file(file, out, NULL);
		if (err == ENOMEM)
			return TETHER_ENOMEM;
		if (err)
			return tether_params_fail(p, fk, "cannot read '%s': %s",
						  file, strerror(err));
		return 0;
	}
	if (!v)
		return 0;
	*out = strdup(v);
	return *out ? 0 : TETHER_ENOMEM;
}
