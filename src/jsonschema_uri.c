/*
 * jsonschema_uri.c — RFC 3986 reference resolution, enough for $id and
 * $ref: any scheme (http, urn, file, ...), dot-segment removal, relative
 * paths against the nearest $id.  No normalization beyond that: two
 * URIs name the same resource when their texts are equal.
 */
#include "jsonschema_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct Uri
{
	const char *scheme;			/* NULL when absent, likewise below */
	size_t		scheme_len;
	const char *auth;
	size_t		auth_len;
	const char *path;			/* never NULL, may be empty */
	size_t		path_len;
	const char *query;
	size_t		query_len;
	const char *frag;
	size_t		frag_len;
} Uri;

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void
uri_parse(const char *s, Uri *u)
{
	const char *p = s,
			   *q;

	memset(u, 0, sizeof(*u));
	if (is_alpha(*p))
	{
		for (q = p + 1; is_alpha(*q) || (*q >= '0' && *q <= '9') ||
			 *q == '+' || *q == '-' || *q == '.'; q++)
			;
		if (*q == ':')
		{
			u->scheme = p;
			u->scheme_len = (size_t) (q - p);
			p = q + 1;
		}
	}
	if (p[0] == '/' && p[1] == '/')
	{
		p += 2;
		for (q = p; *q && *q != '/' && *q != '?' && *q != '#'; q++)
			;
		u->auth = p;
		u->auth_len = (size_t) (q - p);
		p = q;
	}
	for (q = p; *q && *q != '?' && *q != '#'; q++)
		;
	u->path = p;
	u->path_len = (size_t) (q - p);
	p = q;
	if (*p == '?')
	{
		p++;
		for (q = p; *q && *q != '#'; q++)
			;
		u->query = p;
		u->query_len = (size_t) (q - p);
		p = q;
	}
	if (*p == '#')
	{
		u->frag = p + 1;
		u->frag_len = strlen(p + 1);
	}
}

/* RFC 3986 section 5.2.4, appending the result to "out" */
static void
remove_dot_segments(PaBuf *out, const char *path, size_t n)
{
	char	   *buf = malloc(n + 1);
	char	   *p;
	size_t		base = out->len;

	if (buf == NULL)
	{
		out->oom = 1;
		return;
	}
	memcpy(buf, path, n);
	buf[n] = '\0';
	p = buf;
	while (*p && !out->oom)
	{
		if (strncmp(p, "../", 3) == 0)
			p += 3;
		else if (strncmp(p, "./", 2) == 0)
			p += 2;
		else if (strncmp(p, "/./", 3) == 0)
			p += 2;
		else if (strcmp(p, "/.") == 0)
		{
			p[1] = '/';
			p += 1;
		}
		else if (strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0)
		{
			char	   *slash;

			if (p[3] == '\0')
				p[2] = '/';
			p += p[3] == '/' ? 3 : 2;
			/* drop the last output segment */
			out->data[out->len] = '\0';
			slash = strrchr(out->data + base, '/');
			out->len = slash ? (size_t) (slash - out->data) : base;
			out->data[out->len] = '\0';
		}
		else if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0)
			p += strlen(p);
		else
		{
			char	   *end = strchr(p + 1, '/');
			size_t		len = end ? (size_t) (end - p) : strlen(p);

			pa_buf_putn(out, p, len);
			p += len;
		}
	}
	free(buf);
}

/* Resolve "ref" against absolute URI "base"; malloc'd, NULL on OOM. */
char *
pa_uri_resolve(const char *base, const char *ref)
{
	Uri			b,
				r;
	PaBuf		out = {0};
	const Uri  *auth_from,
			   *query_from;

	uri_parse(base, &b);
	uri_parse(ref, &r);
	pa_buf_puts(&out, "");
	if (r.scheme || r.auth)
	{
		auth_from = &r;
		query_from = &r;
	}
	else
	{
		auth_from = &b;
		query_from = (r.path_len == 0 && r.query == NULL) ? &b : &r;
	}
	if (r.scheme)
		pa_buf_putn(&out, r.scheme, r.scheme_len);
	else if (b.scheme)
		pa_buf_putn(&out, b.scheme, b.scheme_len);
	if (r.scheme || b.scheme)
		pa_buf_puts(&out, ":");
	if (auth_from->auth)
	{
		pa_buf_puts(&out, "//");
		pa_buf_putn(&out, auth_from->auth, auth_from->auth_len);
	}
	if (r.scheme || r.auth || (r.path_len > 0 && r.path[0] == '/'))
		remove_dot_segments(&out, r.path, r.path_len);
	else if (r.path_len == 0)
		pa_buf_putn(&out, b.path, b.path_len);
	else
	{
		/* merge: the base path up to its last "/", then the reference */
		PaBuf		merged = {0};
		size_t		keep = b.path_len;

		while (keep > 0 && b.path[keep - 1] != '/')
			keep--;
		if (b.auth && b.path_len == 0)
			pa_buf_puts(&merged, "/");
		else
			pa_buf_putn(&merged, b.path, keep);
		pa_buf_putn(&merged, r.path, r.path_len);
		if (merged.oom)
			out.oom = 1;
		else
			remove_dot_segments(&out, merged.data, merged.len);
		free(merged.data);
	}
	if (query_from->query)
	{
		pa_buf_puts(&out, "?");
		pa_buf_putn(&out, query_from->query, query_from->query_len);
	}
	if (r.frag)
	{
		pa_buf_puts(&out, "#");
		pa_buf_putn(&out, r.frag, r.frag_len);
	}
	if (out.oom)
	{
		free(out.data);
		return NULL;
	}
	return out.data;
}
