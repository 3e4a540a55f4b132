/*
 * run.h — what the files that run an agent share: the run's context and
 * the steps of a run (setup, model calls, the loop). Server side.
 */
#ifndef PA_RUN_H
#define PA_RUN_H

#include "utils/timestamp.h"

#include "agent.h"
#include "http.h"
#include "transcript.h"

/* Everything one run needs, loaded once. */
typedef struct RunContext
{
	int64		agent_id;
	int32		version;
	Oid			owner;
	json_t	   *def;			/* version, provider, model, outputs, tools */
	char	   *api_key;		/* never logged, never stored */
	const char *kind;			/* openai | anthropic */
	PaAgentSpec spec;
	PaOutputType *outputs;
	PaUserTool *user_tools;
	json_t	   *tool_defs;		/* name -> tool definition */
	struct PaCompiledDef *compiled; /* its outputs' and tools' schemas (run_compiled.c) */
	TimestampTz deadline;
	PaUsage		usage;
	double		cost;
	int64		run_id;
	int			ledger_steps;	/* rows written to pa.run_steps */
	int64		conversation_id;	/* -1 = none */
	int			depth;			/* nesting of agent tools; 0 at the top */
	int64		customer_id;	/* -1 = none */
	long long  *event_ids;		/* the conversation's event ids, ascending */
	const char *agent_name;
	int			lease_owner;	/* the worker's pid; 0 in pa_invoke */
	/* pa_invoke's runs: the request whose row is not written yet (ledger.h) */
	const struct PaRunRequest *unwritten;
	TimestampTz started_at;
	Oid			requested_by;
} RunContext;

/*
 * context.c: the conversation, customer, memory and events as a reader may
 * see them. The events are palloc'd in the memory context of the call;
 * head is jansson's (pa_loaded_contexts_free).
 */
typedef struct PaLoadedContext
{
	int64		id;				/* the conversation */
	json_t	   *head;			/* {"conversation", "customer", "memory"} */
	PaEvent    *events;			/* in conversation order */
	int			n_events;
	int			cap;
} PaLoadedContext;

/* What to run, from pa_invoke or from an agent tool (nested run). */
typedef struct PaRunRequest
{
	const char *agent;			/* by name (pa_invoke) ... */
	int64		agent_id;		/* ... or by id (agent tools); 0 = by name */
	int32		version;		/* 0 = the released version */
	int64		conversation_id;	/* -1 = none */
	Jsonb	   *input;
	const char *origin;			/* invoke | agent_tool | ... */
	int64		parent_run_id;	/* 0 = none */
	int			depth;			/* 0 for a top-level run */
	long		timeout_ms;		/* 0 = the agent's own timeout */
} PaRunRequest;

/* run_compiled.c: schemas compiled once per definition, shared by its runs */
typedef struct PaCompiledDef PaCompiledDef;
extern PaCompiledDef *pa_compiled_def_get(RunContext *rc);
extern void pa_compiled_def_release(PaCompiledDef *cd);
extern const PaSchema *pa_compiled_output(PaCompiledDef *cd, const char *name, json_t **parameters);
extern const PaSchema *pa_compiled_tool(PaCompiledDef *cd, const char *name);

/* run.c */
extern json_t *pa_run_agent(const PaRunRequest *req);
/* the spec, built-in tools and transcript of a loaded context and its events */
extern char *pa_run_prepare(RunContext *rc, json_t *context, const PaLoadedContext *events);
extern json_t *pa_run_finish(RunContext *rc, json_t *state);
/* run_setup.c: an invocation's input (a JSON object valid against input_schema), or ERROR */
extern void pa_run_check_input(RunContext *rc, Jsonb *input);
/* A worker's run ending with others: its finish row (and *outputs), or NULL */
extern json_t *pa_run_finish_deferred(RunContext *rc, json_t *state, json_t **outputs);
extern void pa_run_record_tool(RunContext *rc, json_t *state, json_t *call, const char *text,
							   bool is_error, double elapsed_ms);
/* fn(arg) in a subtransaction: NULL, or its error (cancels propagate) */
extern ErrorData *pa_try_subtransaction(void (*fn) (void *), void *arg);
/* the same, the error as text */
extern char *pa_in_subtransaction(void (*fn) (void *), void *arg);

/* run_setup.c */
extern void pa_run_load_definition(RunContext *rc, const PaRunRequest *req);

/* context.c: one: the context with the run's input, its events in *loaded (head unset) */
extern json_t *pa_run_load_context(Oid reader, int64 conversation_id, Jsonb *input,
								   PaLoadedContext *loaded);
/* several: one entry per conversation the reader sees (in no order) */
extern PaLoadedContext *pa_run_load_contexts(Oid reader, const int64 *ids, int n, int *n_loaded);
extern void pa_loaded_contexts_free(PaLoadedContext *v, int n);
/* run_setup.c */
extern void pa_run_build_spec(RunContext *rc, json_t *context, const PaLoadedContext *events);

/* builtin_tools.c: remember, recall, read_events, search_events */
#define PA_MAX_BUILTIN_TOOLS 4
extern void pa_builtin_offer(RunContext *rc, json_t *context, size_t events_omitted);
extern char *pa_builtin_run(RunContext *rc, json_t *state, const char *name, json_t *args,
							bool *is_error);
extern void pa_builtin_commit(RunContext *rc, json_t *state);

/* model_call.c */
typedef enum PaCallOutcome
{
	PA_CALL_DONE,
	PA_CALL_RETRY,
	PA_CALL_FAILED
} PaCallOutcome;

/* One model call across its attempts (see model_call.c). */
typedef struct PaModelCall
{
	RunContext *rc;
	PaHttpRequest hr;
	PaHttpResponse resp;
	char	   *body;
	json_t	   *summary;		/* what the ledger shows of the request */
	const char *model;
	bool		stream;
	bool		plan;			/* the planning call: no tools */
	struct PaStream *ps;
	int			attempt;
	int			max_retries;
	long		provider_timeout;
	char	   *failure;		/* of the last attempt */
	json_t	   *canned;			/* provider kind test: the answer, no HTTP */
} PaModelCall;

extern PaModelCall *pa_model_call_prepare(RunContext *rc, json_t *state, PaModelRequest *req);
extern bool pa_model_call_arm(PaModelCall *c, json_t *state);
extern PaCallOutcome pa_model_call_complete(PaModelCall *c, json_t *state, long *wait_ms);
extern void pa_model_call_free(PaModelCall *c);
extern bool pa_run_call_model(RunContext *rc, json_t *state, PaModelRequest *req);
extern long pa_run_remaining_ms(RunContext *rc);

#endif							/* PA_RUN_H */
