/*
 * json_dump.c — compact JSON text of a jansson value, byte for byte what
 * json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) writes, faster.
 *
 * Every model request is serialised once; jansson's dumper decodes each
 * string character by character and grows its buffer through a callback,
 * which was about 5% of a worker's time per run (and more for pa_invoke
 * with a long transcript). Here a string's bytes are copied in runs and
 * only '"', '\\' and control characters are escaped. jansson keeps its
 * strings valid UTF-8, so bytes >= 0x80 are copied as they are (jansson
 * writes them unescaped too without JSON_ENSURE_ASCII). No server
 * dependency: the unit tests compare it with json_dumps.
 *
 * Also here: pa_json_text, jansson's json_stringn with a faster UTF-8
 * check, for the long texts a run puts in its requests (the transcript,
 * the system prompt), and the UTF-8 sequence check it shares with model.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_dump.h"
#include "pa_buf.h"

#define ONES	UINT64_C(0x0101010101010101)
#define HIGHS	UINT64_C(0x8080808080808080)

/*
 * Does any of the 8 bytes at p need escaping: a control character (< 0x20),
 * '"' or '\\'? (x - n*ONES) & ~x & HIGHS is not zero exactly when some byte
 * of x is below n (n <= 0x80); a byte equal to c is a zero byte of x ^ c.
 */
static inline bool
needs_escape8(const char *p)
{
	uint64_t	x;
	uint64_t	q;
	uint64_t	bs;

	memcpy(&x, p, 8);
	q = x ^ (ONES * '"');
	bs = x ^ (ONES * '\\');
	return (((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((bs - ONES) & ~bs)) & HIGHS;
}

static void
put_string(PaBuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		start = 0;
	size_t		i;

	pa_buf_putc(b, '"');
	for (i = 0; i < n; i++)
	{
		unsigned char c;
		const char *esc;
		char		u[7];

		/* eight bytes at a time while none needs escaping (most text) */
		while (i + 8 <= n && !needs_escape8(s + i))
			i += 8;
		if (i >= n)
			break;
		c = (unsigned char) s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		pa_buf_putn(b, s + start, i - start);
		start = i + 1;
		switch (c)
		{
			case '"':
				esc = "\\\"";
				break;
			case '\\':
				esc = "\\\\";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			default:
				memcpy(u, "\\u00", 4);
				u[4] = hex[c >> 4];
				u[5] = hex[c & 15];
				u[6] = '\0';
				esc = u;
				break;
		}
		pa_buf_puts(b, esc);
	}
	pa_buf_putn(b, s + start, n - start);
	pa_buf_putc(b, '"');
}

/*
 * As jansson's jsonp_dtostr with its default precision: %.17g, a point for
 * a locale's decimal comma, ".0" when it would read back as an integer, and
 * the exponent without '+' or leading zeros (1e300, 1e-5).
 */
static void
put_real(PaBuf *b, double v)
{
	char		text[64];
	char	   *p;
	char	   *e;

	snprintf(text, sizeof(text), "%.17g", v);
	for (p = text; *p; p++)
		if (*p == ',')
			*p = '.';
	if (strchr(text, '.') == NULL && strchr(text, 'e') == NULL)
		strcat(text, ".0");
	if ((e = strchr(text, 'e')) != NULL)
	{
		char	   *from = e + 1;
		char	   *to = e + 1;

		if (*from == '-')
			from = ++to;
		else if (*from == '+')
			from++;
		while (*from == '0' && from[1] != '\0')
			from++;
		memmove(to, from, strlen(from) + 1);
	}
	pa_buf_puts(b, text);
}

static void
put_value(PaBuf *b, json_t *v)
{
	const char *key;
	json_t	   *child;
	size_t		i;
	int			first = 1;

	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			pa_buf_putc(b, '{');
			json_object_foreach(v, key, child)
			{
				if (!first)
					pa_buf_putc(b, ',');
				first = 0;
				put_string(b, key, strlen(key));
				pa_buf_putc(b, ':');
				put_value(b, child);
			}
			pa_buf_putc(b, '}');
			break;
		case JSON_ARRAY:
			pa_buf_putc(b, '[');
			json_array_foreach(v, i, child)
			{
				if (i > 0)
					pa_buf_putc(b, ',');
				put_value(b, child);
			}
			pa_buf_putc(b, ']');
			break;
		case JSON_STRING:
			put_string(b, json_string_value(v), json_string_length(v));
			break;
		case JSON_INTEGER:
			pa_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			break;
		case JSON_REAL:
			put_real(b, json_real_value(v));
			break;
		case JSON_TRUE:
			pa_buf_puts(b, "true");
			break;
		case JSON_FALSE:
			pa_buf_puts(b, "false");
			break;
		case JSON_NULL:
			pa_buf_puts(b, "null");
			break;
	}
}

char *
pa_json_dump(json_t *value)
{
	PaBuf		b = {0};

	if (value == NULL)
		return NULL;
	put_value(&b, value);
	if (b.oom)
	{
		free(b.data);
		return NULL;
	}
	return b.data;
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it
 * is not valid: overlong forms, surrogates and code points above U+10FFFF
 * are refused, as PostgreSQL's own check does (and jansson's). Shared with
 * model.c, which cleans provider text with it.
 */
size_t
pa_utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t		len,
				i;
	unsigned char lo = 0x80,
				hi = 0xBF;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
	{
		len = 3;
		if (s[0] == 0xE0)
			lo = 0xA0;
		else if (s[0] == 0xED)
			hi = 0x9F;
	}
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
	{
		len = 4;
		if (s[0] == 0xF0)
			lo = 0x90;
		else if (s[0] == 0xF4)
			hi = 0x8F;
	}
	else
		return 0;
	if (len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/*
 * The JSON string of n bytes at s, as json_stringn(s, n) makes it (NULL if
 * they are not valid UTF-8, or out of memory). jansson decodes every
 * character to check; here runs of ASCII are passed eight bytes at a time,
 * which is most of any text (the check was ~4% of a pa_invoke's
 * instructions for a 50-event transcript).
 */
json_t *
pa_json_text_n(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t		i = 0;

	if (s == NULL)
		return NULL;
	while (i < n)
	{
		uint64_t	x;
		size_t		len;

		if (i + 8 <= n)
		{
			memcpy(&x, u + i, 8);
			if ((x & HIGHS) == 0)
			{
				i += 8;
				continue;
			}
		}
		if ((len = pa_utf8_seq_len(u + i, n - i)) == 0)
			return NULL;
		i += len;
	}
	return json_stringn_nocheck(s, n);
}

/* pa_json_text_n of a NUL-terminated string: what json_string(s) makes. */
json_t *
pa_json_text(const char *s)
{
	return s ? pa_json_text_n(s, strlen(s)) : NULL;
}
