/*
 * jsonschema_int.h — the compiled form of a schema and helpers shared by
 * jsonschema.c (utilities, free), jsonschema_compile.c and
 * jsonschema_validate.c.  Not for use outside the validator.
 */
#ifndef PA_JSONSCHEMA_INT_H
#define PA_JSONSCHEMA_INT_H

#include <stdarg.h>
#include <stdint.h>

#include "jsonschema.h"
#include "pa_buf.h"

#define PA_STR2(x) #x
#define PA_STR(x) PA_STR2(x)

/* "type" names as bits */
#define PA_T_NULL		0x01
#define PA_T_BOOLEAN	0x02
#define PA_T_OBJECT		0x04
#define PA_T_ARRAY		0x08
#define PA_T_NUMBER		0x10
#define PA_T_STRING		0x20
#define PA_T_INTEGER	0x40

/* which optional keywords a node has */
#define PA_K_MINIMUM		0x0001
#define PA_K_MAXIMUM		0x0002
#define PA_K_EXCL_MINIMUM	0x0004
#define PA_K_EXCL_MAXIMUM	0x0008
#define PA_K_MULTIPLE_OF	0x0010
#define PA_K_UNIQUE_ITEMS	0x0020

/* A JSON number as written: jansson keeps integers and reals apart. */
typedef struct PaNum
{
	int			is_int;
	long long	i;
	double		d;
} PaNum;

typedef struct PaNode PaNode;

typedef struct PaNamedNode
{
	char	   *name;
	PaNode	   *node;
} PaNamedNode;

typedef struct PaPatternNode
{
	char	   *pattern;		/* ECMA source, for messages */
	void	   *re;				/* handle from the compile hook */
	PaNode	   *node;
} PaPatternNode;

typedef struct PaDepRequired
{
	char	   *name;
	char	  **props;
	int			nprops;
} PaDepRequired;

/*
 * One compiled (sub)schema.  Absent count limits are -1; absent subschemas
 * NULL.  Nodes reached by several $refs are shared, and $ref cycles make
 * the node graph cyclic.
 */
struct PaNode
{
	char	   *path;			/* JSON pointer into the schema document */
	int			boolean;		/* -1 object schema, else the boolean schema */
	unsigned	types;			/* PA_T_* bits; 0 when there is no "type" */
	unsigned	keys;			/* PA_K_* bits */

	PaNum		minimum,
				maximum,
				excl_minimum,
				excl_maximum,
				multiple_of;
	long long	min_length,
				max_length,
				min_items,
				max_items,
				min_properties,
				max_properties,
				min_contains,
				max_contains;

	char	   *pattern;		/* ECMA source */
	void	   *pattern_re;
	json_t	   *const_value;	/* referenced; NULL when absent */
	json_t	   *enum_values;	/* referenced array; NULL when absent */

	char	  **required;
	int			nrequired;
	PaNamedNode *properties;	/* sorted by name for bsearch */
	int			nproperties;
	PaPatternNode *pattern_props;
	int			npattern_props;
	PaNode	   *additional_properties;
	PaNode	   *property_names;
	PaDepRequired *dep_required;
	int			ndep_required;
	PaNamedNode *dep_schemas;
	int			ndep_schemas;

	PaNode	  **prefix_items;
	int			nprefix_items;
	PaNode	   *items;
	PaNode	   *contains;

	PaNode	  **all_of;
	int			nall_of;
	PaNode	  **any_of;
	int			nany_of;
	PaNode	  **one_of;
	int			none_of;
	PaNode	   *not_schema;
	PaNode	   *if_schema;
	PaNode	   *then_schema;
	PaNode	   *else_schema;

	PaNode	   *ref;
	char	   *ref_text;		/* as written, for messages */

	int			visit;			/* cycle check scratch (compile time only) */
	PaNode	   *next_alloc;		/* every node of the schema, for freeing */
};

struct PaSchema
{
	PaNode	   *root;
	PaNode	   *nodes;			/* list through next_alloc */
	PaRegexHooks hooks;
	int			have_hooks;
};


/* jsonschema.c */
extern void pa_buf_put_pointer_token(PaBuf *b, const char *s, size_t n);
extern void pa_buf_put_json(PaBuf *b, json_t *v, size_t maxlen);
extern void pa_buf_put_num(PaBuf *b, const PaNum *n);
extern char *pa_strdup_printf(const char *fmt,...) __attribute__((format(printf, 1, 2)));

extern void pa_num_from_json(json_t *v, PaNum *n);
extern int	pa_num_cmp(const PaNum *a, const PaNum *b);
extern int	pa_num_is_integral(const PaNum *n);
extern int	pa_num_is_multiple(const PaNum *x, const PaNum *m);
extern size_t pa_utf8_length(const char *s, size_t len);
extern int	pa_json_equal(json_t *a, json_t *b, int depth);
extern uint64_t pa_json_hash(json_t *v, int depth);
extern int	pa_json_find_duplicate(json_t *arr, size_t *first, size_t *second);

/* jsonschema_uri.c */
extern char *pa_uri_resolve(const char *base, const char *ref);

/* ---------- compile time only ---------- */

/* Where the scan found a schema object: its own base URI and location. */
typedef struct PaSeenSchema
{
	json_t	   *json;
	char	   *base;
	char	   *path;
	PaNode	   *node;			/* once compiled */
} PaSeenSchema;

/* A resource ($id; key: absolute URI) or an anchor (key: URI#name). */
typedef struct PaIdent
{
	char	   *key;
	json_t	   *json;
} PaIdent;

typedef struct PaCompileCtx
{
	PaSchema   *schema;
	char	   *err;			/* first error, malloc'd */
	PaSeenSchema *seen;			/* open addressing on the json_t pointer */
	size_t		seen_cap;
	size_t		seen_n;
	PaIdent    *idents;
	int			nidents;
	int			idents_cap;
} PaCompileCtx;

/* jsonschema_resolve.c */
extern void pa_compile_error(PaCompileCtx *c, const char *path, const char *kw,
							 const char *fmt,...) __attribute__((format(printf, 4, 5)));
extern void pa_compile_oom(PaCompileCtx *c);
extern char *pa_child_path(PaCompileCtx *c, const char *path, const char *kw,
						   const char *key, int idx);
extern int	pa_valid_anchor(const char *s);
extern PaSeenSchema *pa_seen_get(PaCompileCtx *c, json_t *j);
extern int	pa_ident_add(PaCompileCtx *c, char *key, json_t *j, const char *path,
						 const char *kw);
extern int	pa_scan_schema(PaCompileCtx *c, json_t *j, const char *base,
						   char *path, int depth);
extern PaNode *pa_resolve_ref(PaCompileCtx *c, const char *ref, const char *base,
							  const char *path, int depth);
extern void pa_compile_ctx_cleanup(PaCompileCtx *c);

/* jsonschema_compile.c */
extern PaNode *pa_compile_schema(PaCompileCtx *c, json_t *j, const char *base,
								 const char *path, int depth);

#endif							/* PA_JSONSCHEMA_INT_H */
