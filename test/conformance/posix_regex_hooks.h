/*
 * posix_regex_hooks.h — PaRegexHooks over glibc <regex.h> for the
 * standalone builds (conformance runner, unit tests): ECMA patterns are
 * translated to POSIX ERE (regex_ecma.h) and run in the C locale.
 * Include once per program, after <regex.h>, <stdlib.h>, <string.h> and
 * regex_ecma.h.
 */
#ifndef PA_POSIX_REGEX_HOOKS_H
#define PA_POSIX_REGEX_HOOKS_H

static void *
posix_compile(const char *pattern, char **errmsg, void *arg)
{
	char	   *ere = pa_regex_translate(pattern, PA_RE_TARGET_POSIX_ERE, errmsg);
	regex_t    *re;
	int			rc;

	(void) arg;
	if (ere == NULL)
		return NULL;
	if ((re = malloc(sizeof(regex_t))) == NULL)
	{
		free(ere);
		*errmsg = strdup("out of memory");
		return NULL;
	}
	rc = regcomp(re, ere, REG_EXTENDED | REG_NOSUB);
	free(ere);
	if (rc != 0)
	{
		char		buf[256];

		regerror(rc, re, buf, sizeof(buf));
		*errmsg = strdup(buf);
		free(re);
		return NULL;
	}
	return re;
}

static int
posix_match(void *handle, const char *subject, size_t len, void *arg)
{
	regmatch_t	m;
	int			rc;

	(void) arg;
	/* REG_STARTEND: the subject is counted, not NUL-terminated */
	m.rm_so = 0;
	m.rm_eo = (regoff_t) len;
	rc = regexec(handle, subject, 1, &m, REG_STARTEND);
	if (rc == 0)
		return 1;
	return rc == REG_NOMATCH ? 0 : -1;
}

static void
posix_release(void *handle, void *arg)
{
	(void) arg;
	regfree(handle);
	free(handle);
}

#endif							/* PA_POSIX_REGEX_HOOKS_H */
