/*
 * regex_ecma.h — translate ECMA-262 regular expressions (the dialect of
 * JSON Schema "pattern" and "patternProperties") into the dialect of the
 * engine that will run them.
 *
 * Plain C, no server headers: the validator core and the standalone
 * conformance runner use it as well as the server.
 *
 * What the translation guarantees
 * -------------------------------
 * The output decides "does the pattern match somewhere in the subject"
 * (ECMA RegExp.test, unanchored) the way ECMA-262 with the "u" flag does,
 * for UTF-8 subjects:
 *
 *  - character classes (\d \w \s, their negations, \p{...}/\P{...} General
 *    Category escapes, ".", [...] and [^...]) become explicit bracket
 *    expressions of code points, so the result does not depend on the
 *    collation or locale of the target engine (ECMA's \d and \w are ASCII
 *    only; PostgreSQL's follow the collation);
 *  - \b and \B become the target's word-boundary escapes;
 *  - non-greedy quantifiers become greedy ones (same match/no-match answer);
 *  - named groups become plain groups, \k<name> a numbered back reference.
 *
 * Targets
 * -------
 * PA_RE_TARGET_ARE: PostgreSQL's Advanced REs.  Compile the result with
 *   pg_regcomp(..., REG_ADVANCED, collation) in a UTF8 database, without
 *   REG_NEWLINE or REG_ICASE.  Lookahead and lookbehind are kept.
 *   Limits of that engine: bounds above 255 and back references to groups
 *   inside lookaround are rejected here with a clear message.
 * PA_RE_TARGET_POSIX_ERE: glibc regcomp(REG_EXTENDED) under a UTF-8
 *   LC_CTYPE (e.g. C.UTF-8); used by the standalone test runner.
 *   Lookaround is not available there and is reported as an error.
 *
 * Unicode properties: General_Category values by any alias (\p{L},
 * \p{Letter}, \p{gc=Lu}, \p{General_Category=digit}, ...), plus Any,
 * ASCII, Assigned, ASCII_Hex_Digit and White_Space.  Scripts and other
 * binary properties are reported as unsupported.
 */
#ifndef PA_REGEX_ECMA_H
#define PA_REGEX_ECMA_H

typedef enum PaRegexTarget
{
	PA_RE_TARGET_ARE,			/* PostgreSQL Advanced REs (REG_ADVANCED) */
	PA_RE_TARGET_POSIX_ERE		/* glibc regcomp(REG_EXTENDED), UTF-8 locale */
} PaRegexTarget;

/*
 * Translate NUL-terminated ECMA-262 pattern "pattern" for "target".
 * Returns a malloc'd NUL-terminated pattern, or NULL with *errmsg set to a
 * malloc'd message (e.g. "unterminated character class at offset 3"); the
 * caller frees either.
 */
extern char *pa_regex_translate(const char *pattern, PaRegexTarget target,
								char **errmsg);

#endif							/* PA_REGEX_ECMA_H */
