/*
 * jsonschema_resolve.c — the compiler's knowledge of where things are:
 * the scan pass and $ref resolution.
 *
 * The scan walks every subschema position (not unknown keywords, not the
 * values of "enum" or "const": those are data, not schemas) and records
 * each schema object's base URI and JSON pointer, every $id-identified
 * resource and every $anchor.  A $ref can then point anywhere in the
 * document, forwards, backwards or into an embedded resource, and is
 * resolved at compile time to the node of its target.
 */
#include "jsonschema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SUB_ONE[] = {
	"items", "additionalProperties", "propertyNames", "contains", "not",
	"if", "then", "else", "contentSchema", NULL
};
static const char *const SUB_ARRAY[] = {
	"prefixItems", "allOf", "anyOf", "oneOf", NULL
};
static const char *const SUB_MAP[] = {
	"properties", "patternProperties", "dependentSchemas", "$defs",
	"definitions", NULL
};

/* Record the first error as "<pointer>: <message>". */
void
pa_compile_error(PaCompileCtx *c, const char *path, const char *kw, const char *fmt,...)
{
	PaBuf		b = {0};
	va_list		ap;

	if (c->err)
		return;
	if (path[0] == '\0' && kw == NULL)
		pa_buf_puts(&b, "(root)");
	else
		pa_buf_puts(&b, path);
	if (kw)
	{
		pa_buf_puts(&b, "/");
		pa_buf_put_pointer_token(&b, kw, strlen(kw));
	}
	pa_buf_puts(&b, ": ");
	va_start(ap, fmt);
	pa_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (b.oom)
	{
		free(b.data);
		c->err = strdup("out of memory");
	}
	else
		c->err = b.data;
}

void
pa_compile_oom(PaCompileCtx *c)
{
	if (c->err == NULL)
		c->err = strdup("out of memory");
}

/* ---------- tables ---------- */

static size_t
ptr_hash(json_t *p, size_t cap)
{
	uintptr_t	v = (uintptr_t) p;

	v ^= v >> 17;
	v *= (uintptr_t) 0x9E3779B97F4A7C15ULL;
	return (size_t) (v >> 7) & (cap - 1);
}

PaSeenSchema *
pa_seen_get(PaCompileCtx *c, json_t *j)
{
	size_t		i;

	if (c->seen_cap == 0)
		return NULL;
	for (i = ptr_hash(j, c->seen_cap); c->seen[i].json; i = (i + 1) & (c->seen_cap - 1))
		if (c->seen[i].json == j)
			return &c->seen[i];
	return NULL;
}

/* Add an entry (j must not be present); takes ownership of base and path. */
static PaSeenSchema *
seen_add(PaCompileCtx *c, json_t *j, char *base, char *path)
{
	size_t		i;

	if (base == NULL || path == NULL)
		goto fail;
	if ((c->seen_n + 1) * 2 > c->seen_cap)
	{
		size_t		ncap = c->seen_cap ? c->seen_cap * 2 : 64;
		PaSeenSchema *ns = calloc(ncap, sizeof(PaSeenSchema));

		if (ns == NULL)
			goto fail;
		for (i = 0; i < c->seen_cap; i++)
		{
			size_t		k;

			if (c->seen[i].json == NULL)
				continue;
			for (k = ptr_hash(c->seen[i].json, ncap); ns[k].json; k = (k + 1) & (ncap - 1))
				;
			ns[k] = c->seen[i];
		}
		free(c->seen);
		c->seen = ns;
		c->seen_cap = ncap;
	}
	for (i = ptr_hash(j, c->seen_cap); c->seen[i].json; i = (i + 1) & (c->seen_cap - 1))
		;
	c->seen[i].json = j;
	c->seen[i].base = base;
	c->seen[i].path = path;
	c->seen_n++;
	return &c->seen[i];
fail:
	free(base);
	free(path);
	pa_compile_oom(c);
	return NULL;
}

static PaIdent *
ident_find(PaCompileCtx *c, const char *key)
{
	int			i;

	for (i = 0; i < c->nidents; i++)
		if (strcmp(c->idents[i].key, key) == 0)
			return &c->idents[i];
	return NULL;
}

/* takes ownership of key */
int
pa_ident_add(PaCompileCtx *c, char *key, json_t *j, const char *path, const char *kw)
{
	if (key == NULL)
	{
		pa_compile_oom(c);
		return -1;
	}
	if (ident_find(c, key))
	{
		pa_compile_error(c, path, kw, "duplicate identifier \"%s\"", key);
		free(key);
		return -1;
	}
	if (c->nidents == c->idents_cap)
	{
		int			ncap = c->idents_cap ? c->idents_cap * 2 : 16;
		PaIdent	   *ni = realloc(c->idents, (size_t) ncap * sizeof(PaIdent));

		if (ni == NULL)
		{
			free(key);
			pa_compile_oom(c);
			return -1;
		}
		c->idents = ni;
		c->idents_cap = ncap;
	}
	c->idents[c->nidents].key = key;
	c->idents[c->nidents].json = j;
	c->nidents++;
	return 0;
}

/* ---------- scan pass ---------- */

int
pa_valid_anchor(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
			  (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

char *
pa_child_path(PaCompileCtx *c, const char *path, const char *kw, const char *key, int idx)
{
	PaBuf		b = {0};

	pa_buf_puts(&b, path);
	pa_buf_puts(&b, "/");
	pa_buf_put_pointer_token(&b, kw, strlen(kw));
	if (key)
	{
		pa_buf_puts(&b, "/");
		pa_buf_put_pointer_token(&b, key, strlen(key));
	}
	else if (idx >= 0)
		pa_buf_printf(&b, "/%d", idx);
	if (b.oom)
	{
		free(b.data);
		pa_compile_oom(c);
		return NULL;
	}
	return b.data;
}

static int	scan(PaCompileCtx *c, json_t *j, const char *parent_base, char *path,
				 int depth);

static int
scan_child(PaCompileCtx *c, json_t *j, const char *base, const char *path,
		   const char *kw, const char *key, int idx, int depth)
{
	char	   *p;

	if (!json_is_object(j))
		return 0;				/* booleans carry no identifiers */
	if ((p = pa_child_path(c, path, kw, key, idx)) == NULL)
		return -1;
	return scan(c, j, base, p, depth + 1);
}

/* Record base URI, location, $id and $anchor of schema j; owns "path". */
static int
scan(PaCompileCtx *c, json_t *j, const char *parent_base, char *path, int depth)
{
	json_t	   *v;
	const char *key;
	char	   *base;
	PaSeenSchema *s;
	int			i;
	size_t		k;

	if (depth > PA_SCHEMA_MAX_DEPTH)
	{
		pa_compile_error(c, path, NULL, "schema nested too deeply");
		free(path);
		return -1;
	}
	if (pa_seen_get(c, j))
	{
		free(path);				/* the same object twice: keep the first */
		return 0;
	}
	v = json_object_get(j, "$id");
	if (json_is_string(v))
	{
		const char *hash;

		base = pa_uri_resolve(parent_base, json_string_value(v));
		if (base && (hash = strchr(base, '#')) != NULL)
		{
			if (hash[1] != '\0')
			{
				pa_compile_error(c, path, "$id", "must not contain a fragment (use $anchor)");
				free(base);
				free(path);
				return -1;
			}
			base[hash - base] = '\0';
		}
		if (base && pa_ident_add(c, strdup(base), j, path, "$id") < 0)
		{
			free(base);
			free(path);
			return -1;
		}
	}
	else
		base = strdup(parent_base);
	if ((s = seen_add(c, j, base, path)) == NULL)
		return -1;
	base = s->base;
	path = s->path;
	for (i = 0; i < 2; i++)
	{
		v = json_object_get(j, i == 0 ? "$anchor" : "$dynamicAnchor");
		if (json_is_string(v) && pa_valid_anchor(json_string_value(v)))
		{
			char	   *akey = pa_strdup_printf("%s#%s", base, json_string_value(v));

			if (pa_ident_add(c, akey, j, path, i == 0 ? "$anchor" : "$dynamicAnchor") < 0)
				return -1;
		}
	}
	for (i = 0; SUB_ONE[i]; i++)
		if (scan_child(c, json_object_get(j, SUB_ONE[i]), base, path,
					   SUB_ONE[i], NULL, -1, depth) < 0)
			return -1;
	for (i = 0; SUB_ARRAY[i]; i++)
	{
		v = json_object_get(j, SUB_ARRAY[i]);
		for (k = 0; json_is_array(v) && k < json_array_size(v); k++)
			if (scan_child(c, json_array_get(v, k), base, path,
						   SUB_ARRAY[i], NULL, (int) k, depth) < 0)
				return -1;
	}
	for (i = 0; SUB_MAP[i]; i++)
	{
		json_t	   *m = json_object_get(j, SUB_MAP[i]);

		if (!json_is_object(m))
			continue;
		json_object_foreach(m, key, v)
		{
			if (scan_child(c, v, base, path, SUB_MAP[i], key, -1, depth) < 0)
				return -1;
		}
	}
	return 0;
}

/* Percent-decode a URI fragment; malloc'd. */
static char *
percent_decode(const char *s)
{
	char	   *out = malloc(strlen(s) + 1);
	char	   *o = out;
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";

	if (out == NULL)
		return NULL;
	while (*s)
	{
		const char *h1,
				   *h2;

		if (s[0] == '%' && s[1] && s[2] && (h1 = strchr(hex, s[1])) != NULL &&
			(h2 = strchr(hex, s[2])) != NULL)
		{
			*o++ = (char) ((((h1 - hex) & 15) << 4) | ((h2 - hex) & 15));
			s += 3;
		}
		else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

/*
 * Follow JSON pointer "ptr" (decoded fragment, starting with "/") from j.
 * Appends the escaped tokens to *path.  NULL when it leads nowhere.
 */
static json_t *
follow_pointer(json_t *j, const char *ptr, PaBuf *path)
{
	const char *p = ptr;

	while (j && *p == '/')
	{
		PaBuf		tok = {0};
		const char *end;

		for (p++, end = p; *end && *end != '/'; end++)
			;
		for (; p < end; p++)
		{
			if (*p == '~' && p + 1 < end && (p[1] == '0' || p[1] == '1'))
			{
				pa_buf_puts(&tok, p[1] == '0' ? "~" : "/");
				p++;
			}
			else if (*p == '~')
			{
				free(tok.data);
				return NULL;
			}
			else
				pa_buf_putn(&tok, p, 1);
		}
		pa_buf_puts(&tok, "");
		if (tok.oom)
		{
			free(tok.data);
			return NULL;
		}
		if (json_is_object(j))
			j = json_object_get(j, tok.data);
		else if (json_is_array(j))
		{
			char	   *e;
			unsigned long idx = strtoul(tok.data, &e, 10);

			if (tok.data[0] < '0' || tok.data[0] > '9' || *e ||
				(tok.data[0] == '0' && tok.len > 1))
				j = NULL;
			else
				j = json_array_get(j, idx);
		}
		else
			j = NULL;
		pa_buf_puts(path, "/");
		pa_buf_put_pointer_token(path, tok.data, tok.len);
		free(tok.data);
	}
	return j;
}

/*
 * What a URI fragment that is a JSON pointer ("" or "/a/b", percent-encoded
 * as in "#/%24defs/x") points at in doc, or NULL. For callers outside the
 * compiler (schema_example.c) that follow references the same way.
 */
json_t *
pa_json_fragment_get(json_t *doc, const char *fragment)
{
	char	   *frag = percent_decode(fragment);
	PaBuf		path = {0};
	json_t	   *v = NULL;

	if (frag && frag[0] == '\0')
		v = doc;
	else if (frag && frag[0] == '/')
		v = follow_pointer(doc, frag, &path);
	free(frag);
	free(path.data);
	return v;
}

/* Resolve "$ref" of the schema at "path" with base URI "base". */
PaNode *
pa_resolve_ref(PaCompileCtx *c, const char *ref, const char *base, const char *path, int depth)
{
	char	   *uri = pa_uri_resolve(base, ref);
	char	   *hash,
			   *frag = NULL;
	PaIdent	   *res;
	json_t	   *target = NULL;
	PaBuf		tpath = {0};
	PaNode	   *n = NULL;

	if (uri == NULL)
	{
		pa_compile_oom(c);
		return NULL;
	}
	hash = strchr(uri, '#');
	if (hash)
		*hash = '\0';
	res = ident_find(c, uri);
	if (res == NULL)
	{
		pa_compile_error(c, path, "$ref", "cannot resolve reference \"%s\" (only references within this schema are supported)", ref);
		goto done;
	}
	if ((frag = percent_decode(hash ? hash + 1 : "")) == NULL)
	{
		pa_compile_oom(c);
		goto done;
	}
	if (frag[0] == '\0' || frag[0] == '/')
	{
		PaSeenSchema *rs = pa_seen_get(c, res->json);

		pa_buf_puts(&tpath, rs ? rs->path : "");
		target = follow_pointer(res->json, frag, &tpath);
	}
	else
	{
		PaIdent	   *anchor;

		*hash = '#';
		anchor = ident_find(c, uri);
		if (anchor)
		{
			PaSeenSchema *as = pa_seen_get(c, anchor->json);

			target = anchor->json;
			pa_buf_puts(&tpath, as ? as->path : "");
		}
	}
	if (tpath.oom)
		pa_compile_oom(c);
	else if (target == NULL)
		pa_compile_error(c, path, "$ref", "cannot resolve reference \"%s\"", ref);
	else if (!json_is_object(target) && !json_is_boolean(target))
		pa_compile_error(c, path, "$ref", "reference \"%s\" does not point to a schema", ref);
	else
	{
		PaSeenSchema *rs = pa_seen_get(c, res->json);

		n = pa_compile_schema(c, target, rs ? rs->base : uri, tpath.data, depth + 1);
	}
done:
	free(tpath.data);
	free(frag);
	free(uri);
	return n;
}

int
pa_scan_schema(PaCompileCtx *c, json_t *j, const char *base, char *path, int depth)
{
	return scan(c, j, base, path, depth);
}

void
pa_compile_ctx_cleanup(PaCompileCtx *c)
{
	size_t		i;
	int			k;

	for (i = 0; i < c->seen_cap; i++)
	{
		free(c->seen[i].base);
		free(c->seen[i].path);
	}
	free(c->seen);
	for (k = 0; k < c->nidents; k++)
		free(c->idents[k].key);
	free(c->idents);
}
