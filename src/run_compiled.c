/*
 * run_compiled.c — the compiled schemas of an agent version's outputs and
 * tools, compiled once per definition and shared by its runs.
 *
 * A definition is identified by (agent, version, definitions generation):
 * every committed change to a definition table bumps the generation
 * (launcher.c), so while it reads the same, the outputs' and tools'
 * schemas are the same. The worker starts runs of one version by the
 * hundred; compiling their schemas for each was a few per cent of a run.
 *
 * Runs hold a reference to the entry they use (RunContext.compiled), so an
 * entry evicted from the table lives on until its last run ends. Without
 * shared memory (library not preloaded) the generation is 0 and nothing is
 * kept: each run compiles its own. Memory: malloc'd (it outlives
 * transactions), jansson for the parameters.
 */
#include "pg_prelude.h"

#include "run.h"
#include "schema_sql.h"
#include "worker.h"

#define COMPILED_SLOTS 16

typedef struct CompiledSchema
{
	char	   *name;			/* output or tool name */
	PaSchema   *schema;
	json_t	   *parameters;		/* what the model is offered (outputs: with evidence, the wrapper) */
} CompiledSchema;

struct PaCompiledDef
{
	int64		agent_id;
	int32		version;
	uint64		generation;
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
		free(cd->items[i].name);
		pa_schema_free(cd->items[i].schema);
		json_decref(cd->items[i].parameters);
	}
	free(cd->items);
	free(cd);
}

void
pa_compiled_def_release(PaCompiledDef *cd)
{
	if (cd != NULL && --cd->users == 0)
		compiled_free(cd);
}

static char *
strdup_or_fail(const char *s)
{
	char	   *copy = strdup(s);

	if (copy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	return copy;
}

/* Compile one schema into the next item (the item owns parameters). */
static void
add_item(PaCompiledDef *cd, const char *name, json_t *parameters, const char *what)
{
	CompiledSchema *item = &cd->items[cd->n_outputs + cd->n_tools];

	item->parameters = parameters;
	item->name = strdup_or_fail(name);
	item->schema = pa_schema_compile_owned(parameters, what);
}

/* Everything compiled for rc's definition; an error frees what was done. */
static PaCompiledDef *
compile_def(RunContext *rc, uint64 generation)
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
	cd->agent_id = rc->agent_id;
	cd->version = rc->version;
	cd->generation = generation;
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
		/* the item being added may hold parameters and a name, no schema */
		CompiledSchema *item = &cd->items[cd->n_outputs + cd->n_tools];

		free(item->name);
		json_decref(item->parameters);
		compiled_free(cd);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return cd;
}

/*
 * The compiled schemas of rc's definition, loaded under generation: from
 * the table, or compiled and put there. The caller holds a reference
 * (pa_compiled_def_release).
 */
PaCompiledDef *
pa_compiled_def_get(RunContext *rc, uint64 generation)
{
	PaCompiledDef *cd;
	int			i;

	if (generation != 0)
		for (i = 0; i < COMPILED_SLOTS; i++)
		{
			cd = slots[i];
			if (cd && cd->agent_id == rc->agent_id && cd->version == rc->version &&
				cd->generation == generation)
			{
				cd->users++;
				return cd;
			}
		}
	cd = compile_def(rc, generation);
	if (generation == 0)
		return cd;				/* nothing says when it would be stale: this run's only */
	/* a free slot, else the next in turn (a stale generation goes first) */
	for (i = 0; i < COMPILED_SLOTS; i++)
		if (slots[i] == NULL || slots[i]->generation != generation)
			break;
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
