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
#define ARE_WORD			"[0-9A-Za-z_]"	/* ECMA \w */

typedef struct CapInfo
{
	int			out_num;		/* group number in the output, -1: none */
	int			closed;			/* its ")" has been translated */
	int			group;			/* index into RxState.groups */
	const char *name;			/* named group: points into the pattern */
	size_t		name_len;
} CapInfo;

/* Every group of the pattern (0: the pattern itself), for back references */
typedef struct GroupInfo
{
	int			parent;
	int			alt_at_open;	/* the parent's alternative it sits in */
	int			nalts;			/* "|" seen directly inside it so far */
	int			quantified;
	int			open;
} GroupInfo;

typedef struct RxState
{
	const char *pat;
	size_t		len;
	size_t		pos;
	PaRegexTarget target;
	PaBuf		out;
	char	   *err;
	CapInfo    *caps;			/* 1-based, ECMA capture numbers */
	int			ncaps;			/* captures opened so far */
	GroupInfo  *groups;
	int			ngroups;
	int			cur_group;
	int			out_groups;		/* groups numbered so far in the output */
	int			depth;
	int			look_depth;
} RxState;

/*
 * Drop an incomplete UTF-8 sequence at the end of "s": messages quote the
 * pattern and may have been cut, and a caller may put them into JSON.
 */
static void
utf8_trim(char *s)
{
	size_t		len = strlen(s),
				k = len,
				need;
	unsigned char lead;

	while (k > 0 && ((unsigned char) s[k - 1] & 0xC0) == 0x80)
		k--;
	if (k == 0)
		return;
	lead = (unsigned char) s[k - 1];
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	if (len - (k - 1) < need)
		s[k - 1] = '\0';
}

static void rx_error(RxState *st, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* Record the first error only; it names the offset in the ECMA pattern. */
static void
rx_error(RxState *st, const char *fmt,...)
{
	char		msg[512];
	va_list		ap;
	size_t		n;

	if (st->err)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_trim(msg);
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

/* ---------- emitting (regex_ecma_charset.c does the writing) ---------- */

/* A group we add ourselves still takes a number in POSIX output. */
static void
open_group(RxState *st)
{
	pa_buf_putc(&st->out, '(');
	st->out_groups++;
}

static void
emit_literal(RxState *st, uint32_t cp, int quantified)
{
	st->out_groups += pa_re_emit_literal(&st->out, st->target, cp, quantified);
}

static void
emit_set(RxState *st, const PaReSet *s, int quantified)
{
	st->out_groups += pa_re_emit_set(&st->out, st->target, s, quantified);
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
		pa_buf_puts(&st->out, buf);
	}
	else
		pa_buf_putc(&st->out, st->pat[st->pos]);
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

/*
 * ECMA lets a back reference to a group that did not take part in the
 * match (other alternative, optional group) match the empty string; POSIX
 * and PostgreSQL make it fail.  Accept only references to groups that
 * surely took part: not quantified, and every enclosing group up to one
 * that also encloses the reference is unquantified and without "|" (and
 * that one is in the same alternative as the reference).
 */
static int
group_participates(RxState *st, int g)
{
	for (;;)
	{
		const GroupInfo *x = &st->groups[g];
		const GroupInfo *p = &st->groups[x->parent];

		if (x->quantified)
			return 0;
		if (p->open)
			return x->alt_at_open == p->nalts;
		if (p->nalts > 0)
			return 0;
		g = x->parent;
	}
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
	if (!group_participates(st, st->caps[n].group))
	{
		rx_error(st, "back reference to a group that may not take part in the match is not supported");
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
	pa_buf_puts(&st->out, buf);
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
	c->group = st->cur_group;
	/* PostgreSQL does not number groups inside lookaround */
	if (st->target == PA_RE_TARGET_ARE && st->look_depth > 0)
		c->out_num = -1;
	else
		c->out_num = ++st->out_groups;
	pa_buf_putc(&st->out, '(');
	return st->ncaps;
}

static int
parse_group(RxState *st)
{
	const char *p = st->pat + st->pos;
	size_t		rest = st->len - st->pos;
	int			look = 0,
				cap = 0,
				id;
	GroupInfo  *gi;

	if (++st->depth > MAX_NESTING)
	{
		rx_error(st, "groups nested too deeply");
		return -1;
	}
	gi = &st->groups[id = st->ngroups++];
	gi->parent = st->cur_group;
	gi->alt_at_open = st->groups[st->cur_group].nalts;
	gi->open = 1;
	st->cur_group = id;
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
		pa_buf_putn(&st->out, p, (size_t) look);
		st->pos += (size_t) look;
		st->look_depth++;
	}
	else if (rest >= 3 && p[1] == '?' && p[2] == ':')
	{
		if (st->target == PA_RE_TARGET_ARE)
			pa_buf_puts(&st->out, "(?:");
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
	pa_buf_putc(&st->out, ')');
	if (cap > 0)
		st->caps[cap].closed = 1;
	if (look)
		st->look_depth--;
	st->depth--;
	st->groups[id].open = 0;
	st->groups[id].quantified = quantifier_follows(st);
	st->cur_group = st->groups[id].parent;
	/* ECMA (u) forbids quantified lookaround */
	return parse_quantifier(st, look == 0);
}

/* \1 or \k<name>; st->pos is on the backslash. */
static int
parse_backref(RxState *st)
{
	int			n = 0;
	size_t		start = st->pos,
				end;

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
	/* errors point at the backslash */
	end = st->pos;
	st->pos = start;
	if (emit_backref(st, n) < 0)
		return -1;
	st->pos = end;
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
			pa_buf_putc(&st->out, c);
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

				/*
				 * ECMA's word characters are [0-9A-Za-z_]; ARE's \y and \Y
				 * follow the collation, so spell the boundary out with
				 * lookaround.  glibc's \b and \B on bytes in the C locale
				 * already mean ASCII word characters.
				 */
				if (st->target == PA_RE_TARGET_ARE)
					pa_buf_puts(&st->out, e == 'b' ?
							   "(?:(?<=" ARE_WORD ")(?!" ARE_WORD ")|(?<!" ARE_WORD ")(?=" ARE_WORD "))" :
							   "(?:(?<=" ARE_WORD ")(?=" ARE_WORD ")|(?<!" ARE_WORD ")(?!" ARE_WORD "))");
				else
					pa_buf_puts(&st->out, e == 'b' ? "\\b" : "\\B");
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
			st->groups[st->cur_group].nalts++;
			pa_buf_putc(&st->out, '|');
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
	st.groups = calloc(nparen + 1, sizeof(GroupInfo));
	st.ngroups = 1;				/* group 0, the whole pattern, is open */
	if (st.groups)
		st.groups[0].open = 1;
	if (st.caps == NULL || st.groups == NULL)
		st.out.oom = 1;
	else
	{
		/* an empty pattern translates to "", which matches everywhere */
		pa_buf_puts(&st.out, "");
		if (parse_disjunction(&st) == 0 && st.pos < st.len)
			rx_error(&st, "unmatched )");
	}
	free(st.caps);
	free(st.groups);
	if (st.err == NULL && !st.out.oom)
		return st.out.data;
	free(st.out.data);
	*errmsg = st.err ? st.err : strdup("out of memory");
	return NULL;
}
