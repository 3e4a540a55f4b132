/*
 * jsonschema.c — helpers shared by the schema compiler and validator:
 * strings and JSON pointers, JSON numbers (comparison, exact multipleOf),
 * deep equality and hashing; and pa_schema_free().
 *
 * The compiler is in jsonschema_compile.c, the validator in
 * jsonschema_validate.c.
 */
#include "jsonschema_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- strings ---------- */

/* RFC 6901: "~" becomes "~0" and "/" becomes "~1". */
void
pa_buf_put_pointer_token(PaBuf *b, const char *s, size_t n)
{
	size_t		i,
				start = 0;

	for (i = 0; i < n; i++)
	{
		if (s[i] == '~' || s[i] == '/')
		{
			pa_buf_putn(b, s + start, i - start);
			pa_buf_puts(b, s[i] == '~' ? "~0" : "~1");
			start = i + 1;
		}
	}
	pa_buf_putn(b, s + start, n - start);
}

typedef struct DumpCut
{
	char		buf[512];
	size_t		len;
	size_t		max;
	int			cut;
} DumpCut;

/* json_dump_callback sink: keep the first "max" bytes, then stop the dump */
static int
dump_cut(const char *s, size_t n, void *arg)
{
	DumpCut    *d = arg;
	size_t		room = d->max - d->len;

	if (n > room)
	{
		memcpy(d->buf + d->len, s, room);
		d->len += room;
		d->cut = 1;
		return -1;
	}
	memcpy(d->buf + d->len, s, n);
	d->len += n;
	return 0;
}

/*
 * A value as compact JSON, cut to about maxlen bytes ("..." marks the cut,
 * which never splits a UTF-8 character, so messages stay valid strings).
 * The dump goes through our callback, so this works whatever allocator
 * jansson has been given, and a huge value costs no more than the cut.
 */
void
pa_buf_put_json(PaBuf *b, json_t *v, size_t maxlen)
{
	DumpCut		d;
	size_t		n;

	d.len = 0;
	d.cut = 0;
	d.max = maxlen < sizeof(d.buf) ? maxlen : sizeof(d.buf);
	if (json_dump_callback(v, dump_cut, &d, JSON_COMPACT | JSON_ENCODE_ANY) == 0 && !d.cut)
	{
		pa_buf_putn(b, d.buf, d.len);
		return;
	}
	n = d.len > 3 ? d.len - 3 : 0;
	while (n > 0 && ((unsigned char) d.buf[n] & 0xC0) == 0x80)
		n--;
	pa_buf_putn(b, d.buf, n);
	pa_buf_puts(b, "...");
}

/* Shortest text that reads back as the same double. */
static void
format_double(double d, char *buf, size_t size)
{
	int			prec;

	for (prec = 1; prec <= 17; prec++)
	{
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

void
pa_buf_put_num(PaBuf *b, const PaNum *n)
{
	char		buf[64];

	if (n->is_int)
		snprintf(buf, sizeof(buf), "%lld", n->i);
	else
		format_double(n->d, buf, sizeof(buf));
	pa_buf_puts(b, buf);
}

char *
pa_strdup_printf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t) n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return s;
}

size_t
pa_utf8_length(const char *s, size_t len)
{
	size_t		i,
				n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* ---------- numbers ---------- */

void
pa_num_from_json(json_t *v, PaNum *n)
{
	n->is_int = json_is_integer(v);
	n->i = n->is_int ? (long long) json_integer_value(v) : 0;
	n->d = n->is_int ? (double) n->i : json_real_value(v);
}

/* exactly, even for integers beyond 2^53 */
static int
cmp_int_double(long long i, double d)
{
	double		t;
	long long	ti;

	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	t = trunc(d);
	ti = (long long) t;
	if (i != ti)
		return i < ti ? -1 : 1;
	if (d > t)
		return -1;
	if (d < t)
		return 1;
	return 0;
}

int
pa_num_cmp(const PaNum *a, const PaNum *b)
{
	if (a->is_int && b->is_int)
		return (a->i > b->i) - (a->i < b->i);
	if (a->is_int)
		return cmp_int_double(a->i, b->d);
	if (b->is_int)
		return -cmp_int_double(b->i, a->d);
	return (a->d > b->d) - (a->d < b->d);
}

int
pa_num_is_integral(const PaNum *n)
{
	return n->is_int || (isfinite(n->d) && n->d == floor(n->d));
}

/*
 * |n| as mant * 10^exp with no trailing zeros in mant.  A real is read as
 * the shortest decimal that round-trips, which is what its author wrote:
 * 0.0075 is 75e-4, not the binary fraction 0.00749999999999999972...
 */
static void
num_decimal(const PaNum *n, uint64_t *mant, int *exp)
{
	*exp = 0;
	if (n->is_int)
		*mant = n->i < 0 ? (uint64_t) (-(n->i + 1)) + 1 : (uint64_t) n->i;
	else
	{
		char		buf[64];
		double		d = fabs(n->d);
		int			prec,
					e10;
		char	   *p;

		*mant = 0;
		if (d == 0)
			return;
		for (prec = 0; prec < 17; prec++)
		{
			snprintf(buf, sizeof(buf), "%.*e", prec, d);
			if (strtod(buf, NULL) == d)
				break;
		}
		/* buf is "d.ddde[+-]xx" with prec + 1 digits */
		for (p = buf; *p && *p != 'e'; p++)
			if (*p >= '0' && *p <= '9')
				*mant = *mant * 10 + (uint64_t) (*p - '0');
		e10 = *p == 'e' ? atoi(p + 1) : 0;
		*exp = e10 - prec;
	}
	while (*mant != 0 && *mant % 10 == 0)
	{
		*mant /= 10;
		(*exp)++;
	}
}

/* (x + y) mod m for x, y < m, without overflow */
static uint64_t
addmod(uint64_t x, uint64_t y, uint64_t m)
{
	return x >= m - y ? x - (m - y) : x + y;
}

/*
 * Is x an integer multiple of m (m > 0)?  Exact in decimal, so
 * 0.0075 / 0.0001 is 75, and overflowing quotients (1e308 / 0.123456789)
 * are simply "no".
 */
int
pa_num_is_multiple(const PaNum *x, const PaNum *m)
{
	uint64_t	a,
				b,
				r;
	int			ea,
				eb,
				k,
				j;

	if (x->is_int && m->is_int)
		return m->i != 0 && x->i % m->i == 0;
	num_decimal(x, &a, &ea);
	num_decimal(m, &b, &eb);
	if (a == 0)
		return 1;
	if (b == 0)
		return 0;

	/*
	 * x/m = (a/b) * 10^(ea-eb).  With ea < eb, b*10^k would have to divide
	 * a, which has no trailing zero: no.  Otherwise b must divide
	 * a*10^(ea-eb); b < 2^64 has at most 64 factors of 2 or 5, so more than
	 * 64 factors of 10 never change the answer.
	 */
	if (ea < eb)
		return 0;
	k = ea - eb;
	if (k > 70)
		k = 70;
	r = a % b;
	for (j = 0; j < k && r != 0; j++)
	{
		uint64_t	r2 = addmod(r, r, b);
		uint64_t	r8 = addmod(addmod(r2, r2, b), addmod(r2, r2, b), b);

		r = addmod(r8, r2, b);
	}
	return r == 0;
}

/* ---------- equality and hashing (1 and 1.0 are the same value) ---------- */

/* 1 equal, 0 not, -1 nested deeper than PA_SCHEMA_MAX_DEPTH */
int
pa_json_equal(json_t *a, json_t *b, int depth)
{
	if (depth > PA_SCHEMA_MAX_DEPTH)
		return -1;
	if (json_is_number(a) && json_is_number(b))
	{
		PaNum		x,
					y;

		pa_num_from_json(a, &x);
		pa_num_from_json(b, &y);
		return pa_num_cmp(&x, &y) == 0;
	}
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a))
	{
		case JSON_STRING:
			return json_string_length(a) == json_string_length(b) &&
				memcmp(json_string_value(a), json_string_value(b),
					   json_string_length(a)) == 0;
		case JSON_ARRAY:
			{
				size_t		i;
				int			rc;

				if (json_array_size(a) != json_array_size(b))
					return 0;
				for (i = 0; i < json_array_size(a); i++)
					if ((rc = pa_json_equal(json_array_get(a, i),
											json_array_get(b, i), depth + 1)) != 1)
						return rc;
				return 1;
			}
		case JSON_OBJECT:
			{
				const char *key;
				json_t	   *va,
						   *vb;
				int			rc;

				if (json_object_size(a) != json_object_size(b))
					return 0;
				json_object_foreach(a, key, va)
				{
					if ((vb = json_object_get(b, key)) == NULL)
						return 0;
					if ((rc = pa_json_equal(va, vb, depth + 1)) != 1)
						return rc;
				}
				return 1;
			}
		default:
			return 1;			/* null, true, false */
	}
}

static uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t		i;

	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ULL;
	return h;
}

/* Consistent with pa_json_equal: equal values hash alike. */
uint64_t
pa_json_hash(json_t *v, int depth)
{
	uint64_t	h = 14695981039346656037ULL + (uint64_t) json_typeof(v);

	if (depth > PA_SCHEMA_MAX_DEPTH)
		return h;
	switch (json_typeof(v))
	{
		case JSON_INTEGER:
		case JSON_REAL:
			{
				PaNum		n;
				long long	i;

				pa_num_from_json(v, &n);
				h = 14695981039346656037ULL + JSON_INTEGER;
				if (n.is_int)
					i = n.i;
				else if (pa_num_is_integral(&n) && n.d >= -9223372036854775808.0 &&
						 n.d < 9223372036854775808.0)
					i = (long long) n.d;
				else
					return hash_bytes(h, &n.d, sizeof(n.d));
				return hash_bytes(h, &i, sizeof(i));
			}
		case JSON_STRING:
			return hash_bytes(h, json_string_value(v), json_string_length(v));
		case JSON_ARRAY:
			{
				size_t		i;

				for (i = 0; i < json_array_size(v); i++)
					h = (h ^ pa_json_hash(json_array_get(v, i), depth + 1)) * 1099511628211ULL;
				return h;
			}
		case JSON_OBJECT:
			{
				const char *key;
				json_t	   *val;
				uint64_t	sum = 0;

				/* member order must not matter: add the member hashes */
				json_object_foreach(v, key, val)
				{
					sum += hash_bytes(14695981039346656037ULL, key, strlen(key)) * 31 +
						pa_json_hash(val, depth + 1);
				}
				return h ^ sum;
			}
		default:
			return h;
	}
}

typedef struct HashIdx
{
	uint64_t	hash;
	size_t		idx;
} HashIdx;

static int
hashidx_cmp(const void *a, const void *b)
{
	const HashIdx *x = a;
	const HashIdx *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * uniqueItems in O(n log n): sort by a hash consistent with equality and
 * compare only within runs of equal hashes.  Reports the duplicate pair
 * with the smallest second index, so the message is stable.  Returns 1 and
 * the pair, 0 when all items differ, -1 when nested too deeply, -2 on out
 * of memory.
 */
int
pa_json_find_duplicate(json_t *arr, size_t *first, size_t *second)
{
	size_t		size = json_array_size(arr),
				i,
				k;
	HashIdx    *h;
	int			rc,
				found = 0;

	if (size < 2)
		return 0;
	if ((h = malloc(size * sizeof(HashIdx))) == NULL)
		return -2;
	for (i = 0; i < size; i++)
	{
		h[i].hash = pa_json_hash(json_array_get(arr, i), 0);
		h[i].idx = i;
	}
	qsort(h, size, sizeof(HashIdx), hashidx_cmp);
	for (i = 0; i < size; i++)
		for (k = i + 1; k < size && h[k].hash == h[i].hash; k++)
		{
			/* within a run indexes ascend: h[i].idx < h[k].idx */
			if (found && h[k].idx >= *second)
				continue;
			rc = pa_json_equal(json_array_get(arr, h[i].idx),
							   json_array_get(arr, h[k].idx), 0);
			if (rc < 0)
			{
				free(h);
				return -1;
			}
			if (rc == 1)
			{
				found = 1;
				*first = h[i].idx;
				*second = h[k].idx;
			}
		}
	free(h);
	return found;
}

/* ---------- freeing ---------- */

static void
free_node(PaSchema *s, PaNode *n)
{
	int			i,
				j;

	free(n->path);
	free(n->pattern);
	if (n->pattern_re && s->have_hooks)
		s->hooks.release(n->pattern_re, s->hooks.arg);
	if (n->const_value)
		json_decref(n->const_value);
	if (n->enum_values)
		json_decref(n->enum_values);
	for (i = 0; i < n->nrequired; i++)
		free(n->required[i]);
	free(n->required);
	for (i = 0; i < n->nproperties; i++)
		free(n->properties[i].name);
	free(n->properties);
	for (i = 0; i < n->npattern_props; i++)
	{
		free(n->pattern_props[i].pattern);
		if (n->pattern_props[i].re && s->have_hooks)
			s->hooks.release(n->pattern_props[i].re, s->hooks.arg);
	}
	free(n->pattern_props);
	for (i = 0; i < n->ndep_required; i++)
	{
		free(n->dep_required[i].name);
		for (j = 0; j < n->dep_required[i].nprops; j++)
			free(n->dep_required[i].props[j]);
		free(n->dep_required[i].props);
	}
	free(n->dep_required);
	for (i = 0; i < n->ndep_schemas; i++)
		free(n->dep_schemas[i].name);
	free(n->dep_schemas);
	free(n->prefix_items);
	free(n->all_of);
	free(n->any_of);
	free(n->one_of);
	free(n->ref_text);
	free(n);
}

void
pa_schema_free(PaSchema *schema)
{
	PaNode	   *n,
			   *next;

	if (schema == NULL)
		return;
	for (n = schema->nodes; n; n = next)
	{
		next = n->next_alloc;
		free_node(schema, n);
	}
	free(schema);
}
