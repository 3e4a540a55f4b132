/*
 * pa_buf.h — a growable string; "oom" latches the first allocation failure,
 * so callers check once at the end instead of after every append.
 */
#ifndef PA_BUF_H
#define PA_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct PaBuf
{
	char	   *data;			/* NUL-terminated; malloc'd; caller frees */
	size_t		len;
	size_t		cap;
	int			oom;
} PaBuf;

extern void pa_buf_putn(PaBuf *b, const char *s, size_t n);
extern void pa_buf_puts(PaBuf *b, const char *s);
extern void pa_buf_putc(PaBuf *b, char c);
extern void pa_buf_vprintf(PaBuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
extern void pa_buf_printf(PaBuf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));

#endif							/* PA_BUF_H */
