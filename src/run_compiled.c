/*
 * run_compiled.c — the compiled schemas of an agent version's outputs and
 * tools, compiled once per definition and shared by its runs.
 *
 * An entry is keyed by the definition's json itself: the definition cache
 * (run_setup.c) hands every run of a version the same object until a
 * definition changes, and the entry holds a reference to it, so the
 * address cannot be reused while the entry exists, and the names it keeps
 * (the outputs' keys, the tools' names) point into it. The worker starts
 * runs of one version by the hundred; compiling their schemas for each was
 * a few per cent of a run.
 *
 * Runs hold a reference to the entry they use (RunContext.compiled), so an
 * entry evicted from the table lives on until its last run ends. Memory:
 * malloc'd (it outlives transactions), jansson for the parameters.
 */
#include "pg_prelude.h"

#include "run.h"
#include "schema_sql.h"
#include "worker.h"

#define COMPILED_SLOTS 16

typedef struct CompiledSchema
{
	const char *name;			/* output or tool name (in def) */
	PaSchema   *schema;
	json_t	   *parameters;		/* what the model is offered (outputs: with evidence, the wrapper) */
} CompiledSchema;

struct PaCompiledDef
{
	json_t	   *def;			/* the key, held */
	int			users;			/* runs holding it, plus one while in the table */
	int			n_outputs;
	int			n_tools;
	CompiledSchema *items;		/* outputs first, then tools */
};

static PaCompiledDef *slots[COMPILED_SLOTS];
static int	next_victim = 0;

static void
compiled_free(PaCompiledDef *cd)
{
	int			i;

	for (i = 0; i < cd->n_outputs + cd->n_tools; i++)
	{
		pa_schema_free(cd->items[i].schema);
		json_decref(cd->items[i].parameters);
	}
	json_decref(cd->def);
	free(cd->items);
	free(cd);
}

void
pa_compiled_def_release(PaCompiledDef *cd)
{
	if (cd != NULL && --cd->users == 0)
		compiled_free(cd);
}

/* Compile one schema into the next item (the item owns parameters). */
static void
add_item(PaCompiledDef *cd, const char *name, json_t *parameters, const char *what)
{
	CompiledSchema *item = &cd->items[cd->n_outputs + cd->n_tools];

	item->parameters = parameters;
	item->name = name;
	item->schema = pa_schema_compile_owned(parameters, what);
}

/* Everything compiled for rc's definition; an error frees what was done. */
static PaCompiledDef *
compile_def(RunContext *rc)
{
	json_t	   *outputs = json_object_get(rc->def, "outputs");
	json_t	   *tools = json_object_get(rc->def, "tools");
	PaCompiledDef *cd = calloc(1, sizeof(PaCompiledDef));
	size_t		n = json_object_size(outputs) + json_array_size(tools);

	if (cd == NULL || (cd->items = calloc(n + 1, sizeof(CompiledSchema))) == NULL)
	{
		free(cd);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory for the compiled schemas of agent \"%s\"", rc->agent_name)));
	}
	cd->def = json_incref(rc->def);
	cd->users = 1;
	PG_TRY();
	{
		const char *name;
		json_t	   *o;
		size_t		i;

		json_object_foreach(outputs, name, o)
		{
			/* With evidence, the object travels beside the ids it rests on. */
			json_t	   *parameters = json_is_true(json_object_get(o, "evidence")) ?
				pa_evidence_parameters(json_object_get(o, "schema")) :
				json_incref(json_object_get(o, "schema"));

			add_item(cd, name, parameters, psprintf("output \"%s\"", name));
			cd->n_outputs++;
		}
		json_array_foreach(tools, i, o)
		{
			const char *tname = json_string_value(json_object_get(o, "name"));

			add_item(cd, tname, json_incref(json_object_get(o, "parameters")),
					 psprintf("parameters of tool \"%s\"", tname));
			cd->n_tools++;
		}
	}
	PG_CATCH();
	{
		/* the item being added may hold parameters, no schema */
		json_decref(cd->items[cd->n_outputs + cd->n_tools].parameters);
		compiled_free(cd);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return cd;
}

/*
 * The compiled schemas of rc's definition: from the table, or compiled and
 * put there (a free slot, else the next in turn). The caller holds a
 * reference (pa_compiled_def_release).
 */
PaCompiledDef *
pa_compiled_def_get(RunContext *rc)
{
	PaCompiledDef *cd;
	int			i;

	for (i = 0; i < COMPILED_SLOTS; i++)
		if (slots[i] && slots[i]->def == rc->def)
		{
			slots[i]->users++;
			return slots[i];
		}
	cd = compile_def(rc);
	for (i = 0; i < COMPILED_SLOTS && slots[i]; i++)
		;
	if (i == COMPILED_SLOTS)
	{
		i = next_victim;
		next_victim = (next_victim + 1) % COMPILED_SLOTS;
	}
	pa_compiled_def_release(slots[i]);
	slots[i] = cd;
	cd->users++;
	return cd;
}

static CompiledSchema *
find(PaCompiledDef *cd, int from, int to, const char *name)
{
	int			i;

	for (i = from; i < to; i++)
		if (strcmp(cd->items[i].name, name) == 0)
			return &cd->items[i];
	elog(ERROR, "no compiled schema for \"%s\"", name);
	return NULL;				/* keep the compiler quiet */
}

const PaSchema *
pa_compiled_output(PaCompiledDef *cd, const char *name, json_t **parameters)
{
	CompiledSchema *item = find(cd, 0, cd->n_outputs, name);

	*parameters = item->parameters;
	return item->schema;
}

const PaSchema *
pa_compiled_tool(PaCompiledDef *cd, const char *name)
{
	return find(cd, cd->n_outputs, cd->n_outputs + cd->n_tools, name)->schema;
}
