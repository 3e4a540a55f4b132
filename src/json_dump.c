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
