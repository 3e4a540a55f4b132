/*
 * regex_ecma_int.h — internals shared by regex_ecma.c (the parser) and
 * regex_ecma_charset.c (code point sets, Unicode properties, UTF-8 byte
 * sequences).  Not for use outside the translator.
 */
#ifndef PA_REGEX_ECMA_INT_H
#define PA_REGEX_ECMA_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pa_buf.h"
#include "regex_ecma.h"

#define PA_RE_UNI_MAX	0x10FFFF


typedef struct PaReRange
{
	uint32_t	lo;
	uint32_t	hi;
} PaReRange;

/*
 * A set of code points as ranges.  After pa_re_set_normalize() the ranges
 * are sorted, disjoint, non-adjacent and inside the universe U+0001..U+10FFFF
 * minus surrogates (the characters a UTF-8 subject without NUL can hold).
 */
typedef struct PaReSet
{
	PaReRange  *r;
	int			n;
	int			cap;
	int			oom;
} PaReSet;

extern void pa_re_put_utf8(PaBuf *b, uint32_t cp);

extern void pa_re_set_add(PaReSet *s, uint32_t lo, uint32_t hi);
extern void pa_re_set_add_set(PaReSet *dst, const PaReSet *src);
extern void pa_re_set_normalize(PaReSet *s);
extern void pa_re_set_complement(const PaReSet *s, PaReSet *out);

/* ECMA's \d \w \s (ASCII digits and word characters, ECMA white space) */
extern void pa_re_set_add_class(PaReSet *s, char cls);

/*
 * \p{name} / \p{gc=value}: add the property's characters.  Returns 0, or
 * -1 with a message in "why".
 */
extern int	pa_re_set_add_property(PaReSet *s, const char *name, size_t n,
								   char *why, size_t whylen);

/*
 * Append the non-ASCII part of normalized set "s" as "|"-separated UTF-8
 * byte sequences (each a run of bytes and byte ranges); *nalts counts the
 * alternatives written.
 */
extern void pa_re_set_utf8_alternatives(const PaReSet *s, PaBuf *out,
										int *nalts);

/*
 * Write one character, or a normalized set, as a single atom ("quantified":
 * a quantifier follows).  Return the number of groups added to the output
 * (POSIX numbers every group, so back references must be shifted).
 */
extern int	pa_re_emit_literal(PaBuf *out, PaRegexTarget target, uint32_t cp,
							   int quantified);
extern int	pa_re_emit_set(PaBuf *out, PaRegexTarget target, const PaReSet *s,
						   int quantified);

#endif							/* PA_REGEX_ECMA_INT_H */
