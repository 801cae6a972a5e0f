/* The error table (one X-macro in tether.h) and the version string. */
#include "config.h"

#include <tether/tether.h>

const char *tether_version(void)
{
	return PACKAGE_VERSION;
}

const char *tether_strerror(int err)
{
	switch (err) {
	case TETHER_OK:
		return "success";
#define TETHER_XX_(name, msg)                                                  \
	case TETHER_##name:                                                    \
		return msg;
		TETHER_ERRNO_MAP(TETHER_XX_)
#undef TETHER_XX_
	default:
		return "unknown error";
	}
}

const char *tether_err_name(int err)
{
	switch (err) {
	case TETHER_OK:
		return "TETHER_OK";
#define TETHER_XX_(name, msg)                                                  \
	case TETHER_##name:                                                    \
		return "TETHER_" #name;
		TETHER_ERRNO_MAP(TETHER_XX_)
#undef TETHER_XX_
	default:
		return "TETHER_UNKNOWN";
	}
}
