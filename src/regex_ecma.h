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
 * for UTF-8 subjects without NUL:
 *
 *  - every character class (\d \w \s and negations, \p{...}/\P{...},
 *    ".", [...] and [^...]) becomes an explicit set of code points, so the
 *    result does not depend on the target's locale or collation (ECMA's \d
 *    and \w are ASCII only; PostgreSQL's follow the collation);
 *  - \b and \B mean ASCII word boundaries, as in ECMA;
 *  - non-greedy quantifiers become greedy (same match/no-match answer);
 *  - named groups become plain groups, \k<name> a numbered back reference.
 *
 * Refused with a message (definition time, not match time): lookaround on
 * the POSIX target; back references to groups that might not take part in
 * the match (ECMA lets those match empty, the targets fail them), into or
 * inside lookaround, or forward; bounds above 255 (ARE) or 32767 (POSIX);
 * Unicode properties other than General_Category values (any alias:
 * \p{L}, \p{Letter}, \p{gc=Lu}, \p{General_Category=digit}, ...) and Any,
 * ASCII, Assigned, ASCII_Hex_Digit, White_Space; syntax the "u" flag
 * rejects (unknown escapes such as \A, quantified assertions, ...).
 * A lone "{", "}" or "]" is taken literally, as browsers do.
 *
 * Targets
 * -------
 * PA_RE_TARGET_ARE: PostgreSQL's Advanced REs.  Compile the result with
 *   pg_regcomp(..., REG_ADVANCED, C_COLLATION_OID or any other) in a UTF8
 *   database, without REG_NEWLINE or REG_ICASE.  Sets are written with
 *   \uXXXX / \UXXXXXXXX escapes, word boundaries with lookbehind and
 *   lookahead.  Checked against V8 (node) and PostgreSQL 15 with random
 *   patterns and subjects, under the C and C.UTF-8 collations.
 * PA_RE_TARGET_POSIX_ERE: glibc regcomp(REG_EXTENDED) in the C locale, on
 *   bytes: non-ASCII characters and sets become alternations of UTF-8 byte
 *   sequences (glibc cannot take multibyte ranges in brackets).  Used by
 *   the standalone test runner only.  Two glibc quirks remain: "^" or "$"
 *   next to a newline that the pattern itself matches also match at that
 *   newline, and \B can match inside a multibyte character.
 */
#ifndef PA_REGEX_ECMA_H
#define PA_REGEX_ECMA_H

typedef enum PaRegexTarget
{
	PA_RE_TARGET_ARE,			/* PostgreSQL Advanced REs (REG_ADVANCED) */
	PA_RE_TARGET_POSIX_ERE		/* glibc regcomp(REG_EXTENDED), C locale */
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
