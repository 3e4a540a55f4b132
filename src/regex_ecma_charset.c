/*
 * regex_ecma_charset.c — code point sets for the ECMA-262 translator:
 * set arithmetic, ECMA's class escapes, Unicode properties, and writing
 * characters and sets as atoms of the target dialect (bracket expressions
 * with \u escapes for ARE; bytes and UTF-8 byte-sequence alternations
 * for the POSIX target).
 */
#include "regex_ecma_int.h"
#include "regex_ecma_unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- output buffer ---------- */

static int
utf8_encode(uint32_t cp, unsigned char *s)
{
	if (cp < 0x80)
	{
		s[0] = (unsigned char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		s[0] = (unsigned char) (0xC0 | (cp >> 6));
		s[1] = (unsigned char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		s[0] = (unsigned char) (0xE0 | (cp >> 12));
		s[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
		s[2] = (unsigned char) (0x80 | (cp & 0x3F));
		return 3;
	}
	s[0] = (unsigned char) (0xF0 | (cp >> 18));
	s[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
	s[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
	s[3] = (unsigned char) (0x80 | (cp & 0x3F));
	return 4;
}

void
pa_re_put_utf8(PaBuf *b, uint32_t cp)
{
	unsigned char s[4];
	int			n = utf8_encode(cp, s);

	pa_buf_putn(b, (const char *) s, (size_t) n);
}

/* ---------- set arithmetic ---------- */

void
pa_re_set_add(PaReSet *s, uint32_t lo, uint32_t hi)
{
	if (s->oom)
		return;
	if (s->n == s->cap)
	{
		int			ncap = s->cap ? s->cap * 2 : 16;
		PaReRange  *nr = realloc(s->r, (size_t) ncap * sizeof(PaReRange));

		if (nr == NULL)
		{
			s->oom = 1;
			return;
		}
		s->r = nr;
		s->cap = ncap;
	}
	s->r[s->n].lo = lo;
	s->r[s->n].hi = hi;
	s->n++;
}

void
pa_re_set_add_set(PaReSet *dst, const PaReSet *src)
{
	int			i;

	for (i = 0; i < src->n; i++)
		pa_re_set_add(dst, src->r[i].lo, src->r[i].hi);
	dst->oom |= src->oom;
}

static int
range_cmp(const void *a, const void *b)
{
	const PaReRange *x = a;
	const PaReRange *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Sort, merge, and clip to the universe (no NUL, no surrogates). */
void
pa_re_set_normalize(PaReSet *s)
{
	int			i,
				n = 0;
	PaReSet		clip = {0};

	if (s->n == 0 || s->oom)
		return;
	qsort(s->r, (size_t) s->n, sizeof(PaReRange), range_cmp);
	for (i = 1; i < s->n; i++)
	{
		if (s->r[i].lo <= s->r[n].hi + 1)
		{
			if (s->r[i].hi > s->r[n].hi)
				s->r[n].hi = s->r[i].hi;
		}
		else
			s->r[++n] = s->r[i];
	}
	s->n = n + 1;
	for (i = 0; i < s->n; i++)
	{
		uint32_t	lo = s->r[i].lo ? s->r[i].lo : 1;
		uint32_t	hi = s->r[i].hi;

		if (lo > hi)
			continue;
		if (lo < 0xD800 && hi >= 0xD800)
		{
			pa_re_set_add(&clip, lo, 0xD7FF);
			lo = 0xE000;
		}
		else if (lo >= 0xD800 && lo <= 0xDFFF)
			lo = 0xE000;
		if (lo <= hi)
			pa_re_set_add(&clip, lo, hi);
	}
	clip.oom |= s->oom;
	free(s->r);
	*s = clip;
}

/* Complement within the universe; "s" must be normalized. */
void
pa_re_set_complement(const PaReSet *s, PaReSet *out)
{
	uint32_t	next = 0;
	int			i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < s->n; i++)
	{
		if (s->r[i].lo > next)
			pa_re_set_add(out, next, s->r[i].lo - 1);
		next = s->r[i].hi + 1;
	}
	if (next <= PA_RE_UNI_MAX)
		pa_re_set_add(out, next, PA_RE_UNI_MAX);
	out->oom |= s->oom;
	pa_re_set_normalize(out);
}

/* ---------- class escapes and properties ---------- */

void
pa_re_set_add_class(PaReSet *s, char cls)
{
	/* ECMA WhiteSpace and LineTerminator */
	static const uint32_t space[][2] = {
		{0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0xA0}, {0x1680, 0x1680},
		{0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
		{0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}
	};
	size_t		i;

	switch (cls)
	{
		case 'd':
			pa_re_set_add(s, '0', '9');
			break;
		case 'w':
			pa_re_set_add(s, '0', '9');
			pa_re_set_add(s, 'A', 'Z');
			pa_re_set_add(s, '_', '_');
			pa_re_set_add(s, 'a', 'z');
			break;
		case 's':
			for (i = 0; i < sizeof(space) / sizeof(space[0]); i++)
				pa_re_set_add(s, space[i][0], space[i][1]);
			break;
	}
}

static void
add_gc_mask(PaReSet *s, uint32_t mask)
{
	int			i;

	for (i = 0; i < pa_uni_gc_nruns; i++)
	{
		uint32_t	lo = pa_uni_gc_runs[i] >> 5;
		uint32_t	hi = (i + 1 < pa_uni_gc_nruns) ?
			(pa_uni_gc_runs[i + 1] >> 5) - 1 : PA_RE_UNI_MAX;

		if (mask & (1u << (pa_uni_gc_runs[i] & 31)))
			pa_re_set_add(s, lo, hi);
	}
}

static uint32_t
gc_lookup(const char *name, size_t n)
{
	int			i;

	for (i = 0; pa_uni_gc_aliases[i].name; i++)
		if (strlen(pa_uni_gc_aliases[i].name) == n &&
			memcmp(pa_uni_gc_aliases[i].name, name, n) == 0)
			return pa_uni_gc_aliases[i].mask;
	return 0;
}

static int
name_is(const char *name, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(name, lit, n) == 0;
}

int
pa_re_set_add_property(PaReSet *s, const char *name, size_t n,
					   char *why, size_t whylen)
{
	const char *eq = memchr(name, '=', n);
	uint32_t	mask;

	if (eq)
	{
		size_t		ln = (size_t) (eq - name);

		if (!name_is(name, ln, "General_Category") && !name_is(name, ln, "gc"))
		{
			snprintf(why, whylen, "unsupported Unicode property \\p{%.*s} (only General_Category values are supported)",
					 (int) n, name);
			return -1;
		}
		mask = gc_lookup(eq + 1, n - ln - 1);
		if (mask == 0)
		{
			snprintf(why, whylen, "unknown General_Category value in \\p{%.*s}",
					 (int) n, name);
			return -1;
		}
		add_gc_mask(s, mask);
		return 0;
	}
	mask = gc_lookup(name, n);
	if (mask)
		add_gc_mask(s, mask);
	else if (name_is(name, n, "Any"))
		pa_re_set_add(s, 0, PA_RE_UNI_MAX);
	else if (name_is(name, n, "ASCII"))
		pa_re_set_add(s, 0, 0x7F);
	else if (name_is(name, n, "Assigned"))
		add_gc_mask(s, ~(1u << 2));	/* every category but Cn */
	else if (name_is(name, n, "ASCII_Hex_Digit"))
	{
		pa_re_set_add(s, '0', '9');
		pa_re_set_add(s, 'A', 'F');
		pa_re_set_add(s, 'a', 'f');
	}
	else if (name_is(name, n, "White_Space"))
	{
		pa_re_set_add(s, 0x09, 0x0D);
		pa_re_set_add(s, 0x20, 0x20);
		pa_re_set_add(s, 0x85, 0x85);
		pa_re_set_add(s, 0xA0, 0xA0);
		pa_re_set_add(s, 0x1680, 0x1680);
		pa_re_set_add(s, 0x2000, 0x200A);
		pa_re_set_add(s, 0x2028, 0x2029);
		pa_re_set_add(s, 0x202F, 0x202F);
		pa_re_set_add(s, 0x205F, 0x205F);
		pa_re_set_add(s, 0x3000, 0x3000);
	}
	else
	{
		snprintf(why, whylen, "unsupported Unicode property \\p{%.*s}", (int) n, name);
		return -1;
	}
	return 0;
}

/* ---------- UTF-8 byte sequences ---------- */

/*
 * Split [lo, hi] (non-ASCII, no surrogates) until every piece encodes as
 * one sequence of byte ranges: same length, and each continuation byte
 * spans its full range unless all higher bytes are equal.  The classic
 * construction of RE2 and Rust's utf8-ranges.
 */
static void
utf8_pieces(uint32_t lo, uint32_t hi, PaBuf *out, int *nalts)
{
	static const uint32_t maxes[] = {0x7FF, 0xFFFF};
	unsigned char a[4],
				b[4];
	int			i,
				n;

	for (i = 0; i < 2; i++)
	{
		if (lo <= maxes[i] && hi > maxes[i])
		{
			utf8_pieces(lo, maxes[i], out, nalts);
			utf8_pieces(maxes[i] + 1, hi, out, nalts);
			return;
		}
	}
	n = utf8_encode(lo, a);
	for (i = 1; i < n; i++)
	{
		uint32_t	m = (1u << (6 * i)) - 1;

		if ((lo & ~m) != (hi & ~m))
		{
			if ((lo & m) != 0)
			{
				utf8_pieces(lo, lo | m, out, nalts);
				utf8_pieces((lo | m) + 1, hi, out, nalts);
				return;
			}
			if ((hi & m) != m)
			{
				utf8_pieces(lo, (hi & ~m) - 1, out, nalts);
				utf8_pieces(hi & ~m, hi, out, nalts);
				return;
			}
		}
	}
	utf8_encode(hi, b);
	if (*nalts > 0)
		pa_buf_putc(out, '|');
	for (i = 0; i < n; i++)
	{
		if (a[i] == b[i])
			pa_buf_putc(out, (char) a[i]);
		else
		{
			pa_buf_putc(out, '[');
			pa_buf_putc(out, (char) a[i]);
			pa_buf_putc(out, '-');
			pa_buf_putc(out, (char) b[i]);
			pa_buf_putc(out, ']');
		}
	}
	(*nalts)++;
}

void
pa_re_set_utf8_alternatives(const PaReSet *s, PaBuf *out, int *nalts)
{
	int			i;

	for (i = 0; i < s->n; i++)
	{
		uint32_t	lo = s->r[i].lo < 0x80 ? 0x80 : s->r[i].lo;

		if (lo <= s->r[i].hi)
			utf8_pieces(lo, s->r[i].hi, out, nalts);
	}
}

/* ---------- writing atoms in the target dialect ---------- */

static const char *const SPECIAL = "\\^$.|?*+()[]{}";

/*
 * A pattern that never matches.  ARE: only NUL, which no subject holds;
 * POSIX (bytes): 0xFF, which valid UTF-8 never contains.
 */
static void
emit_never(PaBuf *out, PaRegexTarget target)
{
	if (target == PA_RE_TARGET_ARE)
		pa_buf_puts(out, "[^\\u0001-\\U0010FFFF]");
	else
		pa_buf_puts(out, "[\xFF]");
}

static void
put_ascii_literal(PaBuf *b, char c)
{
	/* both targets take a backslash before punctuation as a literal */
	if (strchr(SPECIAL, c))
		pa_buf_putc(b, '\\');
	pa_buf_putc(b, c);
}

int
pa_re_emit_literal(PaBuf *out, PaRegexTarget target, uint32_t cp,
				   int quantified)
{
	if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
		emit_never(out, target);
	else if (cp < 0x80)
		put_ascii_literal(out, (char) cp);
	else if (quantified && target == PA_RE_TARGET_POSIX_ERE)
	{
		/* bytes: the quantifier must apply to the whole character */
		pa_buf_putc(out, '(');
		pa_re_put_utf8(out, cp);
		pa_buf_putc(out, ')');
		return 1;
	}
	else
		pa_re_put_utf8(out, cp);
	return 0;
}

static void
are_endpoint(PaBuf *out, uint32_t cp)
{
	char		buf[16];

	if ((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') ||
		(cp >= 'a' && cp <= 'z'))
		pa_buf_putc(out, (char) cp);
	else
	{
		if (cp <= 0xFFFF)
			snprintf(buf, sizeof(buf), "\\u%04X", (unsigned) cp);
		else
			snprintf(buf, sizeof(buf), "\\U%08X", (unsigned) cp);
		pa_buf_puts(out, buf);
	}
}

/*
 * The ASCII part of a set as a POSIX bracket expression.  POSIX brackets
 * have no escapes: "]" must come first, "-" last, "^" anywhere but first
 * and "[" never before ".:=".  So those four are split out of the ranges
 * and placed where they are literal.
 */
static void
emit_posix_bracket(PaBuf *out, const PaReSet *s)
{
	static const uint32_t specials[4] = {'-', '[', ']', '^'};
	int			has[4] = {0, 0, 0, 0};
	PaBuf		body = {0};
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
					pa_buf_putc(&body, (char) lo);
					if (specials[k] - 1 > lo)
					{
						pa_buf_putc(&body, '-');
						pa_buf_putc(&body, (char) (specials[k] - 1));
					}
				}
				lo = specials[k] + 1;
			}
		}
		if (lo <= hi)
		{
			pa_buf_putc(&body, (char) lo);
			if (hi > lo)
			{
				pa_buf_putc(&body, '-');
				pa_buf_putc(&body, (char) hi);
			}
		}
	}
	pa_buf_putc(out, '[');
	if (has[2])
		pa_buf_putc(out, ']');
	if (body.len)
		pa_buf_putn(out, body.data, body.len);
	if (has[1])
		pa_buf_putc(out, '[');
	if (has[3])
	{
		/* "^" may not lead the bracket: let "-" lead instead */
		if (!has[2] && body.len == 0 && !has[1] && has[0])
		{
			pa_buf_puts(out, "-^");
			has[0] = 0;
		}
		else
			pa_buf_putc(out, '^');
	}
	if (has[0])
		pa_buf_putc(out, '-');
	pa_buf_putc(out, ']');
	out->oom |= body.oom;
	free(body.data);
}

/*
 * POSIX (bytes): the ASCII part as one bracket, every other character as
 * UTF-8 byte sequences, all alternatives of one group.
 */
static int
emit_posix_set(PaBuf *out, const PaReSet *s, int quantified)
{
	PaBuf		alts = {0};
	int			nalts = 0,
				ascii_chars = 0,
				grouped,
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
	grouped = nalts > 1 || (quantified && ascii_chars == 0);
	if (grouped)
		pa_buf_putc(out, '(');
	pa_buf_putn(out, alts.data, alts.len);
	if (grouped)
		pa_buf_putc(out, ')');
	out->oom |= alts.oom;
	free(alts.data);
	return grouped;
}

int
pa_re_emit_set(PaBuf *out, PaRegexTarget target, const PaReSet *s,
			   int quantified)
{
	PaReSet		comp;
	const PaReSet *use;
	int			negated,
				i;

	if (s->oom)
	{
		out->oom = 1;
		return 0;
	}
	if (s->n == 0)
	{
		emit_never(out, target);
		return 0;
	}
	if (s->n == 1 && s->r[0].lo == s->r[0].hi)
		return pa_re_emit_literal(out, target, s->r[0].lo, quantified);
	if (target == PA_RE_TARGET_POSIX_ERE)
		return emit_posix_set(out, s, quantified);
	pa_re_set_complement(s, &comp);
	if (comp.n == 0)
	{
		/* every character: ARE's "." has no exceptions without REG_NEWLINE */
		pa_buf_putc(out, '.');
		free(comp.r);
		return 0;
	}
	negated = comp.n < s->n;
	use = negated ? &comp : s;
	pa_buf_puts(out, negated ? "[^" : "[");
	for (i = 0; i < use->n; i++)
	{
		are_endpoint(out, use->r[i].lo);
		if (use->r[i].hi > use->r[i].lo)
		{
			if (use->r[i].hi > use->r[i].lo + 1)
				pa_buf_putc(out, '-');
			are_endpoint(out, use->r[i].hi);
		}
	}
	pa_buf_putc(out, ']');
	out->oom |= comp.oom;
	free(comp.r);
	return 0;
}
