/*
 * ALPN protocol lists as written in options ("mqtt,x-amzn-mqtt-ca"),
 * checked and turned into the TLS wire format (each name after its
 * one-byte length, RFC 7301 3.1). Shared by both transports.
 */
#include "config.h"

#include <string.h>

#include "builtin.h"

int tth_alpn_wire(const char *list, unsigned char *out, size_t cap,
		  size_t *len)
{
	size_t o = 0, start = 0, n = strlen(list);

	if (n == 0)
		return -1;
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = (unsigned char)list[i];

		if (ch != ',' && ch != '\0') {
			if (ch <= 0x20 || ch >= 0x7f)
				return -1;
			continue;
		}
		size_t k = i - start;
		if (k == 0 || k > 255 || o + 1 + k > cap)
			return -1;
		out[o++] = (unsigned char)k;
		memcpy(out + o, list + start, k);
		o += k;
		start = i + 1;
	}
	*len = o;
	return 0;
}
