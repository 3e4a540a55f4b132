/*
 * pa_buf.c — a growable string for the plain-C cores (validator, regex
 * translator, renderers). No server dependency; malloc-based.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pa_buf.h"

void
pa_buf_putn(PaBuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		ncap = b->cap ? b->cap : 64;
		char	   *nd;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		nd = realloc(b->data, ncap);
		if (nd == NULL)
		{
			b->oom = 1;
			return;
		}
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
pa_buf_puts(PaBuf *b, const char *s)
{
	pa_buf_putn(b, s, strlen(s));
}

void
pa_buf_vprintf(PaBuf *b, const char *fmt, va_list ap)
{
	char		small[256];
	char	   *big;
	va_list		ap2;
	int			n;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n >= 0 && (size_t) n < sizeof(small))
		pa_buf_putn(b, small, (size_t) n);
	else if (n >= 0)
	{
		/* never cut: a cut could split a UTF-8 character */
		if ((big = malloc((size_t) n + 1)) == NULL)
			b->oom = 1;
		else
		{
			vsnprintf(big, (size_t) n + 1, fmt, ap2);
			pa_buf_putn(b, big, (size_t) n);
			free(big);
		}
	}
	va_end(ap2);
}

void
pa_buf_printf(PaBuf *b, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	pa_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
pa_buf_putc(PaBuf *b, char c)
{
	pa_buf_putn(b, &c, 1);
}
