/*
 * regex_ecma_unicode.h — Unicode General_Category data (generated) used by
 * the ECMA-262 pattern translator.  Private to regex_ecma.c.
 */
#ifndef PA_REGEX_ECMA_UNICODE_H
#define PA_REGEX_ECMA_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#define PA_UNI_NCATS 30

typedef struct PaUniAlias
{
	const char *name;			/* as written inside \p{...} */
	uint32_t	mask;			/* bit i set: category pa_uni_gc_names[i] */
} PaUniAlias;

extern const char *const pa_uni_gc_names[PA_UNI_NCATS];
extern const PaUniAlias pa_uni_gc_aliases[];
extern const uint32_t pa_uni_gc_runs[];
extern const int pa_uni_gc_nruns;

#endif							/* PA_REGEX_ECMA_UNICODE_H */
