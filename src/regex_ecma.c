/*
 * regex_ecma.c — ECMA-262 ("u" flag) patterns to PostgreSQL ARE or POSIX
 * ERE.  See regex_ecma.h for what the translation promises.
 *
 * The translator is a recursive-descent parser of the ECMA grammar that
 * writes the target pattern as it goes.  Every character class (., \d,
 * \p{L}, [^a-z\s], ...) is evaluated to a set of code points and written
 * back as one bracket expression, because the two dialects disagree on
 * what the class shorthands mean and on escapes inside brackets, and
 * because set arithmetic is the only way to express ECMA's [^\D\s]-style
 * classes in a bracket expression at all.
 *
 * Subjects are valid UTF-8 without NUL, so the universe of characters is
 * U+0001..U+10FFFF minus the surrogates; sets are kept inside it.
 *
 * The POSIX target works on bytes (run it under the C locale): glibc
 * cannot take ranges of multibyte characters in a bracket (C.UTF-8 reports
 * "Invalid collation character") and other locales order ranges by
 * collation, not code point.  So non-ASCII characters and sets are written
 * as alternations of UTF-8 byte sequences, e.g. [α-ω] becomes
 * (\xCE[\xB1-\xBF]|\xCF[\x80-\x89]).  POSIX has no non-capturing
 * group, so such groups (and every "(?:") are capturing there and back
 * references are renumbered.
 */
#include "regex_ecma.h"
#include "regex_ecma_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARE_MAX_BOUND		255		/* PostgreSQL DUPMAX */
#define ERE_MAX_BOUND		32767	/* glibc RE_DUP_MAX */
#define MAX_NESTING			200		/* parser recursion guard */

typedef struct CapInfo
{
	int			out_num;		/* group number in the output, -1: none */
	int			closed;			/* its ")" has been translated */
	const char *name;			/* named group: points into the pattern */
	size_t		name_len;
} CapInfo;

typedef struct RxState
{
	const char *pat;
	size_t		len;
	size_t		pos;
	PaRegexTarget target;
	PaReBuf		out;
	char	   *err;
	CapInfo    *caps;			/* 1-based, ECMA capture numbers */
	int			ncaps;			/* captures opened so far */
	int			out_groups;		/* groups numbered so far in the output */
	int			depth;
	int			look_depth;
} RxState;

static void rx_error(RxState *st, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* Record the first error only; it names the offset in the ECMA pattern. */
static void
rx_error(RxState *st, const char *fmt,...)
{
	char		msg[256];
	va_list		ap;
	size_t		n;

	if (st->err)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg) + 40;
	st->err = malloc(n);
	if (st->err)
		snprintf(st->err, n, "%s at offset %zu", msg, st->pos);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode one UTF-8 character of the pattern; -1 on malformed input. */
static int
decode_utf8(RxState *st, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *) st->pat + st->pos;
	size_t		avail = st->len - st->pos;
	int			n,
				i;
	uint32_t	c;

	if (s[0] < 0x80)
	{
		*cp = s[0];
		st->pos++;
		return 0;
	}
	if ((s[0] & 0xE0) == 0xC0)
		n = 2, c = s[0] & 0x1F;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 3, c = s[0] & 0x0F;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 4, c = s[0] & 0x07;
	else
		n = 0, c = 0;
	if (n == 0 || avail < (size_t) n)
	{
		rx_error(st, "invalid UTF-8 in pattern");
		return -1;
	}
	for (i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
		{
			rx_error(st, "invalid UTF-8 in pattern");
			return -1;
		}
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c > PA_RE_UNI_MAX || (c >= 0xD800 && c <= 0xDFFF) ||
		(n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000))
	{
		rx_error(st, "invalid UTF-8 in pattern");
		return -1;
	}
	*cp = c;
	st->pos += n;
	return 0;
}

/* \p{...}: st->pos is just after the "p" or "P". */
static int
parse_property(RxState *st, PaReSet *s)
{
	const char *name,
			   *close;
	size_t		n;
	char		why[200];

	if (st->pos >= st->len || st->pat[st->pos] != '{')
	{
		rx_error(st, "\\p and \\P need a {property} name");
		return -1;
	}
	name = st->pat + st->pos + 1;
	close = memchr(name, '}', st->len - st->pos - 1);
	if (close == NULL)
	{
		rx_error(st, "unterminated \\p{...}");
		return -1;
	}
	n = (size_t) (close - name);
	if (pa_re_set_add_property(s, name, n, why, sizeof(why)) < 0)
	{
		rx_error(st, "%s", why);
		return -1;
	}
	st->pos += n + 2;
	return 0;
}

/* Read exactly "ndigits" hex digits (or, if ndigits is 0, a {...} form). */
static int
parse_hex(RxState *st, int ndigits, uint32_t *cp)
{
	uint32_t	v = 0;
	int			i,
				d;

	if (ndigits == 0)
	{
		st->pos++;				/* "{" */
		for (i = 0; st->pos < st->len && st->pat[st->pos] != '}'; i++, st->pos++)
		{
			d = hexval(st->pat[st->pos]);
			if (d < 0 || (v = v * 16 + (uint32_t) d) > PA_RE_UNI_MAX)
				break;
		}
		if (i == 0 || st->pos >= st->len || st->pat[st->pos] != '}')
		{
			rx_error(st, "invalid \\u{...} escape");
			return -1;
		}
		st->pos++;
		*cp = v;
		return 0;
	}
	for (i = 0; i < ndigits; i++)
	{
		d = (st->pos + (size_t) i < st->len) ? hexval(st->pat[st->pos + i]) : -1;
		if (d < 0)
		{
			rx_error(st, "invalid hexadecimal escape");
			return -1;
		}
		v = v * 16 + (uint32_t) d;
	}
	st->pos += (size_t) ndigits;
	*cp = v;
	return 0;
}

/*
 * An escape after "\" (st->pos is on the character after the backslash),
 * other than back references and \b \B outside classes, which the caller
 * handles.  Yields either a code point or a set (*is_set).
 */
static int
parse_escape(RxState *st, int in_class, uint32_t *cp, PaReSet *set, int *is_set)
{
	char		c;

	*is_set = 0;
	if (st->pos >= st->len)
	{
		rx_error(st, "\\ at end of pattern");
		return -1;
	}
	c = st->pat[st->pos++];
	switch (c)
	{
		case 'd':
		case 'D':
		case 'w':
		case 'W':
		case 's':
		case 'S':
		case 'p':
		case 'P':
			{
				PaReSet		tmp = {0};
				PaReSet		comp;

				if (c == 'p' || c == 'P')
				{
					if (parse_property(st, &tmp) < 0)
					{
						free(tmp.r);
						return -1;
					}
				}
				else
					pa_re_set_add_class(&tmp, (char) (c | 0x20));
				pa_re_set_normalize(&tmp);
				/* the upper-case forms are the complements */
				if (c >= 'A' && c <= 'Z')
				{
					pa_re_set_complement(&tmp, &comp);
					pa_re_set_add_set(set, &comp);
					free(comp.r);
				}
				else
					pa_re_set_add_set(set, &tmp);
				free(tmp.r);
				*is_set = 1;
				return 0;
			}
		case 't':
			*cp = 9;
			return 0;
		case 'n':
			*cp = 10;
			return 0;
		case 'v':
			*cp = 11;
			return 0;
		case 'f':
			*cp = 12;
			return 0;
		case 'r':
			*cp = 13;
			return 0;
		case 'c':
			if (st->pos < st->len &&
				((st->pat[st->pos] >= 'A' && st->pat[st->pos] <= 'Z') ||
				 (st->pat[st->pos] >= 'a' && st->pat[st->pos] <= 'z')))
			{
				*cp = (uint32_t) (st->pat[st->pos++] % 32);
				return 0;
			}
			rx_error(st, "invalid \\c escape");
			return -1;
		case '0':
			if (st->pos < st->len && st->pat[st->pos] >= '0' && st->pat[st->pos] <= '9')
			{
				rx_error(st, "octal escapes are not allowed");
				return -1;
			}
			*cp = 0;
			return 0;
		case 'x':
			return parse_hex(st, 2, cp);
		case 'u':
			if (st->pos < st->len && st->pat[st->pos] == '{')
				return parse_hex(st, 0, cp);
			if (parse_hex(st, 4, cp) < 0)
				return -1;
			/* a surrogate pair written as two \u escapes is one character */
			if (*cp >= 0xD800 && *cp <= 0xDBFF && st->pos + 6 <= st->len &&
				st->pat[st->pos] == '\\' && st->pat[st->pos + 1] == 'u')
			{
				size_t		save = st->pos;
				uint32_t	lo;

				st->pos += 2;
				if (parse_hex(st, 4, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF)
					*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
				else
				{
					free(st->err);
					st->err = NULL;
					st->pos = save;
				}
			}
			return 0;
		case 'b':
			if (in_class)
			{
				*cp = 8;
				return 0;
			}
			break;
		case '-':
			if (in_class)
			{
				*cp = '-';
				return 0;
			}
			break;
		default:
			if (c != '\0' && strchr("^$\\.*+?()[]{}|/", c))
			{
				*cp = (uint32_t) (unsigned char) c;
				return 0;
			}
			break;
	}
	st->pos--;
	if ((unsigned char) c >= 0x80)
		rx_error(st, "invalid escape");
	else
		rx_error(st, "invalid escape \\%c", c);
	return -1;
}

/* ---------- emitting ---------- */

static const char *const SPECIAL = "\\^$.|?*+()[]{}";

/*
 * A pattern that never matches.  ARE: only NUL, which no subject holds;
 * POSIX (bytes): 0xFF, which valid UTF-8 never contains.
 */
static void
emit_never(RxState *st)
{
	if (st->target == PA_RE_TARGET_ARE)
		pa_re_puts(&st->out, "[^\\u0001-\\U0010FFFF]");
	else
		pa_re_puts(&st->out, "[\xFF]");
}

/* POSIX: a group we add ourselves still takes a number there. */
static void
open_group(RxState *st)
{
	pa_re_putc(&st->out, '(');
	st->out_groups++;
}

static void
put_ascii_literal(PaReBuf *b, char c)
{
	/* both targets take a backslash before punctuation as a literal */
	if (strchr(SPECIAL, c))
		pa_re_putc(b, '\\');
	pa_re_putc(b, c);
}

/*
 * One character outside brackets.  "quantified": a quantifier follows, so
 * a multibyte character must be grouped on the byte-oriented POSIX target.
 */
static void
emit_literal(RxState *st, uint32_t cp, int quantified)
{
	if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
		emit_never(st);
	else if (cp < 0x80)
		put_ascii_literal(&st->out, (char) cp);
	else if (cp >= 0x80 && quantified && st->target == PA_RE_TARGET_POSIX_ERE)
	{
		open_group(st);
		pa_re_put_utf8(&st->out, cp);
		pa_re_putc(&st->out, ')');
	}
	else
		pa_re_put_utf8(&st->out, cp);
}

static void
are_endpoint(RxState *st, uint32_t cp)
{
	char		buf[16];

	if ((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') ||
		(cp >= 'a' && cp <= 'z'))
		pa_re_putc(&st->out, (char) cp);
	else
	{
		if (cp <= 0xFFFF)
			snprintf(buf, sizeof(buf), "\\u%04X", (unsigned) cp);
		else
			snprintf(buf, sizeof(buf), "\\U%08X", (unsigned) cp);
		pa_re_puts(&st->out, buf);
	}
}

/*
 * The ASCII part of a set as a POSIX bracket expression.  POSIX brackets
 * have no escapes: "]" must come first, "-" last, "^" anywhere but first
 * and "[" never before ".:=".  So those four are split out of the ranges
 * and placed where they are literal.
 */
static void
emit_posix_bracket(PaReBuf *out, const PaReSet *s)
{
	static const uint32_t specials[4] = {'-', '[', ']', '^'};
	int			has[4] = {0, 0, 0, 0};
	PaReBuf		body = {0};
	int			i,
				k;

	for (i = 0; i < s->n && s->r[i].lo < 0x80; i++)
	{
		uint32_t	lo = s->r[i].lo;
		uint32_t	hi = s->r[i].hi < 0x80 ? s->r[i].hi : 0x7F;

		for (k = 0; k < 4; k++)
		{
			if (specials[k] >= lo && specials[k] <= hi)
			{
				has[k] = 1;
				if (specials[k] > lo)
				{
					pa_re_putc(&body, (char) lo);
					if (specials[k] - 1 > lo)
					{
						pa_re_putc(&body, '-');
						pa_re_putc(&body, (char) (specials[k] - 1));
					}
				}
				lo = specials[k] + 1;
			}
		}
		if (lo <= hi)
		{
			pa_re_putc(&body, (char) lo);
			if (hi > lo)
			{
				pa_re_putc(&body, '-');
				pa_re_putc(&body, (char) hi);
			}
		}
	}
	pa_re_putc(out, '[');
	if (has[2])
		pa_re_putc(out, ']');
	if (body.len)
		pa_re_putn(out, body.data, body.len);
	if (has[1])
		pa_re_putc(out, '[');
	if (has[3])
	{
		/* "^" may not lead the bracket: let "-" lead instead */
		if (!has[2] && body.len == 0 && !has[1] && has[0])
		{
			pa_re_puts(out, "-^");
			has[0] = 0;
		}
		else
			pa_re_putc(out, '^');
	}
	if (has[0])
		pa_re_putc(out, '-');
	pa_re_putc(out, ']');
	out->oom |= body.oom;
	free(body.data);
}

/*
 * POSIX (bytes): the ASCII part as one bracket, every other character as
 * UTF-8 byte sequences, all alternatives of one group.
 */
static void
emit_posix_set(RxState *st, const PaReSet *s, int quantified)
{
	PaReBuf		alts = {0};
	int			nalts = 0,
				ascii_chars = 0,
				i;

	for (i = 0; i < s->n && s->r[i].lo < 0x80; i++)
		ascii_chars += (int) ((s->r[i].hi < 0x80 ? s->r[i].hi : 0x7F) - s->r[i].lo + 1);
	if (ascii_chars == 1)
	{
		put_ascii_literal(&alts, (char) s->r[0].lo);
		nalts = 1;
	}
	else if (ascii_chars > 1)
	{
		emit_posix_bracket(&alts, s);
		nalts = 1;
	}
	pa_re_set_utf8_alternatives(s, &alts, &nalts);
	if (nalts > 1 || (quantified && ascii_chars == 0))
	{
		open_group(st);
		pa_re_putn(&st->out, alts.data, alts.len);
		pa_re_putc(&st->out, ')');
	}
	else
		pa_re_putn(&st->out, alts.data, alts.len);
	st->out.oom |= alts.oom;
	free(alts.data);
}

/* Write a normalized set as a single atom. */
static void
emit_set(RxState *st, const PaReSet *s, int quantified)
{
	PaReSet		comp;
	const PaReSet *use;
	int			negated,
				i;

	if (s->oom)
	{
		st->out.oom = 1;
		return;
	}
	if (s->n == 0)
	{
		emit_never(st);
		return;
	}
	if (s->n == 1 && s->r[0].lo == s->r[0].hi)
	{
		emit_literal(st, s->r[0].lo, quantified);
		return;
	}
	if (st->target == PA_RE_TARGET_POSIX_ERE)
	{
		emit_posix_set(st, s, quantified);
		return;
	}
	pa_re_set_complement(s, &comp);
	if (comp.n == 0)
	{
		/* every character: ARE's "." has no exceptions without REG_NEWLINE */
		pa_re_putc(&st->out, '.');
		free(comp.r);
		return;
	}
	negated = comp.n < s->n;
	use = negated ? &comp : s;
	pa_re_puts(&st->out, negated ? "[^" : "[");
	for (i = 0; i < use->n; i++)
	{
		are_endpoint(st, use->r[i].lo);
		if (use->r[i].hi > use->r[i].lo)
		{
			if (use->r[i].hi > use->r[i].lo + 1)
				pa_re_putc(&st->out, '-');
			are_endpoint(st, use->r[i].hi);
		}
	}
	pa_re_putc(&st->out, ']');
	st->out.oom |= comp.oom;
	free(comp.r);
}

/* ---------- the grammar ---------- */

static int	parse_disjunction(RxState *st);

/* Is there a quantifier at st->pos?  Fills its bounds (max -1: none). */
static int
at_quantifier(RxState *st, size_t *endpos, long *min, long *max)
{
	size_t		p = st->pos;
	long		a = 0,
				b;
	int			nd = 0;

	if (p >= st->len)
		return 0;
	if (st->pat[p] == '*' || st->pat[p] == '+' || st->pat[p] == '?')
	{
		*min = st->pat[p] == '+' ? 1 : 0;
		*max = st->pat[p] == '?' ? 1 : -1;
		*endpos = p + 1;
		return 1;
	}
	if (st->pat[p] != '{')
		return 0;
	for (p++; p < st->len && st->pat[p] >= '0' && st->pat[p] <= '9'; p++, nd++)
		if (a <= 1000000)
			a = a * 10 + (st->pat[p] - '0');
	if (nd == 0 || p >= st->len)
		return 0;
	b = a;
	if (st->pat[p] == ',')
	{
		b = -1;
		nd = 0;
		for (p++; p < st->len && st->pat[p] >= '0' && st->pat[p] <= '9'; p++, nd++)
		{
			if (nd == 0)
				b = 0;
			if (b <= 1000000)
				b = b * 10 + (st->pat[p] - '0');
		}
	}
	if (p >= st->len || st->pat[p] != '}')
		return 0;
	*min = a;
	*max = b;
	*endpos = p + 1;
	return 1;
}

static int
quantifier_follows(RxState *st)
{
	size_t		endpos;
	long		min,
				max;

	return at_quantifier(st, &endpos, &min, &max);
}

/* An optional quantifier after an atom; a lazy "?" is dropped. */
static int
parse_quantifier(RxState *st, int quantifiable)
{
	size_t		endpos;
	long		min,
				max,
				limit;
	char		buf[64];

	if (!at_quantifier(st, &endpos, &min, &max))
		return 0;
	if (!quantifiable)
	{
		rx_error(st, "nothing to repeat");
		return -1;
	}
	limit = st->target == PA_RE_TARGET_ARE ? ARE_MAX_BOUND : ERE_MAX_BOUND;
	if (st->pat[st->pos] == '{')
	{
		if (max >= 0 && max < min)
		{
			rx_error(st, "numbers out of order in {} quantifier");
			return -1;
		}
		if (min > limit || max > limit)
		{
			rx_error(st, "repetition count above %ld is not supported", limit);
			return -1;
		}
		if (max < 0)
			snprintf(buf, sizeof(buf), "{%ld,}", min);
		else if (max == min)
			snprintf(buf, sizeof(buf), "{%ld}", min);
		else
			snprintf(buf, sizeof(buf), "{%ld,%ld}", min, max);
		pa_re_puts(&st->out, buf);
	}
	else
		pa_re_putc(&st->out, st->pat[st->pos]);
	st->pos = endpos;
	if (st->pos < st->len && st->pat[st->pos] == '?')
		st->pos++;
	if (quantifier_follows(st))
	{
		rx_error(st, "nothing to repeat");
		return -1;
	}
	return 0;
}

/* One class atom: a character, or a class escape added to "set". */
static int
parse_class_atom(RxState *st, PaReSet *set, uint32_t *cp, int *is_set)
{
	if (st->pat[st->pos] == '\\')
	{
		st->pos++;
		return parse_escape(st, 1, cp, set, is_set);
	}
	*is_set = 0;
	return decode_utf8(st, cp);
}

static int
parse_class(RxState *st)
{
	PaReSet		set = {0};
	int			negated = 0;
	int			rc = -1;

	st->pos++;					/* "[" */
	if (st->pos < st->len && st->pat[st->pos] == '^')
	{
		negated = 1;
		st->pos++;
	}
	for (;;)
	{
		uint32_t	a,
					b;
		int			a_set,
					b_set;

		if (st->pos >= st->len)
		{
			rx_error(st, "unterminated character class");
			goto done;
		}
		if (st->pat[st->pos] == ']')
		{
			st->pos++;
			break;
		}
		if (parse_class_atom(st, &set, &a, &a_set) < 0)
			goto done;
		/* "-" before "]" is a literal, handled by the next round */
		if (st->pos + 1 < st->len && st->pat[st->pos] == '-' &&
			st->pat[st->pos + 1] != ']')
		{
			st->pos++;
			if (parse_class_atom(st, &set, &b, &b_set) < 0)
				goto done;
			if (a_set || b_set)
			{
				rx_error(st, "character class escape cannot bound a range");
				goto done;
			}
			if (a > b)
			{
				rx_error(st, "range out of order in character class");
				goto done;
			}
			pa_re_set_add(&set, a, b);
		}
		else if (!a_set)
			pa_re_set_add(&set, a, a);
	}
	pa_re_set_normalize(&set);
	if (negated)
	{
		PaReSet		comp;

		pa_re_set_complement(&set, &comp);
		free(set.r);
		set = comp;
	}
	emit_set(st, &set, quantifier_follows(st));
	rc = 0;
done:
	free(set.r);
	return rc;
}

static int
emit_backref(RxState *st, int n)
{
	char		buf[32];

	if (n < 1 || n > st->ncaps || !st->caps[n].closed)
	{
		rx_error(st, "back reference to a group not closed before it is not supported");
		return -1;
	}
	if (st->caps[n].out_num < 0 || st->look_depth > 0)
	{
		rx_error(st, "back references into or inside lookaround are not supported");
		return -1;
	}
	if (st->target == PA_RE_TARGET_POSIX_ERE)
	{
		if (st->caps[n].out_num > 9)
		{
			rx_error(st, "back reference beyond the ninth group is not supported");
			return -1;
		}
		snprintf(buf, sizeof(buf), "\\%d", st->caps[n].out_num);
	}
	else						/* grouped, so that a following digit stays a digit */
		snprintf(buf, sizeof(buf), "(?:\\%d)", st->caps[n].out_num);
	pa_re_puts(&st->out, buf);
	return 0;
}

/* A capturing group opens: number it in the output. */
static int
open_capture(RxState *st, const char *name, size_t name_len)
{
	CapInfo    *c = &st->caps[++st->ncaps];
	int			k;

	for (k = 1; name && k < st->ncaps; k++)
		if (st->caps[k].name && st->caps[k].name_len == name_len &&
			memcmp(st->caps[k].name, name, name_len) == 0)
		{
			rx_error(st, "duplicate group name");
			return -1;
		}
	c->name = name;
	c->name_len = name_len;
	/* PostgreSQL does not number groups inside lookaround */
	if (st->target == PA_RE_TARGET_ARE && st->look_depth > 0)
		c->out_num = -1;
	else
		c->out_num = ++st->out_groups;
	pa_re_putc(&st->out, '(');
	return st->ncaps;
}

static int
parse_group(RxState *st)
{
	const char *p = st->pat + st->pos;
	size_t		rest = st->len - st->pos;
	int			look = 0,
				cap = 0;

	if (++st->depth > MAX_NESTING)
	{
		rx_error(st, "groups nested too deeply");
		return -1;
	}
	if (rest >= 3 && p[1] == '?' && (p[2] == '=' || p[2] == '!'))
		look = 3;
	else if (rest >= 4 && p[1] == '?' && p[2] == '<' && (p[3] == '=' || p[3] == '!'))
		look = 4;
	if (look)
	{
		if (st->target == PA_RE_TARGET_POSIX_ERE)
		{
			rx_error(st, "lookahead and lookbehind are not supported by POSIX regular expressions");
			return -1;
		}
		pa_re_putn(&st->out, p, (size_t) look);
		st->pos += (size_t) look;
		st->look_depth++;
	}
	else if (rest >= 3 && p[1] == '?' && p[2] == ':')
	{
		if (st->target == PA_RE_TARGET_ARE)
			pa_re_puts(&st->out, "(?:");
		else
			open_group(st);
		st->pos += 3;
	}
	else if (rest >= 3 && p[1] == '?' && p[2] == '<')
	{
		const char *gt = memchr(p + 3, '>', rest - 3);

		if (gt == NULL || gt == p + 3)
		{
			rx_error(st, "invalid group name");
			return -1;
		}
		if ((cap = open_capture(st, p + 3, (size_t) (gt - p - 3))) < 0)
			return -1;
		st->pos += (size_t) (gt - p) + 1;
	}
	else if (rest >= 2 && p[1] == '?')
	{
		rx_error(st, "invalid group");
		return -1;
	}
	else
	{
		if ((cap = open_capture(st, NULL, 0)) < 0)
			return -1;
		st->pos++;
	}
	if (parse_disjunction(st) < 0)
		return -1;
	if (st->pos >= st->len || st->pat[st->pos] != ')')
	{
		rx_error(st, "missing )");
		return -1;
	}
	st->pos++;
	pa_re_putc(&st->out, ')');
	if (cap > 0)
		st->caps[cap].closed = 1;
	if (look)
		st->look_depth--;
	st->depth--;
	/* ECMA (u) forbids quantified lookaround */
	return parse_quantifier(st, look == 0);
}

/* \1 or \k<name>; st->pos is on the backslash. */
static int
parse_backref(RxState *st)
{
	int			n = 0;

	if (st->pat[st->pos + 1] == 'k')
	{
		const char *name = st->pat + st->pos + 2;
		const char *gt = NULL;

		if (st->pos + 2 < st->len && *name == '<')
			gt = memchr(name, '>', st->len - st->pos - 2);
		if (gt == NULL)
		{
			rx_error(st, "invalid named reference");
			return -1;
		}
		name++;
		for (n = 1; n <= st->ncaps; n++)
			if (st->caps[n].name && st->caps[n].name_len == (size_t) (gt - name) &&
				memcmp(st->caps[n].name, name, st->caps[n].name_len) == 0)
				break;
		st->pos = (size_t) (gt - st->pat) + 1;
	}
	else
	{
		st->pos++;
		while (st->pos < st->len && st->pat[st->pos] >= '0' &&
			   st->pat[st->pos] <= '9' && n < 100000)
			n = n * 10 + (st->pat[st->pos++] - '0');
	}
	if (emit_backref(st, n) < 0)
		return -1;
	return parse_quantifier(st, 1);
}

static int
parse_term(RxState *st)
{
	char		c = st->pat[st->pos];
	char		e = st->pos + 1 < st->len ? st->pat[st->pos + 1] : '\0';
	uint32_t	cp;
	PaReSet		set = {0};
	int			is_set;

	switch (c)
	{
		case '^':
		case '$':
			pa_re_putc(&st->out, c);
			st->pos++;
			return parse_quantifier(st, 0);
		case '(':
			return parse_group(st);
		case '[':
			if (parse_class(st) < 0)
				return -1;
			return parse_quantifier(st, 1);
		case '.':
			st->pos++;
			/* everything but ECMA's line terminators */
			pa_re_set_add(&set, 0x0A, 0x0A);
			pa_re_set_add(&set, 0x0D, 0x0D);
			pa_re_set_add(&set, 0x2028, 0x2029);
			pa_re_set_normalize(&set);
			{
				PaReSet		dot;

				pa_re_set_complement(&set, &dot);
				emit_set(st, &dot, quantifier_follows(st));
				free(dot.r);
			}
			free(set.r);
			return parse_quantifier(st, 1);
		case '*':
		case '+':
		case '?':
			rx_error(st, "nothing to repeat");
			return -1;
		case '{':
			if (quantifier_follows(st))
			{
				rx_error(st, "nothing to repeat");
				return -1;
			}
			/* not a quantifier: a literal brace, as browsers take it */
			st->pos++;
			emit_literal(st, '{', 0);
			return parse_quantifier(st, 1);
		case '\\':
			if (e == 'b' || e == 'B')
			{
				st->pos += 2;
				/* ARE's \b is backspace and \B a backslash */
				if (st->target == PA_RE_TARGET_ARE)
					pa_re_puts(&st->out, e == 'b' ? "\\y" : "\\Y");
				else
					pa_re_puts(&st->out, e == 'b' ? "\\b" : "\\B");
				return parse_quantifier(st, 0);
			}
			if ((e >= '1' && e <= '9') || e == 'k')
				return parse_backref(st);
			st->pos++;
			if (parse_escape(st, 0, &cp, &set, &is_set) < 0)
			{
				free(set.r);
				return -1;
			}
			if (is_set)
			{
				pa_re_set_normalize(&set);
				emit_set(st, &set, quantifier_follows(st));
			}
			else
				emit_literal(st, cp, quantifier_follows(st));
			free(set.r);
			return parse_quantifier(st, 1);
		default:
			if (decode_utf8(st, &cp) < 0)
				return -1;
			emit_literal(st, cp, quantifier_follows(st));
			return parse_quantifier(st, 1);
	}
}

static int
parse_disjunction(RxState *st)
{
	while (st->pos < st->len && st->pat[st->pos] != ')')
	{
		if (st->pat[st->pos] == '|')
		{
			pa_re_putc(&st->out, '|');
			st->pos++;
			continue;
		}
		if (parse_term(st) < 0)
			return -1;
	}
	return 0;
}

char *
pa_regex_translate(const char *pattern, PaRegexTarget target, char **errmsg)
{
	RxState		st;
	size_t		i,
				nparen = 0;

	*errmsg = NULL;
	memset(&st, 0, sizeof(st));
	st.pat = pattern;
	st.len = strlen(pattern);
	st.target = target;
	for (i = 0; i < st.len; i++)
		if (pattern[i] == '(')
			nparen++;
	st.caps = calloc(nparen + 1, sizeof(CapInfo));
	if (st.caps == NULL)
		st.out.oom = 1;
	else
	{
		/* an empty pattern translates to "", which matches everywhere */
		pa_re_puts(&st.out, "");
		if (parse_disjunction(&st) == 0 && st.pos < st.len)
			rx_error(&st, "unmatched )");
	}
	free(st.caps);
	if (st.err == NULL && !st.out.oom)
		return st.out.data;
	free(st.out.data);
	*errmsg = st.err ? st.err : strdup("out of memory");
	return NULL;
}
