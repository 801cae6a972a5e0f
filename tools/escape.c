/*
 * Printing strings that came from a peer (a close reason, a server's
 * DISCONNECT reason string, a redirect target, a TLS or socket error's
 * text) so that they can neither forge lines nor reach the terminal as
 * escape sequences, and so that a JSON line is always valid JSON.
 *
 * UTF-8 is decoded as RFC 3629 says: no overlong forms, no surrogates,
 * nothing past U+10FFFF. A byte that does not start a valid sequence is
 * one invalid byte (the decoder resynchronises on the next one).
 */
#include <stdio.h>
#include <string.h>

#include "cli-int.h"

/* Length of the valid UTF-8 sequence at s (1-4) and its code point in
 * *cp, or 0 when the byte at s does not start one. */
static size_t utf8_seq(const unsigned char *s, unsigned *cp)
{
	unsigned c = s[0], min, v;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

void cli_text_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	while (*s) {
		unsigned cp;
		size_t n = utf8_seq(s, &cp);

		if (n == 0) {
			fprintf(f, "\\x%02x", *s++);
			continue;
		}
		if (cp == '\n') {
			fputs("\\n", f);
		} else if (cp == '\r') {
			fputs("\\r", f);
		} else if (cp == '\t') {
			fputs("\\t", f);
		} else if (cp < 0x20 || cp == 0x7f) {
			fprintf(f, "\\x%02x", cp);
		} else if (cp >= 0x80 && cp <= 0x9f) {
			/* C1 controls (0x9b is a terminal's CSI) */
			fprintf(f, "\\u%04x", cp);
		} else {
			fwrite(s, 1, n, f);
		}
		s += n;
	}
}

void cli_json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	fputc('"', f);
	while (*s) {
		unsigned cp;
		size_t n = utf8_seq(s, &cp);

		if (n == 0) {
			fputs("\\ufffd", f); /* JSON text is UTF-8 (RFC 8259) */
			s++;
			continue;
		}
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\r')
			fputs("\\r", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			fprintf(f, "\\u%04x", cp);
		else
			fwrite(s, 1, n, f);
		s += n;
	}
	fputc('"', f);
}
